"""The product catalog file: read it (Decimals, never floats), load it into the
database (used by a data migration), and turn catalog rows into the frozen
facts that dosing.calculations works on."""

from decimal import Decimal
from pathlib import Path

import yaml

from .calculations import IndicationFacts, ProductFacts, RateStep, site_protocol_steps

CATALOG_PATH = Path(__file__).resolve().parent / "data" / "ivig-products.yaml"

INDICATION_NAMES = {
    "dermatomyositis": "Dermatomyositis",
    "chronic-itp": "Chronic immune thrombocytopenia (ITP)",
    "itp": "Immune thrombocytopenia (ITP)",
    "primary-immunodeficiency": "Primary humoral immunodeficiency",
    "cidp": "Chronic inflammatory demyelinating polyneuropathy (CIDP)",
    "mmn": "Multifocal motor neuropathy (MMN)",
}


class _DecimalLoader(yaml.SafeLoader):
    """YAML floats become Decimals from their written text: 3.3 stays exactly 3.3."""


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", lambda loader, node: Decimal(loader.construct_scalar(node)))


def _dec(value) -> str:
    return format(Decimal(str(value)), "f")


def _range(value) -> tuple:
    if value is None:
        return None, None
    if isinstance(value, list):
        return value[0], value[1]
    return value, value


def read_catalog(path: Path = CATALOG_PATH) -> dict:
    """Parse the catalog file into plain rows: {"site_defaults": {...}, "products": [...]}.

    Example: ``read_catalog()["products"][0]["indications"][0]["steps"][0]``
    is ``{"rate_mg_per_kg_min": "1.0", "minutes": 30}`` for Octagam 10% in dermatomyositis.
    """
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_DecimalLoader)
    products = []
    for slug, product in raw["products"].items():
        indications = []
        for indication_slug, spec in product["indications"].items():
            dose_min, dose_max = _range(spec["dose_g_per_kg"])
            days_min, days_max = _range(spec["split_days"])
            interval_min, interval_max = _range(spec.get("interval_weeks"))
            if "steps" in spec:
                steps = [RateStep(Decimal(str(s["rate"])), s["minutes"]) for s in spec["steps"]]
                site_protocol = False
            else:
                # The label gives a start and a maximum only: the site's default ladder applies.
                steps = site_protocol_steps(
                    Decimal(str(spec["initial_rate"])), spec["initial_minutes"], Decimal(str(spec["max_rate"]))
                )
                site_protocol = True
            notes = [spec.get("steps_note", ""), spec.get("max_rate_note", ""), spec.get("notes", "")]
            indications.append(
                {
                    "slug": indication_slug,
                    "name": INDICATION_NAMES.get(indication_slug, indication_slug),
                    "label_status": spec["label_status"],
                    "population": spec.get("population", ""),
                    "dose_g_per_kg_min": _dec(dose_min),
                    "dose_g_per_kg_max": _dec(dose_max),
                    "days_min": int(days_min),
                    "days_max": int(days_max),
                    "interval_weeks_min": interval_min,
                    "interval_weeks_max": interval_max,
                    "maintenance": spec.get("maintenance", ""),
                    "steps": [{"rate_mg_per_kg_min": _dec(s.rate_mg_per_kg_min), "minutes": s.minutes} for s in steps],
                    "max_rate_mg_per_kg_min": _dec(spec["max_rate"]),
                    "site_protocol": site_protocol,
                    "step_rule": spec.get("step_rule", ""),
                    "notes": " ".join(note for note in notes if note),
                }
            )
        excipients = product.get("excipient_notes", [])
        cap = product.get("at_risk_cap_mg_per_kg_min")
        products.append(
            {
                "slug": slug,
                "name": product["name"],
                "maker": product.get("maker", ""),
                "concentration_mg_per_ml": _dec(product["concentration_mg_per_ml"]),
                "label_vial_sizes_g": [_dec(size) for size in product["vial_sizes_g"]],
                "vial_sizes_note": product.get("vial_sizes_note", ""),
                "at_risk_cap_mg_per_kg_min": None if cap is None else _dec(cap),
                "at_risk_cap_note": product.get("at_risk_cap_note", ""),
                "contraindications": product.get("contraindications", []),
                "excipient_notes": excipients,
                "contains_maltose": any("maltose" in note.lower() for note in excipients),
                "contains_proline": any("proline" in note.lower() for note in excipients),
                "sources": product.get("sources", []),
                "indications": indications,
            }
        )
    defaults = raw["site_defaults"]
    return {
        "site_defaults": {
            "rounding_tolerance_percent": _dec(defaults["vial_rounding_tolerance_percent"]),
            "site_at_risk_cap_mg_per_kg_min": _dec(defaults["at_risk_cap_mg_per_kg_min"]),
            "adjusted_weight_factor": _dec(defaults["adjusted_weight_factor"]),
            "adjusted_weight_bmi_threshold": _dec(defaults["adjusted_weight_when_bmi_at_least"]),
        },
        "products": products,
    }


