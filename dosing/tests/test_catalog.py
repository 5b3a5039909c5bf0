"""The catalog file against the shared reference, the rows the migration loaded, and load_catalog."""

import os
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from django.apps import apps as django_apps

from dosing.calculations import RateStep, site_protocol_steps
from dosing.catalog import CATALOG_PATH, load_catalog, read_catalog
from dosing.models import Indication, Product, SiteSettings
from dosing.services.catalog import product_stock_update, site_settings_update

REFERENCE_PATH = Path(__file__).resolve().parents[3] / "shared" / "reference" / "ivig-products.yaml"
D = Decimal


def _dec(value) -> Decimal:
    # safe_load gives floats; their shortest repr is the figure as written in the file.
    return D(str(value))


def _range(value) -> tuple:
    if value is None:
        return None, None
    if isinstance(value, list):
        return _dec(value[0]), _dec(value[1])
    return _dec(value), _dec(value)


def _reference() -> dict:
    if not REFERENCE_PATH.exists():
        message = f"shared reference {REFERENCE_PATH} is missing"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return yaml.safe_load(REFERENCE_PATH.read_text(encoding="utf-8"))


def _reference_ladder(spec: dict) -> list[tuple[Decimal, int | None]]:
    if "steps" in spec:
        return [(_dec(step["rate"]), step["minutes"]) for step in spec["steps"]]
    steps = site_protocol_steps(_dec(spec["initial_rate"]), spec["initial_minutes"], _dec(spec["max_rate"]))
    return [(step.rate_mg_per_kg_min, step.minutes) for step in steps]


def test_catalog_file_matches_the_shared_reference_figures():
    reference = _reference()
    catalog = {product["slug"]: product for product in read_catalog()["products"]}
    assert set(catalog) == set(reference["products"])
    for slug, expected in reference["products"].items():
        product = catalog[slug]
        assert D(product["concentration_mg_per_ml"]) == _dec(expected["concentration_mg_per_ml"]), slug
        assert [D(size) for size in product["label_vial_sizes_g"]] == [_dec(s) for s in expected["vial_sizes_g"]], slug
        cap = expected["at_risk_cap_mg_per_kg_min"]
        if cap is None:
            assert product["at_risk_cap_mg_per_kg_min"] is None, slug
        else:
            assert D(product["at_risk_cap_mg_per_kg_min"]) == _dec(cap), slug
        indications = {indication["slug"]: indication for indication in product["indications"]}
        assert set(indications) == set(expected["indications"]), slug
        for indication_slug, spec in expected["indications"].items():
            where = f"{slug}/{indication_slug}"
            row = indications[indication_slug]
            assert row["label_status"] == spec["label_status"], where
            assert (D(row["dose_g_per_kg_min"]), D(row["dose_g_per_kg_max"])) == _range(spec["dose_g_per_kg"]), where
            assert (D(row["days_min"]), D(row["days_max"])) == _range(spec["split_days"]), where
            assert (row["interval_weeks_min"], row["interval_weeks_max"]) == _range(spec.get("interval_weeks")), where
            assert D(row["max_rate_mg_per_kg_min"]) == _dec(spec["max_rate"]), where
            ladder = [(D(step["rate_mg_per_kg_min"]), step["minutes"]) for step in row["steps"]]
            assert ladder == _reference_ladder(spec), where
            if "initial_rate" in spec:
                assert ladder[0] == (_dec(spec["initial_rate"]), spec["initial_minutes"]), where
                assert row["step_rule"] == spec["step_rule"], where
    defaults = reference["site_defaults"]
    site = read_catalog()["site_defaults"]
    assert D(site["rounding_tolerance_percent"]) == _dec(defaults["vial_rounding_tolerance_percent"])
    assert D(site["site_at_risk_cap_mg_per_kg_min"]) == _dec(defaults["at_risk_cap_mg_per_kg_min"])
    assert D(site["adjusted_weight_factor"]) == _dec(defaults["adjusted_weight_factor"])
    assert D(site["adjusted_weight_bmi_threshold"]) == _dec(defaults["adjusted_weight_when_bmi_at_least"])


