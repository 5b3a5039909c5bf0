"""Forms for prescribing and verifying dose orders (the catalog's forms live in forms.py)."""

from decimal import Decimal

from django import forms

from accounts.form_errors import PageVersionForm, page_version_field
from accounts.roles import NURSE, PHARMACIST, PHYSICIAN

from .models import DoseOrder, Indication, WeightBasis


class IndicationChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, indication: Indication) -> str:
        return f"{indication.product.name} — {indication.name}"


class DoseOrderForm(forms.Form):
    indication = IndicationChoiceField(
        label="Product and indication",
        queryset=Indication.objects.select_related("product").order_by("product__name", "name"),
    )
    dose_g_per_kg = forms.DecimalField(
        label="Dose per cycle (g/kg)",
        max_digits=4,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("3"),
        widget=forms.NumberInput(attrs={"step": "0.1", "min": "0.1", "max": "3"}),
        help_text="Total for the cycle, split equally over the days. Dermatomyositis label: 2 g/kg.",
    )
    days = forms.IntegerField(
        label="Infusion days per cycle",
        min_value=1,
        max_value=7,
        help_text="Consecutive days; dermatomyositis label: 2 to 5.",
    )
    weight_basis = forms.ChoiceField(label="Dosing weight", choices=WeightBasis.choices, initial=WeightBasis.AUTO)
    notes = forms.CharField(
        label="Notes for pharmacy and nursing", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    override_reason = forms.CharField(
        label="Reason to give IVIG despite the contraindication",
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Only when a contraindication flag is shown above. Kept with the order and in its history.",
    )
    # The fingerprint of the plan Calculate showed; Place order places only that plan.
    plan_digest = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound and "indication" not in self.initial:
            default = (
                self.fields["indication"].queryset.filter(product__slug="octagam-10", slug="dermatomyositis").first()
            )
            if default is not None:
                self.initial.update(
                    indication=default.pk, dose_g_per_kg=default.dose_g_per_kg_max, days=default.days_min
                )


def _version() -> forms.IntegerField:
    # The order's version the page showed; the service refuses the write if it has changed since.
    return page_version_field()


VersionedForm = PageVersionForm


class VerifyOrderForm(VersionedForm):
    checked = forms.BooleanField(
        label="I have checked the dosing weight, dose, vials, volume and every step of the rate ladder.",
        required=True,
    )
    version = _version()
    # The fingerprint of the plan the page showed (from today's chart): a plan that changed since
    # is shown again rather than verified unseen. Empty from a script: no check.
    plan_digest = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class ReasonForm(VersionedForm):
    reason = forms.CharField(label="Reason", max_length=300, widget=forms.Textarea(attrs={"rows": 2}))
    version = _version()


class SheetOptionsForm(forms.Form):
    start = forms.TimeField(label="Planned start", required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    date = forms.DateField(label="Infusion date", required=False, widget=forms.DateInput(attrs={"type": "date"}))


# The order list's filters: the worklists first, then each status.
ALL, PENDING, TO_SCHEDULE, MINE = "all", "pending", "to_schedule", "mine"
WORKLIST_FILTERS = [
    (ALL, "All"),
    (PENDING, "Awaiting verification"),
    (TO_SCHEDULE, "To schedule"),
    (MINE, "My prescriptions"),
]
ORDER_STATUS_FILTERS = list(DoseOrder._meta.get_field("status").choices)
ORDER_LIST_FILTERS = dict(WORKLIST_FILTERS + ORDER_STATUS_FILTERS)
# What the list opens on for each role, the first that applies: someone both pharmacist and
# nurse sees first what waits for a pharmacist, since nothing is scheduled before it is verified.
ROLE_DEFAULT_FILTERS = ((PHARMACIST, PENDING), (NURSE, TO_SCHEDULE), (PHYSICIAN, MINE))


def default_order_filter(roles) -> str:
    """The filter the order list opens on, e.g. ["nurse"] -> "to_schedule"; a viewer sees all."""
    return next((chosen for role, chosen in ROLE_DEFAULT_FILTERS if role in roles), ALL)


def filter_orders(orders, chosen: str, *, user):
    """`orders` narrowed to the filter `chosen` (a key of ORDER_LIST_FILTERS), for `user`."""
    if chosen == PENDING:
        return orders.awaiting_verification()
    if chosen == TO_SCHEDULE:
        return orders.to_schedule().order_by("verified_at", "pk")  # waiting longest first
    if chosen == MINE:
        return orders.filter(prescribed_by=user)
    return orders.filter(status=chosen) if chosen in dict(ORDER_STATUS_FILTERS) else orders
