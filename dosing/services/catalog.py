"""The pharmacist's part of the catalog: the site's dosing settings, the vial
sizes pharmacy stocks, and the GTINs of the packages in the site's stock.

Every write validates, runs in one transaction and records who and why in the
row's history. A change to a figure dosing computes with raises
``SiteSettings.catalog_revision`` by one, so a dose order can say which catalog
it was computed from. Saving values that are already stored writes nothing and
raises nothing.
"""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.audit import audited_save
from accounts.errors import FieldError
from accounts.transactions import service

from ..barcodes import gtin14
from ..models import Product, ProductPresentation, SiteSettings

# The fields a pharmacist may change, with the short words the change reason uses.
SITE_SETTINGS_FIELDS = {
    "rounding_tolerance_percent": ("tolerance", "%"),
    "site_at_risk_cap_mg_per_kg_min": ("site at-risk cap", "mg/kg/min"),
    "adjusted_weight_factor": ("adjusted weight factor", ""),
    "adjusted_weight_bmi_threshold": ("BMI threshold", "kg/m²"),
    "hyperviscosity_triglycerides_mg_dl": ("hyperviscosity triglycerides", "mg/dL"),
    "daily_dose_ceiling_g": ("daily dose ceiling", "g"),
    "pump_rate_ceiling_ml_per_h": ("pump rate ceiling", "mL/h"),
    "pump_rate_minimum_ml_per_h": ("lowest pump rate", "mL/h"),
    "vial_proposal": ("vial proposal", ""),
    "first_infusion_first_step_factor": ("first infusion: first step held ×", ""),
    "first_infusion_gap_weeks": ("gap that makes a first infusion", "weeks"),
    "review_first_months": ("first review", "months"),
    "review_every_months": ("review every", "months"),
    "review_reminder_days": ("review reminder", "days before"),
    "tis_every_weeks_early": ("TIS every", "weeks at first"),
    "tis_early_until_week": ("TIS early rhythm until week", ""),
    "tis_every_weeks_after": ("TIS then every", "weeks"),
}


def _site_for_update() -> SiteSettings:
    # Locks the row so two pharmacists saving at once get consecutive revisions.
    return SiteSettings.objects.select_for_update().get_or_create(pk=1)[0]


def _raise_revision(site: SiteSettings, *, by, reason: str) -> None:
    site.catalog_revision += 1
    audited_save(site, by=by, reason=f"revision {site.catalog_revision}: {reason}")


def _plain(value: Decimal | int | str) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def _change_text(name: str, before, after) -> str:
    words, unit = SITE_SETTINGS_FIELDS[name]
    return f"{words} {_plain(before)} → {_plain(after)}{f' {unit}' if unit else ''}"


@service
def site_settings_update(*, by, **fields) -> SiteSettings:
    """Change the site's dosing policy; the catalog revision goes up by one if anything changed.

    Example: ``site_settings_update(by=pharmacist, rounding_tolerance_percent=Decimal("5"))``
    at revision 1 stores 5 % and revision 2, with "revision 2: tolerance 10 → 5 %"
    and the pharmacist in the history.
    """
    unknown = set(fields) - set(SITE_SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"site_settings_update: cannot set {', '.join(sorted(unknown))}")
    site = _site_for_update()
    before = {name: getattr(site, name) for name in fields}
    for name, value in fields.items():
        setattr(site, name, value)
    # full_clean converts the values (e.g. "10" -> Decimal), so the comparison below is by value.
    site.full_clean()
    changes = [
        _change_text(name, before[name], getattr(site, name)) for name in fields if getattr(site, name) != before[name]
    ]
    if changes:
        _raise_revision(site, by=by, reason="; ".join(changes))
    return site


def _stock_sizes(product: Product, vial_sizes_in_stock_g) -> list[str]:
    """The chosen sizes as the label writes them, in the label's order; a size the label does not list is refused."""
    if isinstance(vial_sizes_in_stock_g, str | bytes):
        raise TypeError("vial_sizes_in_stock_g: must be a list of sizes, not one string")
    chosen = set()
    for size in vial_sizes_in_stock_g or []:
        try:
            grams = Decimal(str(size))
        except InvalidOperation:
            grams = None
        if grams is None or not grams.is_finite():
            raise ValidationError({"vial_sizes_in_stock_g": f"{size!r} is not a vial size in grams."})
        chosen.add(grams)
    marketed = {Decimal(size): size for size in product.label_vial_sizes_g}
    not_marketed = sorted(chosen - set(marketed))
    if not_marketed:
        listed = ", ".join(f"{_plain(size)} g" for size in not_marketed)
        raise ValidationError(
            {"vial_sizes_in_stock_g": f"{product.name} is not marketed in {listed}: choose from the label's sizes."}
        )
    if not chosen:
        raise ValidationError(
            {"vial_sizes_in_stock_g": "Choose at least one vial size: doses are rounded to the vials in stock."}
        )
    return [size for size in product.label_vial_sizes_g if Decimal(size) in chosen]