def load_catalog(apps, schema_editor=None, path: Path = CATALOG_PATH) -> None:
    """Create or update catalog rows from the file (idempotent). Vial sizes in stock
    start as every marketed size and are the pharmacist's to change afterwards. When a
    later migration changes a figure, the catalog revision goes up, so orders made
    before and after can be told apart."""
    product_model = apps.get_model("dosing", "Product")
    indication_model = apps.get_model("dosing", "Indication")
    settings_model = apps.get_model("dosing", "SiteSettings")
    catalog = read_catalog(path)
    site, site_created = settings_model.objects.get_or_create(pk=1, defaults=catalog["site_defaults"])
    before = _fingerprint(product_model, indication_model)
    # An early migration runs with the models as they were then: only the fields they have
    # (a later migration adds a field and loads the catalog again to fill it).
    known = {field.name for field in product_model._meta.concrete_fields}
    for row in catalog["products"]:
        fields = {key: value for key, value in row.items() if key not in ("slug", "indications") and key in known}
        product, created = product_model.objects.update_or_create(slug=row["slug"], defaults=fields)
        if created:
            product.vial_sizes_in_stock_g = list(row["label_vial_sizes_g"])
            product.save(update_fields=["vial_sizes_in_stock_g"])
        for indication in row["indications"]:
            values = {key: value for key, value in indication.items() if key != "slug"}
            indication_model.objects.update_or_create(product=product, slug=indication["slug"], defaults=values)
    if not site_created and _fingerprint(product_model, indication_model) != before:
        site.catalog_revision += 1
        site.save(update_fields=["catalog_revision"])


def _fingerprint(product_model, indication_model) -> list:
    """The catalog's figures as comparable text (the site's stock excluded: it is not catalog data)."""
    rows = []
    for model, exclude in ((product_model, {"id", "vial_sizes_in_stock_g"}), (indication_model, {"id"})):
        names = [f.attname for f in model._meta.concrete_fields if f.attname not in exclude]
        rows.extend(sorted(repr([str(value) for value in row]) for row in model.objects.values_list(*names)))
    return rows


def product_facts(product) -> ProductFacts:
    """The catalog row as the calculations see it: dosing rounds to the vials in stock."""
    return ProductFacts(
        slug=product.slug,
        name=product.name,
        concentration_mg_per_ml=Decimal(product.concentration_mg_per_ml),
        vial_sizes_g=tuple(Decimal(size) for size in product.vial_sizes_in_stock_g),
        at_risk_cap_mg_per_kg_min=product.at_risk_cap_mg_per_kg_min,
        contains_maltose=product.contains_maltose,
        contains_proline=product.contains_proline,
    )


def indication_facts(indication) -> IndicationFacts:
    return IndicationFacts(
        slug=indication.slug,
        label_status=indication.label_status,
        population=indication.population or None,
        dose_g_per_kg_min=Decimal(indication.dose_g_per_kg_min),
        dose_g_per_kg_max=Decimal(indication.dose_g_per_kg_max),
        days_min=indication.days_min,
        days_max=indication.days_max,
        steps=tuple(RateStep(Decimal(s["rate_mg_per_kg_min"]), s["minutes"]) for s in indication.steps),
        max_rate_mg_per_kg_min=Decimal(indication.max_rate_mg_per_kg_min),
        site_protocol=indication.site_protocol,
    )
