"""Catalog services: validate, write in one transaction, record who and why, raise the revision once."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict

from dosing.barcodes import gtin_from_ndc
from dosing.models import Indication, Product, ProductPresentation, SiteSettings
from dosing.planning import plan_for
from dosing.services.catalog import (
    presentation_gtin_add,
    presentation_gtin_withdraw,
    product_stock_update,
    site_settings_update,
)

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def pharmacist(make_user):
    return make_user("pharmacist")


@pytest.fixture
def octagam(db):
    return Product.objects.get(slug="octagam-10")


@pytest.fixture(autouse=True)
def catalog_at_revision_one(db):
    """Revisions counted from 1, whatever revision the catalog's data migrations reached."""
    SiteSettings.objects.filter(pk=SiteSettings.load().pk).update(catalog_revision=1)


def _revision() -> int:
    return SiteSettings.objects.get(pk=1).catalog_revision


def _snapshot() -> dict:
    return {
        "site": model_to_dict(SiteSettings.objects.get(pk=1)),
        "products": [model_to_dict(product) for product in Product.objects.order_by("pk")],
        "site_history": SiteSettings.history.count(),
        "product_history": Product.history.count(),
    }


# ------------------------------------------------------------------ site settings


def test_a_change_is_saved_with_one_revision_and_a_history_row(pharmacist):
    history_rows = SiteSettings.history.count()
    # Relative to the migrated catalog's revision: each catalog migration may raise it.
    revision = SiteSettings.load().catalog_revision
    site = site_settings_update(by=pharmacist, rounding_tolerance_percent=D("5"), site_at_risk_cap_mg_per_kg_min=D("3"))
    assert (site.rounding_tolerance_percent, site.site_at_risk_cap_mg_per_kg_min) == (D("5"), D("3"))
    stored = SiteSettings.objects.get(pk=1)
    assert (stored.rounding_tolerance_percent, stored.catalog_revision) == (D("5"), revision + 1)
    assert SiteSettings.history.count() == history_rows + 1
    entry = stored.history.latest("history_id")
    assert entry.history_user == pharmacist
    assert entry.history_change_reason == "revision 2: tolerance 10 → 5 %; site at-risk cap 3.3 → 3 mg/kg/min"


def test_each_real_change_raises_the_revision_by_exactly_one(pharmacist):
    site_settings_update(by=pharmacist, adjusted_weight_factor=D("0.3"))
    site_settings_update(by=pharmacist, adjusted_weight_bmi_threshold=D("35"))
    assert _revision() == 3


@pytest.mark.parametrize(
    "fields",
    [
        {"rounding_tolerance_percent": D("10")},
        {"rounding_tolerance_percent": D("10.0"), "site_at_risk_cap_mg_per_kg_min": D("3.30")},
        {"rounding_tolerance_percent": "10", "adjusted_weight_factor": "0.40", "adjusted_weight_bmi_threshold": 30},
        {},
    ],
)
def test_saving_the_stored_values_writes_nothing_and_keeps_the_revision(pharmacist, fields):
    before = _snapshot()
    site_settings_update(by=pharmacist, **fields)
    assert _snapshot() == before


BAD_SETTINGS = [
    ("rounding_tolerance_percent", D("25")),
    ("rounding_tolerance_percent", D("-1")),
    ("site_at_risk_cap_mg_per_kg_min", D("0")),
    ("site_at_risk_cap_mg_per_kg_min", D("9")),
    ("adjusted_weight_factor", D("1.5")),
    ("adjusted_weight_bmi_threshold", D("10")),
    ("rounding_tolerance_percent", "ten"),
]


@pytest.mark.parametrize(("field", "value"), BAD_SETTINGS)
def test_bad_settings_are_refused_at_the_field_and_nothing_is_written(pharmacist, field, value):
    before = _snapshot()
    # A valid change alongside, so a partial write would show.
    other = "adjusted_weight_factor" if field != "adjusted_weight_factor" else "rounding_tolerance_percent"
    with pytest.raises(ValidationError) as refused:
        site_settings_update(by=pharmacist, **{field: value, other: D("0.5")})
    assert field in refused.value.message_dict
    assert _snapshot() == before