@service
def product_stock_update(*, by, product: Product, vial_sizes_in_stock_g) -> Product:
    """Set the vial sizes pharmacy can dispense; dosing rounds to these from now on.

    Example: Octagam 10% with 2, 5, 10, 20, 30 g in stock, set to ["10", "20"] -> stored as
    ["10", "20"], history "vial sizes in stock (g): 2, 5, 10, 20, 30 → 10, 20", revision + 1.
    """
    sizes = _stock_sizes(product, vial_sizes_in_stock_g)
    product = Product.objects.select_for_update().get(pk=product.pk)
    if sizes == product.vial_sizes_in_stock_g:
        return product
    reason = f"vial sizes in stock (g): {', '.join(map(str, product.vial_sizes_in_stock_g))} → {', '.join(sizes)}"
    product.vial_sizes_in_stock_g = sizes
    audited_save(product, by=by, reason=reason)
    _raise_revision(_site_for_update(), by=by, reason=f"{product.name} {reason}")
    return product


@service
def presentation_gtin_add(
    *, by, product: Product, vial_size_g, gtin: str, source: str, ndc: str = "", package: str = ""
) -> ProductPresentation:
    """Put on file the GTIN of a package in the site's stock, so a scan of it is recognised.

    It fills the size's presentation that has no GTIN yet, or adds one (a second package of the
    same size). Its rules are the presentation's own (``ProductPresentation.clean`` and its
    validators: the check digit, a marketed vial size, a source, the NDC the GTIN carries), checked
    by ``audited_save``; here, that no other package holds the GTIN. The catalog revision is not
    raised: a GTIN names a package, it changes no dose or rate.

    Example: Octagam 10% 10 g, GTIN 09520000000103 read from the carton -> the 10 g presentation
    holds it, with "GTIN 09520000000103 on file for 10 g" and the pharmacist in its history.
    """
    size = _grams(vial_size_g)
    if size is None:
        raise ValidationError({"vial_size_g": "Choose the vial size in grams."})
    typed = "".join((gtin or "").split())
    if not typed:
        raise ValidationError({"gtin": "Enter the GTIN: the 14 digits under the carton's barcode."})
    try:
        gtin = gtin14(typed)
    except FieldError:
        gtin = typed  # the field's validator refuses it, together with the presentation's other errors
    # Locks the product, so two pharmacists adding GTINs for it are served one after the other.
    product = Product.objects.select_for_update().get(pk=product.pk)
    taken = ProductPresentation.objects.on_file().select_related("product").filter(gtin=gtin).first()
    if taken is not None:
        raise ValidationError(
            {"gtin": f"GTIN {gtin} is already on file for {taken.vial_text}: a GTIN names one package."}
        )
    presentation = ProductPresentation.objects.on_file().filter(
        product=product, vial_size_g=size, gtin="", ndc=""
    ).first() or ProductPresentation(product=product, vial_size_g=size)
    presentation.gtin, presentation.ndc = gtin, (ndc or "").strip()
    presentation.package, presentation.source = (package or "").strip(), (source or "").strip()
    presentation.added_by, presentation.added_at = by, timezone.now()
    audited_save(presentation, by=by, reason=f"GTIN {gtin} on file for {_plain(size)} g")
    return presentation


@service
def presentation_gtin_withdraw(*, by, presentation: ProductPresentation, reason: str) -> ProductPresentation:
    """Withdraw a GTIN put on file by mistake, with a reason: the row stays (struck through on the
    product page, and in its history), a scan no longer finds it, and the GTIN may be put on file
    again. Lots already recorded keep the GTIN they were scanned with.

    Example: GTIN 09520000000103 entered for 10 g, the carton was 5 g -> withdrawn, "GTIN
    09520000000103 withdrawn: carton was the 5 g package".
    """
    presentation = ProductPresentation.objects.select_for_update().select_related("product").get(pk=presentation.pk)
    if presentation.withdrawn_at is not None:
        raise ValidationError(
            f"GTIN {presentation.gtin} was already withdrawn on {presentation.withdrawn_at:%Y-%m-%d}: "
            f"{presentation.withdrawal_reason}"
        )
    if not presentation.gtin:
        raise ValidationError(f"{presentation.vial_text} has no GTIN on file to withdraw.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": f"Say why GTIN {presentation.gtin} is withdrawn."})
    if len(reason) > 300:
        raise ValidationError({"reason": f"At most 300 characters, not {len(reason)}."})
    presentation.withdrawn_at, presentation.withdrawn_by, presentation.withdrawal_reason = timezone.now(), by, reason
    audited_save(presentation, by=by, reason=f"GTIN {presentation.gtin} withdrawn: {reason}")
    return presentation


def _grams(value) -> Decimal | None:
    try:
        grams = Decimal(str(value))
    except InvalidOperation:
        return None
    return grams if grams.is_finite() else None