@pytest.mark.django_db
def test_the_migration_loaded_every_product_and_indication():
    assert Product.objects.count() == 6
    assert Indication.objects.count() == 15
    raw = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))
    without_steps = {
        (product_slug, indication_slug)
        for product_slug, product in raw["products"].items()
        for indication_slug, spec in product["indications"].items()
        if "steps" not in spec
    }
    site_protocol = set(Indication.objects.filter(site_protocol=True).values_list("product__slug", "slug"))
    assert site_protocol == without_steps
    assert len(without_steps) == 12


@pytest.mark.django_db
def test_loaded_rows_equal_the_catalog_file_and_stock_starts_as_every_marketed_size():
    for row in read_catalog()["products"]:
        product = Product.objects.get(slug=row["slug"])
        assert product.concentration_mg_per_ml == D(row["concentration_mg_per_ml"])
        assert product.label_vial_sizes_g == row["label_vial_sizes_g"]
        assert product.vial_sizes_in_stock_g == row["label_vial_sizes_g"]
        cap = row["at_risk_cap_mg_per_kg_min"]
        assert product.at_risk_cap_mg_per_kg_min == (None if cap is None else D(cap))
        for expected in row["indications"]:
            indication = product.indications.get(slug=expected["slug"])
            assert indication.steps == expected["steps"]
            assert indication.max_rate_mg_per_kg_min == D(expected["max_rate_mg_per_kg_min"])
            assert indication.site_protocol is expected["site_protocol"]
    # Every stored step converts back to the arithmetic's own type (no float crept in).
    for indication in Indication.objects.all():
        assert all(isinstance(step["rate_mg_per_kg_min"], str) for step in indication.steps)
        RateStep(D(indication.steps[0]["rate_mg_per_kg_min"]), indication.steps[0]["minutes"])


def _catalog_state() -> dict:
    return {
        "products": list(Product.objects.order_by("slug").values()),
        "indications": list(Indication.objects.order_by("product__slug", "slug").values()),
        "site": list(SiteSettings.objects.values()),
    }


@pytest.mark.django_db
def test_load_catalog_twice_changes_nothing():
    before = _catalog_state()
    load_catalog(django_apps)
    load_catalog(django_apps)
    assert _catalog_state() == before


@pytest.mark.django_db
def test_load_catalog_keeps_the_pharmacists_stock_and_settings(make_user):
    pharmacist = make_user("pharmacist")
    revision = SiteSettings.load().catalog_revision
    octagam = Product.objects.get(slug="octagam-10")
    product_stock_update(by=pharmacist, product=octagam, vial_sizes_in_stock_g=["10", "20"])
    site_settings_update(by=pharmacist, rounding_tolerance_percent=D("5"))
    load_catalog(django_apps)
    octagam.refresh_from_db()
    site = SiteSettings.load()
    assert octagam.vial_sizes_in_stock_g == ["10", "20"]
    assert site.rounding_tolerance_percent == D("5")
    assert site.catalog_revision == revision + 2  # the two changes; reloading the same file adds none


@pytest.mark.django_db
def test_reloading_a_changed_catalog_raises_the_revision(tmp_path):
    revision = SiteSettings.load().catalog_revision
    load_catalog(django_apps)
    assert SiteSettings.load().catalog_revision == revision  # same file: nothing changed

    changed = tmp_path / "catalog.yaml"
    changed.write_text(CATALOG_PATH.read_text().replace("max_rate: 12.0", "max_rate: 10.0", 1))
    load_catalog(django_apps, path=changed)
    assert SiteSettings.load().catalog_revision == revision + 1
    assert Indication.objects.get(product__slug="octagam-10", slug="chronic-itp").max_rate_mg_per_kg_min == 10
