from datetime import date
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from patients.models import BodyMeasurement, LabResult, Medication, Patient, RiskFactor


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"User{n}")
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def role(user, create, extracted, **kwargs):
        """UserFactory(role="nurse"): the role is one of the groups the data migration created."""
        if create and extracted:
            user.groups.add(Group.objects.get(name=extracted))


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    mrn = factory.Sequence(lambda n: f"MRN{n:06d}")
    given_name = "Ada"
    family_name = factory.Sequence(lambda n: f"Patient{n}")
    date_of_birth = date(1970, 5, 17)
    sex_at_birth = "female"
    diagnosis = "adult_dm"
    antibodies = factory.LazyFunction(lambda: ["tif1g"])
    # Screened before the first cycle, so that a factory patient carries no screening flag unless a
    # test asks for one (risk.rules.prothrombotic_screen_rules).
    blood_group = "O"  # recorded, so a 2 g/kg order raises no blood-group or haemolysis flag unless asked
    antiphospholipid_screen = "negative"
    antiphospholipid_screen_on = date(2026, 1, 5)


class MeasurementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BodyMeasurement

    patient = factory.SubFactory(PatientFactory)
    measured_on = date(2026, 11, 1)
    weight_kg = Decimal("70.0")
    height_cm = Decimal("170.0")


class WeighedPatientFactory(PatientFactory):
    """A patient with a current weight and height (70 kg, 170 cm), so a dose order can be placed."""

    class Meta:
        skip_postgeneration_save = True

    measurement = factory.RelatedFactory(MeasurementFactory, factory_related_name="patient")


class LabResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabResult

    patient = factory.SubFactory(PatientFactory)
    test = "ck"
    collected_on = date(2026, 11, 1)
    value = Decimal("3000")
    unit = "U/L"
    upper_limit_normal = Decimal("200")


class MedicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Medication

    patient = factory.SubFactory(PatientFactory)
    category = "glucocorticoid"
    name = "Prednisone"
    daily_dose_mg = Decimal("20")


class RiskFactorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RiskFactor

    patient = factory.SubFactory(PatientFactory)
    kind = "venous_thrombosis"
    noted_on = date(2024, 3, 1)