def test_only_the_pharmacists_settings_can_be_set(pharmacist):
    with pytest.raises(TypeError, match="catalog_revision"):
        site_settings_update(by=pharmacist, catalog_revision=99)
    assert _revision() == 1


# ------------------------------------------------------------------ vial sizes in stock


def test_stock_change_is_saved_in_label_order_with_history_and_one_revision(pharmacist, octagam):
    product = product_stock_update(by=pharmacist, product=octagam, vial_sizes_in_stock_g=["30", "10", D("20")])
    assert product.vial_sizes_in_stock_g == ["10", "20", "30"]
    octagam.refresh_from_db()
    assert octagam.vial_sizes_in_stock_g == ["10", "20", "30"]
    entry = octagam.history.latest("history_id")
    assert (entry.history_user, entry.history_change_reason) == (
        pharmacist,
        "vial sizes in stock (g): 2, 5, 10, 20, 30 → 10, 20, 30",
    )
    assert _revision() == 2
    site_entry = SiteSettings.history.latest("history_id")
    assert site_entry.history_user == pharmacist
    assert site_entry.history_change_reason.startswith("revision 2: Octagam 10% vial sizes in stock")


def test_sizes_are_stored_exactly_as_the_label_writes_them(pharmacist):
    octagam_5 = Product.objects.get(slug="octagam-5")
    product_stock_update(by=pharmacist, product=octagam_5, vial_sizes_in_stock_g=[D("2.50"), "25"])
    octagam_5.refresh_from_db()
    assert octagam_5.vial_sizes_in_stock_g == ["2.5", "25"]


def test_the_same_stock_in_another_order_is_no_change(pharmacist, octagam):
    before = _snapshot()
    product_stock_update(by=pharmacist, product=octagam, vial_sizes_in_stock_g=["30", "20", "10", "5", "2", "2"])
    assert _snapshot() == before


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ([], "at least one"),
        (None, "at least one"),
        (["40"], "not marketed in 40 g"),
        (["10", "2.5"], "not marketed in 2.5 g"),
        (["ten"], "not a vial size"),
        (["NaN"], "not a vial size"),
    ],
)
def test_bad_stock_is_refused_at_the_field_and_nothing_is_written(pharmacist, octagam, sizes, message):
    before = _snapshot()
    with pytest.raises(ValidationError) as refused:
        product_stock_update(by=pharmacist, product=octagam, vial_sizes_in_stock_g=sizes)
    assert any(message in text for text in refused.value.message_dict["vial_sizes_in_stock_g"])
    assert _snapshot() == before


def test_stock_and_revision_are_one_transaction(pharmacist, octagam, monkeypatch):
    before = _snapshot()

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(SiteSettings, "save", fail)
    with pytest.raises(RuntimeError):
        product_stock_update(by=pharmacist, product=octagam, vial_sizes_in_stock_g=["10"])
    monkeypatch.undo()
    assert _snapshot() == before


def test_dosing_rounds_to_the_new_stock(pharmacist, octagam):
    dm = Indication.objects.get(product=octagam, slug="dermatomyositis")
    inputs = {
        "weight_kg": D("70"),
        "height_cm": D("170"),
        "sex": "female",
        "dose_g_per_kg": D("2"),
        "days": 2,
        "weight_basis": "auto",
        "at_risk": False,
    }
    before = plan_for(product=octagam, indication=dm, site=SiteSettings.load(), **inputs)
    product = product_stock_update(by=pharmacist, product=octagam, vial_sizes_in_stock_g=["10", "20"])
    after = plan_for(product=product, indication=dm, site=SiteSettings.load(), **inputs)
    assert [(str(v.size_g), v.count) for v in before.vials_per_day] == [("30", 2), ("10", 1)]
    assert [(str(v.size_g), v.count) for v in after.vials_per_day] == [("20", 3), ("10", 1)]


