"""Dose orders built the way the clinic builds them: through dose_order_create (and
dose_order_verify), so every order carries the real snapshot of its inputs, facts and plan.

    DoseOrderFactory()                      # awaiting verification, 2 g/kg over 2 days
    DoseOrderFactory(verified=True)         # verified by a pharmacist other than the prescriber
    DoseOrderFactory(patient=p, days=5)     # any field of dose_order_create can be given
"""

from datetime import date
from decimal import Decimal

import factory

from dosing.models import DoseOrder, Indication, SiteSettings
from dosing.services.orders import dose_order_create, dose_order_verify
from patients.tests.factories import UserFactory, WeighedPatientFactory

# The day the root conftest's frozen_today fixture freezes.
TODAY = date(2026, 11, 22)


def dm_indication() -> Indication:
    """Octagam 10 % for dermatomyositis: the dosing tests' worked check."""
    return Indication.objects.select_related("product").get(product__slug="octagam-10", slug="dermatomyositis")


def verified(order: DoseOrder, *, by=None) -> DoseOrder:
    """`order` verified by `by`, or by a new pharmacist."""
    return dose_order_verify(by=by or UserFactory(role="pharmacist"), order=order)


class DoseOrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DoseOrder

    class Params:
        verified = factory.Trait(verified_by=factory.SubFactory(UserFactory, role="pharmacist"))

    patient = factory.SubFactory(WeighedPatientFactory)
    indication = factory.LazyFunction(dm_indication)
    dose_g_per_kg = Decimal("2")
    days = 2
    weight_basis = "auto"
    prescribed_by = factory.SubFactory(UserFactory, role="physician")
    verified_by = None
    today = TODAY

    @classmethod
    def _create(cls, model_class, *, prescribed_by, verified_by, **fields):
        order = dose_order_create(by=prescribed_by, **fields)
        return verified(order, by=verified_by) if verified_by else order


def site_first_step_factor(factor: int) -> None:
    """Set the site's first-infusion first-step factor (``SiteSettings.first_infusion_first_step_factor``,
    default 2). Tests about the label's ladder whose fixture patient is IVIG-naive (every session a
    first infusion) set 1: a site with no slower start, where the ladder is the label's."""
    SiteSettings.load()
    SiteSettings.objects.filter(pk=1).update(first_infusion_first_step_factor=factor)
