"""Why a patient counts as at risk of thrombosis or renal dysfunction, from the
chart as it stands: the IVIG boxed warning's risk factors, with the evidence.

Dose orders use this to lower the rate cap and to show their reasons. The
risk-flag rules (with acknowledgement and history) will build on it."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from dosing.calculations import body_mass_index

from .models import LabTest, MedicationCategory, Patient, RiskFactorKind

OBESITY_BMI_FROM = Decimal("30")  # a cardiovascular risk factor the boxed warning names
ADVANCED_AGE_YEARS = 65  # boxed warning: "advanced age"; renal: "age over 65"
EGFR_RENAL_RISK_BELOW = Decimal("60")  # mL/min/1.73 m²: CKD stage 3 or worse

RENAL_KINDS = {
    RiskFactorKind.RENAL_INSUFFICIENCY,
    RiskFactorKind.VOLUME_DEPLETION,
    RiskFactorKind.SEPSIS,
    RiskFactorKind.PARAPROTEIN,
    RiskFactorKind.DIABETES,
}
THROMBOSIS_KINDS = set(RiskFactorKind) - {
    RiskFactorKind.RENAL_INSUFFICIENCY,
    RiskFactorKind.VOLUME_DEPLETION,
    RiskFactorKind.SEPSIS,
}


@dataclass(frozen=True)
class RiskReason:
    category: str  # "thrombosis" or "renal"
    text: str


def risk_reasons(patient: Patient, today: date) -> list[RiskReason]:
    """Every boxed-warning reason that applies today, thrombosis first, each with its evidence.

    Example: a 78-year-old with an eGFR of 42 on 2026-11-08 gives
    [thrombosis "Age 78 (65 or over)", renal "Age 78 (over 65)",
    renal "eGFR 42 mL/min/1.73 m² on 2026-11-08 (below 60)"].
    """
    reasons = []
    age = patient.age_on(today)
    if age >= ADVANCED_AGE_YEARS:
        reasons.append(RiskReason("thrombosis", f"Age {age} ({ADVANCED_AGE_YEARS} or over)"))
    if age > ADVANCED_AGE_YEARS:
        reasons.append(RiskReason("renal", f"Age {age} (over {ADVANCED_AGE_YEARS})"))
    for factor in patient.risk_factors.active().filter(noted_on__lte=today):
        label = f"{factor.get_kind_display()} (noted {factor.noted_on:%Y-%m-%d})"
        if factor.kind in THROMBOSIS_KINDS:
            reasons.append(RiskReason("thrombosis", label))
        if factor.kind in RENAL_KINDS:
            reasons.append(RiskReason("renal", label))
    for medication in patient.medications.current_on(today).filter(
        category__in=[MedicationCategory.ESTROGEN, MedicationCategory.NEPHROTOXIC]
    ):
        if medication.category == MedicationCategory.ESTROGEN:
            reasons.append(RiskReason("thrombosis", f"Estrogen use: {medication.name}"))
        else:
            reasons.append(RiskReason("renal", f"Nephrotoxic drug: {medication.name}"))
    bmi = _current_bmi(patient, today)
    if bmi is not None and bmi >= OBESITY_BMI_FROM:
        reasons.append(RiskReason("thrombosis", f"Obesity: BMI {bmi} kg/m² (30 or over)"))
    egfr = patient.lab_results.filter(test=LabTest.EGFR, collected_on__lte=today).order_by("-collected_on").first()
    if egfr is not None and egfr.value < EGFR_RENAL_RISK_BELOW:
        reasons.append(
            RiskReason(
                "renal",
                f"eGFR {egfr.value.normalize():f} {egfr.unit} on {egfr.collected_on:%Y-%m-%d} "
                f"(below {EGFR_RENAL_RISK_BELOW})",
            )
        )
    return sorted(reasons, key=lambda reason: reason.category != "thrombosis")


def _current_bmi(patient: Patient, today: date) -> Decimal | None:
    measurements = patient.measurements.filter(measured_on__lte=today)
    weight = measurements.filter(weight_kg__isnull=False).values_list("weight_kg", flat=True).first()
    height = measurements.filter(height_cm__isnull=False).values_list("height_cm", flat=True).first()
    if weight is None or height is None:
        return None
    return body_mass_index(weight_kg=weight, height_cm=height)