# ------------------------------------------------------------------ GTINs for the site's stock

DEMO_10G = "09520000000103"  # GS1 prefix 952: for demonstrations and examples, never a real product


def _add_gtin(by, product, **overrides):
    fields = {"vial_size_g": "10", "gtin": DEMO_10G, "source": "carton of lot B0042 received 2026-11-20"}
    return presentation_gtin_add(by=by, product=product, **(fields | overrides))


def _presentations() -> list:
    return list(ProductPresentation.objects.order_by("pk").values()) + [ProductPresentation.history.count()]


class TestPresentationGtinAdd:
    def test_fills_the_sizes_presentation_without_a_gtin(self, pharmacist, octagam):
        empty = ProductPresentation.objects.get(product=octagam, vial_size_g=D("10"))
        assert empty.gtin == "" and empty.added_by is None
        revision = _revision()
        saved = _add_gtin(pharmacist, octagam, gtin=" 0952 0000 0001 03 ", package="carton of 1 vial, 100 mL")
        assert saved.pk == empty.pk
        saved.refresh_from_db()
        assert (saved.gtin, saved.package, saved.added_by) == (DEMO_10G, "carton of 1 vial, 100 mL", pharmacist)
        assert saved.source == "carton of lot B0042 received 2026-11-20"
        entry = saved.history.latest()
        assert (entry.history_user, entry.history_change_reason) == (pharmacist, f"GTIN {DEMO_10G} on file for 10 g")
        assert _revision() == revision  # a GTIN names a package; it changes no dose

    def test_a_second_package_of_a_size_gets_its_own_presentation(self, pharmacist, octagam):
        cited = ProductPresentation.objects.get(product=octagam, vial_size_g=D("5"))
        assert cited.ndc == "0069-6550-02"
        saved = _add_gtin(pharmacist, octagam, vial_size_g="5", gtin="09520000000998")
        assert saved.pk != cited.pk and saved.vial_size_g == D("5")
        cited.refresh_from_db()
        assert cited.gtin == "00300696550026"  # the cited row is left as it was

    def test_an_ndc_given_must_be_the_one_the_gtin_carries(self, pharmacist):
        privigen = Product.objects.get(slug="privigen")
        ProductPresentation.objects.filter(gtin="00344206439401").delete()
        before = _presentations()
        with pytest.raises(ValidationError) as exc:
            _add_gtin(pharmacist, privigen, vial_size_g="40", gtin="00344206439401", ndc="44206-438-20")
        assert exc.value.message_dict["ndc"] == [
            "GTIN 00344206439401 carries the NDC digits 4420643940; NDC 44206-438-20 is 4420643820."
        ]
        assert _presentations() == before
        saved = _add_gtin(pharmacist, privigen, vial_size_g="40", gtin="00344206439401", ndc="44206-439-40")
        assert saved.ndc == "44206-439-40"

    @pytest.mark.parametrize(
        ("overrides", "field", "message"),
        [
            ({"gtin": "09520000000104"}, "gtin", "wrong check digit (the last digit should be 3, not 4)"),
            ({"gtin": "0952000000010"}, "gtin", "wrong check digit"),
            ({"gtin": "12345"}, "gtin", "14 digits (or 8, 12 or 13), not 5"),
            ({"gtin": "00300696550026"}, "gtin", "already on file for Octagam 10%, 5 g: a GTIN names one package"),
            ({"gtin": "00344206439401"}, "gtin", "already on file for Privigen 10%, 40 g"),
            ({"vial_size_g": "40"}, "vial_size_g", "Octagam 10% is marketed in 2, 5, 10, 20, 30 g; not in 40 g."),
            ({"vial_size_g": "ten"}, "vial_size_g", "Choose the vial size in grams."),
            ({"gtin": "  "}, "gtin", "Enter the GTIN"),
            ({"source": "  "}, "source", "Say where the NDC and GTIN come from"),
            ({"ndc": "0069655002"}, "ndc", "Write the NDC as printed, with its hyphens"),
        ],
    )
    def test_refused_at_the_field_and_nothing_written(self, pharmacist, octagam, overrides, field, message):
        before = _presentations()
        with pytest.raises(ValidationError) as exc:
            _add_gtin(pharmacist, octagam, **overrides)
        assert message in " ".join(exc.value.message_dict[field])
        assert _presentations() == before


