"""Catalog pages: everyone reads them; only pharmacists edit the site settings and the stock."""

import html
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.roles import ROLES
from dosing.models import Indication, Product, ProductPresentation, SiteSettings

D = Decimal
pytestmark = pytest.mark.django_db
NOT_PHARMACISTS = [role for role in ROLES if role != "pharmacist"]
CATALOG = reverse("dosing:catalog")
SETTINGS = reverse("dosing:site_settings")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def catalog_at_revision_one(db):
    """Revisions counted from 1, whatever revision the catalog's data migrations reached."""
    SiteSettings.objects.filter(pk=SiteSettings.load().pk).update(catalog_revision=1)


def _product_url(slug="octagam-10") -> str:
    return reverse("dosing:product", kwargs={"slug": slug})


def _stock_url(slug="octagam-10") -> str:
    return reverse("dosing:product_stock", kwargs={"slug": slug})


def _text(response) -> str:
    """The page's visible text with tags dropped and spaces collapsed, for reading figures with their units."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))).strip()


def _stored() -> dict:
    return {
        "site": model_to_dict(SiteSettings.objects.get(pk=1)),
        "products": [model_to_dict(p) for p in Product.objects.order_by("pk")],
        "history": (SiteSettings.history.count(), Product.history.count()),
    }


# ------------------------------------------------------------------ reading


def test_every_role_reads_the_catalog(role_client, any_role):
    response = role_client(any_role).get(CATALOG)
    assert response.status_code == 200
    assert [product.slug for product in response.context["products"]] == list(
        Product.objects.values_list("slug", flat=True)
    )


def test_catalog_shows_each_figure_with_its_unit(role_client):
    text = _text(role_client("nurse").get(CATALOG))
    # Octagam 10%: concentration, vials, the label's at-risk cap in both units, and its note.
    assert "Octagam 10% Octapharma" in text
    assert "100 mg/mL" in text
    assert "2, 5, 10, 20, 30 g" in text
    assert "3.3 mg/kg/min = 0.033 mL/kg/min label" in text
    assert "0.03 mL/kg/min; maker's US pages for both indications." in text
    # Octagam 5%: the same 3.3 mg/kg/min is twice the volume at 50 mg/mL.
    assert "3.3 mg/kg/min = 0.066 mL/kg/min" in text
    assert "3.33 mg/kg/min = 0.0666 mL/kg/min" in text
    # Dermatomyositis: label status in words, adults, dose, days, interval, ladder and maximum.
    assert "Dermatomyositis US prescribing information" in text
    assert "Adults only" in text
    assert "2 g/kg" in text and "2–5 days" in text and "every 4 weeks" in text
    assert "1 1 mg/kg/min 0.01 mL/kg/min 30 min" in text
    assert "3 4 mg/kg/min 0.04 mL/kg/min until done" in text
    assert "4 mg/kg/min = 0.04 mL/kg/min" in text
    assert "ProDERM open-label extension" in text
    assert "DailyMed set id eb4c342b-122c-0072-1428-1747882e6c00" in text
    # Ranges and the maker's page.
    assert "0.3–0.6 g/kg" in text and "every 3–4 weeks" in text
    assert "Maker's US professional page (restates the label)" in text


def test_site_protocol_ladders_are_marked_with_the_labels_own_words(role_client):
    response = role_client("viewer").get(CATALOG)
    text = _text(response)
    assert text.count("site protocol — not label text") == Indication.objects.filter(site_protocol=True).count()
    assert "“increase gradually”" in text
    # Gammagard PID: 0.8 doubling to 8 mg/kg/min; at 100 mg/mL that is 0.008 ... 0.08 mL/kg/min.
    assert "0.8 mg/kg/min 0.008 mL/kg/min 30 min" in text
    assert "5 8 mg/kg/min 0.08 mL/kg/min until done" in text


def test_without_a_label_cap_the_site_cap_is_shown_as_site_policy(role_client):
    text = _text(role_client("physician").get(_product_url("gamunex-c")))
    assert "3.3 mg/kg/min = 0.033 mL/kg/min site policy: the label gives no number" in text
    SiteSettings.objects.filter(pk=1).update(site_at_risk_cap_mg_per_kg_min=D("2.5"))
    text = _text(role_client("physician").get(_product_url("gamunex-c")))
    assert "2.5 mg/kg/min = 0.025 mL/kg/min site policy: the label gives no number" in text


def test_site_settings_are_shown_as_site_policy_with_the_revision(role_client):
    SiteSettings.objects.filter(pk=1).update(catalog_revision=7)
    text = _text(role_client("nurse").get(CATALOG))
    assert "Site dosing settings site policy" in text
    assert "± 10 %" in text
    assert "3.3 mg/kg/min for patients at risk" in text
    assert "0.4 × weight above ideal" in text
    assert "30 kg/m²" in text
    assert "Catalog revision 7" in text


def test_an_indication_not_from_the_us_label_is_marked(role_client):
    Indication.objects.filter(product__slug="privigen", slug="cidp").update(label_status="eu")
    text = _text(role_client("nurse").get(_product_url("privigen")))
    assert "Not the US label: EU product information (not the US label)" in text


def test_edit_links_only_for_pharmacists(role_client):
    pharmacist_page = role_client("pharmacist").get(CATALOG).content.decode()
    assert SETTINGS in pharmacist_page and _stock_url() in pharmacist_page
    nurse_page = role_client("nurse").get(CATALOG).content.decode()
    assert SETTINGS not in nurse_page and _stock_url() not in nurse_page


def test_catalog_queries_do_not_grow_with_the_catalog(role_client):
    client = role_client("viewer")
    client.get(CATALOG)  # session and permission caches warm up alike for both counts
    with CaptureQueriesContext(connection) as before:
        client.get(CATALOG)
    product = Product.objects.create(slug="extra", name="Extra 10%", concentration_mg_per_ml=D("100"))
    template = Indication.objects.get(product__slug="octagam-10", slug="dermatomyositis")
    for slug in ("one", "two", "three"):
        Indication.objects.create(
            **{**model_to_dict(template, exclude=["id", "product"]), "slug": slug}, product=product
        )
    with CaptureQueriesContext(connection) as after:
        client.get(CATALOG)
    assert len(after) == len(before)


def test_product_page_shows_safety_notes_and_history(role_client, make_user):
    from dosing.services.catalog import product_stock_update

    pharmacist = make_user("pharmacist", username="rx-anna", first_name="Anna", last_name="Berg")
    product_stock_update(by=pharmacist, product=Product.objects.get(slug="octagam-10"), vial_sizes_in_stock_g=["10"])
    response = role_client("nurse").get(_product_url())
    assert response.status_code == 200
    text = _text(response)
    assert "IgA deficiency with anti-IgA antibodies" in text
    assert "contains maltose" in text
    assert "Anna Berg (pharmacist) vial sizes in stock (g): 2, 5, 10, 20, 30 → 10" in text
    assert [p.slug for p in response.context["products"]] == ["octagam-10"]


def test_unknown_product_is_404(role_client):
    assert role_client("nurse").get(_product_url("no-such-product")).status_code == 404
    assert role_client("pharmacist").get(_stock_url("no-such-product")).status_code == 404
    assert (
        role_client("pharmacist").post(_stock_url("no-such-product"), {"vial_sizes_in_stock_g": ["10"]}).status_code
        == 404
    )


@pytest.mark.parametrize("url", [CATALOG, _product_url()])
def test_read_pages_refuse_other_methods(role_client, url):
    assert role_client("pharmacist").post(url).status_code == 405


def test_anonymous_is_sent_to_login(client):
    response = client.get(CATALOG)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_no_role_gets_403(role_client):
    assert role_client(None).get(CATALOG).status_code == 403


# ------------------------------------------------------------------ site settings form

GOOD_SETTINGS = {
    "rounding_tolerance_percent": "5",
    "site_at_risk_cap_mg_per_kg_min": "3.3",
    "adjusted_weight_factor": "0.4",
    "adjusted_weight_bmi_threshold": "30",
    "hyperviscosity_triglycerides_mg_dl": "1000",
    "daily_dose_ceiling_g": "140",
    "pump_rate_ceiling_ml_per_h": "999",
    "pump_rate_minimum_ml_per_h": "1",
    "vial_proposal": "nearest",
    "first_infusion_first_step_factor": "2",
    "first_infusion_gap_weeks": "8",
    "review_first_months": "6",
    "review_every_months": "12",
    "review_reminder_days": "28",
    "tis_every_weeks_early": "4",
    "tis_early_until_week": "16",
    "tis_every_weeks_after": "12",
}


def test_pharmacist_edits_the_site_settings(role_client):
    client = role_client("pharmacist")
    revision = SiteSettings.load().catalog_revision  # the migrated catalog's; a change raises it by one
    assert client.get(SETTINGS).status_code == 200
    response = client.post(SETTINGS, GOOD_SETTINGS, follow=True)
    assert response.redirect_chain == [(CATALOG, 302)]
    site = SiteSettings.objects.get(pk=1)
    assert (site.rounding_tolerance_percent, site.catalog_revision) == (D("5"), revision + 1)
    entry = site.history.latest("history_id")
    assert entry.history_user == response.context["user"]
    assert "revision 2" in _text(response)


def test_saving_unchanged_settings_bumps_nothing(role_client):
    before = _stored()
    response = role_client("pharmacist").post(
        SETTINGS, {**GOOD_SETTINGS, "rounding_tolerance_percent": "10.0"}, follow=True
    )
    assert response.status_code == 200
    assert "nothing changed" in _text(response)
    assert _stored() == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rounding_tolerance_percent", "25", "less than or equal to 20"),
        ("site_at_risk_cap_mg_per_kg_min", "0", "greater than or equal to 0.5"),
        ("adjusted_weight_factor", "", "This field is required"),
        ("adjusted_weight_bmi_threshold", "abc", "Enter a number"),
    ],
)
def test_bad_settings_show_at_the_field_and_write_nothing(role_client, field, value, message):
    before = _stored()
    response = role_client("pharmacist").post(SETTINGS, {**GOOD_SETTINGS, field: value})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert any(message in error for error in errors.get(field, [])), errors
    assert _stored() == before


@pytest.mark.parametrize("role", NOT_PHARMACISTS)
def test_only_pharmacists_edit_site_settings(role_client, role):
    before = _stored()
    client = role_client(role)
    assert client.get(SETTINGS).status_code == 403
    assert client.post(SETTINGS, GOOD_SETTINGS).status_code == 403
    assert _stored() == before


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_site_settings_refuses_other_methods(role_client, method):
    assert getattr(role_client("pharmacist"), method)(SETTINGS).status_code == 405


# ------------------------------------------------------------------ stock form


def test_stock_form_offers_the_label_sizes_with_the_stock_ticked(role_client):
    Product.objects.filter(slug="octagam-5").update(vial_sizes_in_stock_g=["2.5", "10"])
    response = role_client("pharmacist").get(_stock_url("octagam-5"))
    assert response.status_code == 200
    form = response.context["form"]
    assert [value for value, _ in form.fields["vial_sizes_in_stock_g"].choices] == ["1", "2.5", "5", "10", "25"]
    page = response.content.decode()
    assert re.search(r'value="2\.5"[^>]*checked', page) and not re.search(r'value="25"[^>]*checked', page)


def test_pharmacist_changes_the_stock(role_client):
    revision = SiteSettings.load().catalog_revision
    response = role_client("pharmacist").post(_stock_url(), {"vial_sizes_in_stock_g": ["10", "20", "30"]}, follow=True)
    assert response.redirect_chain == [(_product_url(), 302)]
    assert Product.objects.get(slug="octagam-10").vial_sizes_in_stock_g == ["10", "20", "30"]
    assert SiteSettings.objects.get(pk=1).catalog_revision == revision + 1
    assert f"revision {revision + 1}" in _text(response)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Choose at least one vial size"),
        ({"vial_sizes_in_stock_g": ["40"]}, "not one of the available choices"),
    ],
)
def test_bad_stock_shows_at_the_field_and_writes_nothing(role_client, data, message):
    before = _stored()
    response = role_client("pharmacist").post(_stock_url(), data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert any(message in error for error in errors.get("vial_sizes_in_stock_g", [])), errors
    assert _stored() == before


@pytest.mark.parametrize("role", NOT_PHARMACISTS)
def test_only_pharmacists_edit_the_stock(role_client, role):
    before = _stored()
    client = role_client(role)
    assert client.get(_stock_url()).status_code == 403
    assert client.post(_stock_url(), {"vial_sizes_in_stock_g": ["10"]}).status_code == 403
    assert _stored() == before


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_stock_form_refuses_other_methods(role_client, method):
    assert getattr(role_client("pharmacist"), method)(_stock_url()).status_code == 405


# ------------------------------------------------------------------ packages: NDC and GTIN

DEMO_10G = "09520000000103"  # GS1 prefix 952: for demonstrations and examples, never a real product
GOOD_GTIN = {"vial_size_g": "10", "gtin": DEMO_10G, "ndc": "", "package": "carton of 1 vial", "source": "carton"}


def _gtin_url(slug="octagam-10") -> str:
    return reverse("dosing:presentation_add", kwargs={"slug": slug})


def _presentations() -> list:
    return list(ProductPresentation.objects.order_by("pk").values()) + [ProductPresentation.history.count()]


def test_product_page_lists_each_package_with_its_codes_and_source(role_client):
    response = role_client("nurse").get(_product_url("privigen"))
    text = _text(response)
    assert "40 g carton of 1 vial, 400 mL 44206-439-40 00344206439401 NDC: openFDA NDC directory" in text
    assert "GTIN from the NDC by the GS1 US rule" in text and "catalog load" in text
    assert "5 g — — No GTIN on file — a pharmacist can add the site's." in text
    assert "Add a GTIN for the site's stock" not in text


def test_only_pharmacists_see_the_add_a_gtin_button(role_client):
    assert _gtin_url() in role_client("pharmacist").get(_product_url()).content.decode()
    assert _gtin_url() not in role_client("physician").get(_product_url()).content.decode()


def test_pharmacist_adds_a_gtin_for_the_sites_stock(role_client):
    client = role_client("pharmacist")
    form = client.get(_gtin_url())
    assert form.status_code == 200
    assert [value for value, _ in form.context["form"].fields["vial_size_g"].choices] == [
        "",
        "2",
        "5",
        "10",
        "20",
        "30",
    ]
    response = client.post(_gtin_url(), GOOD_GTIN, follow=True)
    assert response.redirect_chain == [(f"{_product_url()}#presentations", 302)]
    assert f"GTIN {DEMO_10G} is on file for Octagam 10%, 10 g." in _text(response)
    saved = ProductPresentation.objects.get(gtin=DEMO_10G)
    assert (saved.vial_size_g, saved.added_by, saved.source) == (D("10"), response.context["user"], "carton")
    assert f"10 g carton of 1 vial — {DEMO_10G} carton" in _text(response)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"gtin": "09520000000104"}, "gtin", "wrong check digit (the last digit should be 3, not 4)"),
        ({"gtin": "00300696550026"}, "gtin", "GTIN 00300696550026 is already on file for Octagam 10%, 5 g"),
        ({"vial_size_g": "40"}, "vial_size_g", "Octagam 10% is marketed in 2, 5, 10, 20, 30 g: choose one of them."),
        ({"vial_size_g": ""}, "vial_size_g", "This field is required."),
        ({"source": ""}, "source", "Say where the GTIN was read"),
        ({"gtin": "00344206439401", "vial_size_g": "10"}, "gtin", "already on file for Privigen 10%, 40 g"),
        ({"ndc": "0069655002"}, "ndc", "Write the NDC as printed, with its hyphens"),
    ],
)
def test_a_bad_gtin_shows_at_its_field_and_writes_nothing(role_client, data, field, message):
    before = _presentations()
    response = role_client("pharmacist").post(_gtin_url(), GOOD_GTIN | data)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert _presentations() == before


@pytest.mark.parametrize("role", NOT_PHARMACISTS)
def test_only_pharmacists_add_a_gtin(role_client, role):
    before = _presentations()
    client = role_client(role)
    assert client.get(_gtin_url()).status_code == 403
    assert client.post(_gtin_url(), GOOD_GTIN).status_code == 403
    assert _presentations() == before


def test_a_gtin_for_an_unknown_product_is_404(role_client):
    assert role_client("pharmacist").post(_gtin_url("no-such-product"), GOOD_GTIN).status_code == 404


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_the_gtin_form_refuses_other_methods(role_client, method):
    assert getattr(role_client("pharmacist"), method)(_gtin_url()).status_code == 405


def _withdraw_url(presentation) -> str:
    return reverse(
        "dosing:presentation_withdraw", kwargs={"slug": presentation.product.slug, "presentation_id": presentation.pk}
    )


def test_pharmacist_withdraws_a_gtin_put_on_file_by_mistake(role_client):
    client = role_client("pharmacist")
    client.post(_gtin_url(), GOOD_GTIN)
    wrong = ProductPresentation.objects.get(gtin=DEMO_10G)
    assert _withdraw_url(wrong) in client.get(_product_url()).content.decode()
    before = _presentations()
    refused = client.post(_withdraw_url(wrong), {"reason": ""})
    assert refused.status_code == 200 and refused.context["form"].errors["reason"] == [
        "Say why this GTIN is withdrawn."
    ]
    assert _presentations() == before
    response = client.post(_withdraw_url(wrong), {"reason": "read from the 5 g carton"}, follow=True)
    assert response.redirect_chain == [(f"{_product_url()}#presentations", 302)]
    html = response.content.decode()
    assert f'<del class="text-nowrap">{DEMO_10G}</del>' in html
    assert "read from the 5 g carton" in html and _withdraw_url(wrong) not in html


@pytest.mark.parametrize("role", NOT_PHARMACISTS)
def test_only_pharmacists_withdraw_a_gtin(role_client, role):
    on_file = ProductPresentation.objects.exclude(gtin="").filter(product__slug="octagam-10").first()
    before = _presentations()
    client = role_client(role)
    assert client.post(_withdraw_url(on_file), {"reason": "x"}).status_code == 403
    assert _withdraw_url(on_file) not in client.get(_product_url()).content.decode()
    assert _presentations() == before


def test_the_pharmacy_limits_are_shown_with_units_as_site_policy(role_client):
    SiteSettings.objects.filter(pk=1).update(vial_proposal="fewest", pump_rate_ceiling_ml_per_h=D("600"))
    text = _text(role_client("nurse").get(CATALOG))
    assert "Daily dose ceiling 140 g per infusion day site policy no label gives one" in text
    assert "Pump rate ceiling 600 mL/h site policy no step of a ladder runs above it" in text
    assert "Lowest pump rate 1 mL/h site policy what the unit's pumps deliver" in text
    assert "Whole-vial amount proposed The fewest vials within tolerance site policy" in text


def test_a_site_at_risk_cap_stricter_than_a_label_is_shown_where_it_applies(role_client):
    SiteSettings.objects.filter(pk=1).update(site_at_risk_cap_mg_per_kg_min=D("2"))
    text = _text(role_client("nurse").get(_product_url()))
    assert "3.3 mg/kg/min = 0.033 mL/kg/min label 2 mg/kg/min applies site policy, stricter than the label" in text


def test_privigen_shows_its_proline_and_the_hyperprolinaemia_contraindication(role_client):
    text = _text(role_client("nurse").get(_product_url("privigen")))
    assert "hyperprolinaemia (type I or II), because of the L-proline stabiliser" in text
    assert "contains L-proline contraindicated in hyperprolinaemia (type I or II)" in text
    assert Product.objects.get(slug="privigen").contains_proline is True
    assert set(Product.objects.filter(contains_proline=True).values_list("slug", flat=True)) == {"privigen"}