def test_every_field_refused_is_said_at_once(pharmacist, octagam):
    with pytest.raises(ValidationError) as exc:
        _add_gtin(pharmacist, octagam, gtin="09520000000104", vial_size_g="40", source="")
    assert set(exc.value.message_dict) == {"gtin", "vial_size_g", "source"}


def test_each_marketed_size_has_a_presentation_and_each_code_its_source():
    """Migration 0010: one presentation per marketed size; the cited ones carry the NDC's GTIN."""
    for product in Product.objects.prefetch_related("presentations"):
        sizes = {presentation.vial_size_g for presentation in product.presentations.all()}
        assert sizes == {D(size) for size in product.label_vial_sizes_g}, product.slug
    cited = ProductPresentation.objects.exclude(gtin="")
    assert cited.count() == 10
    for presentation in cited:
        presentation.full_clean()
        assert presentation.gtin == gtin_from_ndc(presentation.ndc), presentation
        assert presentation.source.startswith("NDC: openFDA NDC directory"), presentation
        assert "GTIN from the NDC by the GS1 US rule" in presentation.source, presentation
    assert not ProductPresentation.objects.filter(gtin="").exclude(ndc="", source="").exists()


class TestWithdrawAGtin:
    """A GTIN put on file by mistake is withdrawn with a reason; it stays, and a scan no longer finds it."""

    def test_withdrawn_with_who_when_why_and_on_file_again_later(self, pharmacist, octagam):
        wrong = _add_gtin(pharmacist, octagam)
        withdrawn = presentation_gtin_withdraw(by=pharmacist, presentation=wrong, reason="carton was the 5 g package")
        assert (withdrawn.withdrawn_by, withdrawn.withdrawal_reason) == (pharmacist, "carton was the 5 g package")
        assert withdrawn.gtin == DEMO_10G and withdrawn.withdrawn_at is not None
        assert not ProductPresentation.objects.on_file().filter(gtin=DEMO_10G).exists()
        assert (
            withdrawn.history.first().history_change_reason == f"GTIN {DEMO_10G} withdrawn: carton was the 5 g package"
        )
        # The right package may carry it again; the withdrawn row stays.
        again = _add_gtin(pharmacist, octagam, vial_size_g="5")
        assert again.pk != withdrawn.pk
        assert ProductPresentation.objects.filter(gtin=DEMO_10G).count() == 2

    def test_a_withdrawal_needs_a_reason_and_writes_nothing_without_one(self, pharmacist, octagam):
        wrong = _add_gtin(pharmacist, octagam)
        before = _presentations()
        with pytest.raises(ValidationError) as exc:
            presentation_gtin_withdraw(by=pharmacist, presentation=wrong, reason="  ")
        assert exc.value.message_dict == {"reason": [f"Say why GTIN {DEMO_10G} is withdrawn."]}
        assert _presentations() == before

    def test_withdrawn_once(self, pharmacist, octagam):
        wrong = _add_gtin(pharmacist, octagam)
        presentation_gtin_withdraw(by=pharmacist, presentation=wrong, reason="wrong carton")
        with pytest.raises(ValidationError, match="already withdrawn .*: wrong carton"):
            presentation_gtin_withdraw(by=pharmacist, presentation=wrong, reason="again")
