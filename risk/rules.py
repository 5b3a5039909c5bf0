"""The IVIG risk rules, in one module: each rule reads a snapshot of the chart and
says whether it applies, with the evidence (which value, from when), the
mitigation the label asks for, and its source.

Pure: no ORM, no clock (the snapshot carries `today`), no settings (site
thresholds come in `SitePolicy`). The boxed-warning facts are in
../shared/reference/safety.md.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta

from accounts.errors import FieldError

THROMBOSIS = "thrombosis"
RENAL = "renal"
CONTRAINDICATION = "contraindication"
OTHER = "other"
CATEGORIES = (THROMBOSIS, RENAL, CONTRAINDICATION, OTHER)

HIGH = "high"
MODERATE = "moderate"
INFO = "info"
SEVERITIES = (HIGH, MODERATE, INFO)  # most severe first
CONFIRMED_DETERIORATION = "response_confirmed_deterioration"

BOXED_WARNING = "IVIG class boxed warning (all US IVIG labels)"
OCTAGAM_LABEL = "Octagam 10% prescribing information"
PRIVIGEN_LABEL = "Privigen prescribing information"
SAFETY_MITIGATION_THROMBOSIS = (
    "Lowest practicable dose and infusion rate (the at-risk rate cap applies); hydrate before the infusion; "
    "watch for signs of thrombosis."
)
SAFETY_MITIGATION_RENAL = (
    "Lowest practicable dose and rate; correct volume depletion and hydrate first; BUN, creatinine and urine "
    "output before and during therapy; stop if renal function worsens."
)

ADVANCED_AGE_YEARS = 65
EGFR_BELOW = Decimal("60")
EGFR_SEVERE_BELOW = Decimal("30")
CREATININE_RISE_MG_DL = Decimal("0.3")
CREATININE_BASELINE_WINDOW_DAYS = 365
OBESITY_BMI_FROM = Decimal("30")
DM_RECENT_DAYS = 365
CREATININE_BEFORE_CYCLE_DAYS = 30
# The missing-creatinine flag is raised from this many days before the cycle's first day (when
# the pre-cycle labs are drawn), not as soon as the previous cycle ends, and is judged against
# that first day for every day of the cycle: it no longer opens and closes with each cycle.
CREATININE_FLAG_LEAD_DAYS = 7
HAEMOLYSIS_DOSE_G_PER_KG_FROM = Decimal("2")


@dataclass(frozen=True)
class SitePolicy:
    """Thresholds that are the site's choice, not label text (shown to users as site policy)."""

    hyperviscosity_triglycerides_mg_dl: Decimal = Decimal("1000")
    cancer_screen_valid_months: int = 12


@dataclass(frozen=True)
class LabValue:
    value: Decimal
    unit: str
    on: date


@dataclass(frozen=True)
class ChartSnapshot:
    """What the rules read about one patient, as of `today`."""

    today: date
    age_years: int
    diagnosis: str
    diagnosis_date: date | None = None
    antibodies: tuple[str, ...] = ()
    iga_status: str = "unknown"
    hypersensitivity_to_immunoglobulin: bool = False
    corn_allergy: bool = False
    hyperprolinaemia: bool = False
    blood_group: str = "unknown"
    cancer_screen_on: date | None = None
    bmi: Decimal | None = None
    bmi_on: date | None = None
    # Active boxed-warning risk factors: (kind, label, noted_on).
    risk_factors: tuple[tuple[str, str, date], ...] = ()
    # Current medications: (category, name).
    medications: tuple[tuple[str, str], ...] = ()
    # Results newest first, per test: "creatinine", "egfr", "triglycerides".
    labs: dict[str, tuple[LabValue, ...]] = field(default_factory=dict)
    next_cycle_on: date | None = None
    planned_dose_g_per_kg: Decimal | None = None
    confirmed_deterioration_on: date | None = None
    antiphospholipid_screen: str = ""  # "", "negative", "positive" or "equivocal"
    antiphospholipid_screen_on: date | None = None
    # Week 0 of IVIG (recorded or derived); None before the first infusion.
    first_infusion_on: date | None = None


@dataclass(frozen=True)
class Finding:
    code: str
    category: str
    severity: str
    title: str
    evidence: str
    mitigation: str
    source: str
    evidence_on: date | None = None  # the date of the value that triggered it, when there is one

    def __post_init__(self):
        flag_code = FLAG_CODES.get(self.code)
        if flag_code is None:
            raise ValueError(f"code: {self.code!r} is not in risk.rules.FLAG_CODES")
        if (self.title, self.category) != (flag_code.title, flag_code.category):
            raise ValueError(f"code: {self.code!r} has another title or category in risk.rules.FLAG_CODES")

    @property
    def puts_at_risk(self) -> bool:
        return puts_at_risk(self.category, self.severity)


@dataclass(frozen=True)
class FlagCode:
    """What a flag code means, published as it is (the FHIR CodeSystem ivig-clinic-risk-flags)."""

    title: str
    category: str
    definition: str


# Every code a rule may raise, with its title, category and meaning: the one list of flag codes.
# A Finding with a code missing here, or another title or category, is an error (Finding.__post_init__).
FLAG_CODES: dict[str, FlagCode] = {
    code: FlagCode(title, category, definition)
    for code, title, category, definition in (
        ("thrombosis_advanced_age", "Advanced age", THROMBOSIS,
         f"Age {ADVANCED_AGE_YEARS} or over: a boxed-warning risk factor for thrombosis."),
        ("thrombosis_history", "History of venous or arterial thrombosis", THROMBOSIS,
         "A venous or arterial thrombosis on the chart's risk factors."),
        ("thrombosis_immobilisation", "Prolonged immobilisation", THROMBOSIS,
         "Prolonged immobilisation on the chart's risk factors."),
        ("thrombosis_hypercoagulable", "Hypercoagulable state or antiphospholipid antibodies", THROMBOSIS,
         "A hypercoagulable condition, or antiphospholipid antibodies or a positive antiphospholipid screen."),
        ("thrombosis_estrogen", "Estrogen use", THROMBOSIS, "An estrogen on the current medication list."),
        ("thrombosis_central_catheter", "Indwelling central vascular catheter", THROMBOSIS,
         "An indwelling central vascular catheter on the chart's risk factors."),
        ("thrombosis_malignancy", "Active malignancy", THROMBOSIS,
         "An active malignancy on the chart's risk factors (safety.md: a further thrombosis factor)."),
        ("thrombosis_hyperviscosity", "Hyperviscosity", THROMBOSIS,
         "A paraprotein, cryoglobulins or hypertriglyceridaemia on the chart, or triglycerides above the site's "
         "threshold."),
        ("thrombosis_cardiovascular", "Cardiovascular risk factors", THROMBOSIS,
         "Hypertension, diabetes, hyperlipidaemia, smoking, coronary or cerebrovascular disease on the chart."),
        ("renal_low_egfr", "Reduced kidney function", RENAL,
         f"Latest eGFR below {EGFR_BELOW} mL/min/1.73 m² (high below {EGFR_SEVERE_BELOW})."),
        ("renal_insufficiency", "Known renal insufficiency", RENAL,
         "Renal insufficiency on the chart's risk factors."),
        ("renal_diabetes", "Diabetes mellitus", RENAL,
         "Diabetes mellitus: a boxed-warning risk factor for renal dysfunction."),
        ("renal_age_over_65", "Age over 65", RENAL,
         f"Age over {ADVANCED_AGE_YEARS}: a boxed-warning risk factor for renal dysfunction."),
        ("renal_volume_depletion", "Volume depletion", RENAL, "Volume depletion on the chart's risk factors."),
        ("renal_sepsis", "Sepsis", RENAL, "Sepsis on the chart's risk factors."),
        ("renal_paraproteinaemia", "Paraproteinaemia", RENAL, "A paraprotein on the chart's risk factors."),
        ("renal_nephrotoxic_drugs", "Nephrotoxic drugs", RENAL, "A nephrotoxic drug on the current medication list."),
        ("renal_creatinine_rise", "Creatinine rising", RENAL,
         f"Latest creatinine {CREATININE_RISE_MG_DL} mg/dL or more above the lowest of the "
         f"{CREATININE_BASELINE_WINDOW_DAYS} days before it."),
        ("contra_iga_anti_iga", "IgA deficiency with anti-IgA antibodies", CONTRAINDICATION,
         "IgA deficiency with antibodies against IgA: IVIG is contraindicated (labels)."),
        ("contra_hypersensitivity", "Severe hypersensitivity to human immunoglobulin", CONTRAINDICATION,
         "A history of anaphylaxis or severe systemic reaction to human immunoglobulin (labels)."),
        ("contra_corn_allergy", "Corn allergy (maltose)", CONTRAINDICATION,
         "Allergy to corn: products with maltose (from corn) are contraindicated."),
        ("contra_hyperprolinaemia", "Hyperprolinaemia (proline)", CONTRAINDICATION,
         "Hyperprolinaemia: products stabilised with L-proline are contraindicated."),
        ("info_dm_recent", "Dermatomyositis diagnosed within the last year", THROMBOSIS,
         f"Dermatomyositis diagnosed within {DM_RECENT_DAYS} days (informational)."),
        ("info_tif1g_cancer_screen", "Anti-TIF1γ without a recent cancer screen", OTHER,
         "Anti-TIF1γ positive without a cancer screen within the site's interval (informational)."),
        ("info_no_recent_creatinine", "No creatinine in the 30 days before the next cycle", RENAL,
         f"No creatinine in the {CREATININE_BEFORE_CYCLE_DAYS} days before the next cycle (informational)."),
        ("info_haemolysis_risk", "Haemolysis risk", OTHER,
         f"A non-O blood group with {HAEMOLYSIS_DOSE_G_PER_KG_FROM} g/kg or more per cycle (informational)."),
        ("info_blood_group_unknown", "Blood group not known at a high dose", OTHER,
         f"No blood group recorded with {HAEMOLYSIS_DOSE_G_PER_KG_FROM} g/kg or more per cycle (informational)."),
        (CONFIRMED_DETERIORATION, "Confirmed deterioration", OTHER,
         "Worse than baseline at two consecutive visits (ProDERM definition)."),
        ("info_antiphospholipid_screen", "Antiphospholipid antibody screen before IVIG", THROMBOSIS,
         "Dermatomyositis before the first cycle with no antiphospholipid screen, or an equivocal screen to "
         "repeat (informational)."),
        ("consider_anticoagulant_prophylaxis", "Anticoagulant prophylaxis to consider", THROMBOSIS,
         "Thrombosis flags standing and no anticoagulant on the medication list: a clinician's decision."),
    )
}  # fmt: skip


# The at-risk test, defined once: the flags that lower the rate cap to the at-risk cap.
AT_RISK_CATEGORIES = (THROMBOSIS, RENAL)


def puts_at_risk(category: str, severity: str) -> bool:
    """Thrombosis and renal findings lower the rate cap; informational ones never do on their own.

    >>> puts_at_risk(RENAL, MODERATE), puts_at_risk(RENAL, INFO), puts_at_risk(OTHER, HIGH)
    (True, False, False)
    """
    return category in AT_RISK_CATEGORIES and severity != INFO


def _factors(chart: ChartSnapshot, *kinds: str) -> list[tuple[str, str, date]]:
    return [factor for factor in chart.risk_factors if factor[0] in kinds]


def _from_factors(chart, code, category, severity, title, kinds, mitigation, source=BOXED_WARNING) -> list[Finding]:
    found = _factors(chart, *kinds)
    if not found:
        return []
    evidence = "; ".join(f"{label} (noted {noted:%Y-%m-%d})" for _, label, noted in found)
    return [Finding(code, category, severity, title, evidence, mitigation, source, max(n for _, _, n in found))]


def _latest(chart: ChartSnapshot, test: str) -> LabValue | None:
    results = chart.labs.get(test, ())
    return results[0] if results else None


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


# --- thrombosis -----------------------------------------------------------------------------


def thrombosis_rules(chart: ChartSnapshot, policy: SitePolicy) -> list[Finding]:
    """Boxed-warning thrombosis risk factors present in the chart.

    Example: a 70-year-old gives [Finding("thrombosis_advanced_age", ..., evidence="Age 70 (65 or over)")].
    """
    findings = []
    if chart.age_years >= ADVANCED_AGE_YEARS:
        findings.append(
            Finding(
                "thrombosis_advanced_age",
                THROMBOSIS,
                MODERATE,
                "Advanced age",
                f"Age {chart.age_years} ({ADVANCED_AGE_YEARS} or over)",
                SAFETY_MITIGATION_THROMBOSIS,
                BOXED_WARNING,
            )
        )
    findings += _from_factors(
        chart, "thrombosis_history", THROMBOSIS, HIGH, "History of venous or arterial thrombosis",
        ("venous_thrombosis", "arterial_thrombosis"), SAFETY_MITIGATION_THROMBOSIS,
    )  # fmt: skip
    findings += _from_factors(
        chart, "thrombosis_immobilisation", THROMBOSIS, MODERATE, "Prolonged immobilisation",
        ("immobilisation",), SAFETY_MITIGATION_THROMBOSIS,
    )  # fmt: skip
    findings += _hypercoagulable(chart)
    estrogens = [name for category, name in chart.medications if category == "estrogen"]
    if estrogens:
        findings.append(
            Finding(
                "thrombosis_estrogen",
                THROMBOSIS,
                MODERATE,
                "Estrogen use",
                "Current: " + ", ".join(estrogens),
                SAFETY_MITIGATION_THROMBOSIS,
                BOXED_WARNING,
            )
        )
    findings += _from_factors(
        chart, "thrombosis_central_catheter", THROMBOSIS, MODERATE, "Indwelling central vascular catheter",
        ("central_catheter",), SAFETY_MITIGATION_THROMBOSIS,
    )  # fmt: skip
    findings += _hyperviscosity(chart, policy)
    findings += _cardiovascular(chart)
    findings += _from_factors(
        chart, "thrombosis_malignancy", THROMBOSIS, HIGH, "Active malignancy",
        ("active_malignancy",), SAFETY_MITIGATION_THROMBOSIS, "safety.md: malignancy is a further factor",
    )  # fmt: skip
    return findings


def _hypercoagulable(chart: ChartSnapshot) -> list[Finding]:
    """Recorded hypercoagulable conditions or antiphospholipid antibodies, and a positive
    antiphospholipid screen on the patient's details: one finding dated by the newest."""
    found = _factors(chart, "hypercoagulable", "antiphospholipid")
    parts = [f"{label} (noted {noted:%Y-%m-%d})" for _, label, noted in found]
    dates = [noted for _, _, noted in found]
    if chart.antiphospholipid_screen == "positive" and chart.antiphospholipid_screen_on is not None:
        parts.append(f"Antiphospholipid screen positive ({chart.antiphospholipid_screen_on:%Y-%m-%d})")
        dates.append(chart.antiphospholipid_screen_on)
    if not parts:
        return []
    return [
        Finding(
            "thrombosis_hypercoagulable",
            THROMBOSIS,
            HIGH,
            "Hypercoagulable state or antiphospholipid antibodies",
            "; ".join(parts),
            SAFETY_MITIGATION_THROMBOSIS,
            BOXED_WARNING,
            max(dates),
        )
    ]


def _hyperviscosity(chart: ChartSnapshot, policy: SitePolicy) -> list[Finding]:
    parts = [
        f"{label} (noted {noted:%Y-%m-%d})"
        for _, label, noted in _factors(chart, "paraprotein", "cryoglobulins", "hypertriglyceridaemia")
    ]
    dates = [noted for _, _, noted in _factors(chart, "paraprotein", "cryoglobulins", "hypertriglyceridaemia")]
    triglycerides = _latest(chart, "triglycerides")
    threshold = policy.hyperviscosity_triglycerides_mg_dl
    if triglycerides is not None and triglycerides.value > threshold:
        parts.append(
            f"Triglycerides {_fmt(triglycerides.value)} {triglycerides.unit} on {triglycerides.on:%Y-%m-%d} "
            f"(above {_fmt(threshold)}, site policy)"
        )
        dates.append(triglycerides.on)
    if not parts:
        return []
    return [
        Finding(
            "thrombosis_hyperviscosity",
            THROMBOSIS,
            HIGH,
            "Hyperviscosity",
            "; ".join(parts),
            SAFETY_MITIGATION_THROMBOSIS + " Measure blood viscosity before treatment (label).",
            BOXED_WARNING,
            max(dates),
        )
    ]


CARDIOVASCULAR_KINDS = (
    "hypertension",
    "diabetes",
    "hyperlipidaemia",
    "smoking",
    "coronary_disease",
    "cerebrovascular_disease",
)


def _cardiovascular(chart: ChartSnapshot) -> list[Finding]:
    found = _factors(chart, *CARDIOVASCULAR_KINDS)
    parts = [f"{label} (noted {noted:%Y-%m-%d})" for _, label, noted in found]
    dates = [noted for _, _, noted in found]
    if chart.bmi is not None and chart.bmi >= OBESITY_BMI_FROM:
        parts.append(f"Obesity: BMI {_fmt(chart.bmi)} kg/m² ({chart.bmi_on:%Y-%m-%d})")
        dates.append(chart.bmi_on)
    if not parts:
        return []
    return [
        Finding(
            "thrombosis_cardiovascular",
            THROMBOSIS,
            MODERATE,
            "Cardiovascular risk factors",
            "; ".join(parts),
            SAFETY_MITIGATION_THROMBOSIS,
            BOXED_WARNING,
            max(dates),
        )
    ]


# --- renal ----------------------------------------------------------------------------------


def renal_rules(chart: ChartSnapshot, policy: SitePolicy) -> list[Finding]:
    """Boxed-warning renal risk factors present in the chart.

    Example: an eGFR of 42 on 2026-11-08 gives
    [Finding("renal_low_egfr", ..., evidence="eGFR 42 mL/min/1.73 m² on 2026-11-08 (below 60)")].
    """
    findings = []
    egfr = _latest(chart, "egfr")
    if egfr is not None and egfr.value < EGFR_BELOW:
        findings.append(
            Finding(
                "renal_low_egfr",
                RENAL,
                HIGH if egfr.value < EGFR_SEVERE_BELOW else MODERATE,
                "Reduced kidney function",
                f"eGFR {_fmt(egfr.value)} {egfr.unit} on {egfr.on:%Y-%m-%d} (below {EGFR_BELOW})",
                SAFETY_MITIGATION_RENAL,
                BOXED_WARNING,
                egfr.on,
            )
        )
    findings += _creatinine_rise(chart)
    findings += _from_factors(
        chart, "renal_insufficiency", RENAL, MODERATE, "Known renal insufficiency",
        ("renal_insufficiency",), SAFETY_MITIGATION_RENAL,
    )  # fmt: skip
    findings += _from_factors(
        chart, "renal_diabetes", RENAL, MODERATE, "Diabetes mellitus", ("diabetes",), SAFETY_MITIGATION_RENAL
    )
    if chart.age_years > ADVANCED_AGE_YEARS:
        findings.append(
            Finding(
                "renal_age_over_65",
                RENAL,
                MODERATE,
                "Age over 65",
                f"Age {chart.age_years}",
                SAFETY_MITIGATION_RENAL,
                BOXED_WARNING,
            )
        )
    findings += _from_factors(
        chart, "renal_volume_depletion", RENAL, HIGH, "Volume depletion", ("volume_depletion",),
        SAFETY_MITIGATION_RENAL,
    )  # fmt: skip
    findings += _from_factors(chart, "renal_sepsis", RENAL, HIGH, "Sepsis", ("sepsis",), SAFETY_MITIGATION_RENAL)
    findings += _from_factors(
        chart, "renal_paraproteinaemia", RENAL, MODERATE, "Paraproteinaemia", ("paraprotein",),
        SAFETY_MITIGATION_RENAL,
    )  # fmt: skip
    nephrotoxic = [name for category, name in chart.medications if category == "nephrotoxic"]
    if nephrotoxic:
        findings.append(
            Finding(
                "renal_nephrotoxic_drugs",
                RENAL,
                MODERATE,
                "Nephrotoxic drugs",
                "Current: " + ", ".join(nephrotoxic),
                SAFETY_MITIGATION_RENAL,
                BOXED_WARNING,
            )
        )
    return findings


def _creatinine_rise(chart: ChartSnapshot) -> list[Finding]:
    """Latest creatinine ≥ 0.3 mg/dL above the patient's baseline: the lowest value in the
    365 days before it (a rise from the patient's own best recent value)."""
    results = chart.labs.get("creatinine", ())
    if len(results) < 2:
        return []
    latest, earlier = results[0], results[1:]
    window_start = latest.on - timedelta(days=CREATININE_BASELINE_WINDOW_DAYS)
    candidates = [r for r in earlier if window_start <= r.on <= latest.on]
    if not candidates:
        return []
    baseline = min(candidates, key=lambda r: (r.value, r.on))
    rise = latest.value - baseline.value
    if rise < CREATININE_RISE_MG_DL:
        return []
    return [
        Finding(
            "renal_creatinine_rise",
            RENAL,
            HIGH,
            "Creatinine rising",
            f"Creatinine {_fmt(latest.value)} {latest.unit} on {latest.on:%Y-%m-%d}, up {_fmt(rise)} from "
            f"{_fmt(baseline.value)} on {baseline.on:%Y-%m-%d} (a rise of {CREATININE_RISE_MG_DL} or more)",
            SAFETY_MITIGATION_RENAL,
            BOXED_WARNING,
            latest.on,
        )
    ]


# --- contraindications ---------------------------------------------------------------------


def contraindication_rules(chart: ChartSnapshot, policy: SitePolicy) -> list[Finding]:
    """Reasons not to give IVIG (or not this product) without a physician's override.

    Example: IgA deficiency with anti-IgA antibodies gives [Finding("contra_iga_anti_iga", ...)].
    """
    findings = []
    if chart.iga_status == "deficient_anti_iga":
        findings.append(
            Finding(
                "contra_iga_anti_iga",
                CONTRAINDICATION,
                HIGH,
                "IgA deficiency with anti-IgA antibodies",
                "IgA status: deficient with anti-IgA antibodies",
                "Contraindicated with a history of hypersensitivity; a physician must override with a reason.",
                "IVIG labels: contraindications",
            )
        )
    if chart.hypersensitivity_to_immunoglobulin:
        findings.append(
            Finding(
                "contra_hypersensitivity",
                CONTRAINDICATION,
                HIGH,
                "Severe hypersensitivity to human immunoglobulin",
                "History of severe systemic hypersensitivity recorded",
                "Contraindicated; a physician must override with a reason.",
                "IVIG labels: contraindications",
            )
        )
    if chart.corn_allergy:
        findings.append(
            Finding(
                "contra_corn_allergy",
                CONTRAINDICATION,
                MODERATE,
                "Corn allergy (maltose)",
                "Corn allergy recorded",
                "Octagam contains maltose from corn: choose a product without it, or a physician overrides.",
                OCTAGAM_LABEL + ": excipients",
            )
        )
    if chart.hyperprolinaemia:
        findings.append(
            Finding(
                "contra_hyperprolinaemia",
                CONTRAINDICATION,
                HIGH,
                "Hyperprolinaemia (proline)",
                "Hyperprolinaemia (type I or II) recorded",
                "Privigen is stabilised with L-proline and contraindicated: choose a product without proline, "
                "or a physician overrides.",
                PRIVIGEN_LABEL + ": contraindications",
            )
        )
    return findings


# --- informational --------------------------------------------------------------------------


def informational_rules(chart: ChartSnapshot, policy: SitePolicy) -> list[Finding]:
    """Shown to the team, never changing the rate cap on their own.

    Example: dermatomyositis diagnosed 3 months ago gives [Finding("info_dm_recent", ...)].
    """
    findings = []
    if (
        chart.diagnosis in ("adult_dm", "juvenile_dm", "amyopathic_dm")
        and chart.diagnosis_date is not None
        and chart.today - chart.diagnosis_date <= timedelta(days=DM_RECENT_DAYS)
    ):
        findings.append(
            Finding(
                "info_dm_recent",
                THROMBOSIS,
                INFO,
                "Dermatomyositis diagnosed within the last year",
                f"Diagnosed {chart.diagnosis_date:%Y-%m-%d}: venous thromboembolism risk is highest in the first year",
                "The dermatomyositis label maximum already reflects DM's own risk; stay alert to symptoms.",
                "safety.md: DM raises VTE risk 7–11 times, up to about 26 times in the first year",
                chart.diagnosis_date,
            )
        )
    if "tif1g" in chart.antibodies:
        months = policy.cancer_screen_valid_months
        # Calendar months: a screen on the same day `months` months ago still counts as recent.
        recent = chart.cancer_screen_on is not None and chart.cancer_screen_on >= chart.today - relativedelta(
            months=months
        )
        if not recent:
            screened = (
                f"last screen {chart.cancer_screen_on:%Y-%m-%d}" if chart.cancer_screen_on else "no screen recorded"
            )
            findings.append(
                Finding(
                    "info_tif1g_cancer_screen",
                    OTHER,
                    INFO,
                    "Anti-TIF1γ without a recent cancer screen",
                    f"Anti-TIF1γ positive; {screened} (site policy: within {months} months)",
                    "Anti-TIF1γ dermatomyositis is cancer-associated: arrange an age-appropriate cancer screen.",
                    "safety.md: malignancy is a further thrombosis factor",
                    chart.cancer_screen_on,
                )
            )
    if chart.next_cycle_on is not None and chart.next_cycle_on - chart.today <= timedelta(
        days=CREATININE_FLAG_LEAD_DAYS
    ):
        window_start = chart.next_cycle_on - timedelta(days=CREATININE_BEFORE_CYCLE_DAYS)
        creatinine = _latest(chart, "creatinine")
        if creatinine is None or creatinine.on < window_start:
            last = f"last {creatinine.on:%Y-%m-%d}" if creatinine else "none on record"
            findings.append(
                Finding(
                    "info_no_recent_creatinine",
                    RENAL,
                    INFO,
                    "No creatinine in the 30 days before the next cycle",
                    f"Next cycle {chart.next_cycle_on:%Y-%m-%d}; creatinine {last}",
                    "Order creatinine and BUN before the cycle.",
                    BOXED_WARNING,
                    creatinine.on if creatinine else None,
                )
            )
    if (
        chart.blood_group in ("A", "B", "AB")
        and chart.planned_dose_g_per_kg is not None
        and chart.planned_dose_g_per_kg >= HAEMOLYSIS_DOSE_G_PER_KG_FROM
    ):
        findings.append(
            Finding(
                "info_haemolysis_risk",
                OTHER,
                INFO,
                "Haemolysis risk",
                f"Blood group {chart.blood_group} with {_fmt(chart.planned_dose_g_per_kg)} g/kg per cycle",
                "Haemoglobin/haematocrit at baseline and about 36–96 h after the infusion.",
                "IVIG labels: haemolysis (high doses, non-O blood groups)",
            )
        )
    if (
        chart.blood_group == "unknown"
        and chart.planned_dose_g_per_kg is not None
        and chart.planned_dose_g_per_kg >= HAEMOLYSIS_DOSE_G_PER_KG_FROM
    ):
        # Without a blood group the haemolysis check above cannot tell O from non-O: ask for it
        # rather than stay silent.
        findings.append(
            Finding(
                "info_blood_group_unknown",
                OTHER,
                INFO,
                "Blood group not known at a high dose",
                f"Blood group not recorded with {_fmt(chart.planned_dose_g_per_kg)} g/kg per cycle",
                "Record the blood group: at 2 g/kg or more a non-O group needs haemoglobin/haematocrit at "
                "baseline and about 36–96 h after the infusion.",
                "IVIG labels: haemolysis (high doses, non-O blood groups)",
            )
        )
    if chart.confirmed_deterioration_on is not None:
        findings.append(
            Finding(
                CONFIRMED_DETERIORATION,
                OTHER,
                HIGH,
                "Confirmed deterioration",
                "Worse than baseline at two consecutive visits "
                f"(confirmed {chart.confirmed_deterioration_on:%Y-%m-%d})",
                "Review the treatment: ProDERM counts this patient as a non-responder.",
                "ProDERM definition (tis.md)",
                chart.confirmed_deterioration_on,
            )
        )
    return findings


# --- pro-thrombotic screen and prophylaxis -------------------------------------------------------

DM_DIAGNOSES = ("adult_dm", "juvenile_dm", "amyopathic_dm")
APS_SCREEN_SOURCE = (
    "Site policy after the ProDERM editorial (screen dermatomyositis patients for pro-thrombotic factors); "
    "not label text"
)
PROPHYLAXIS_SOURCE = "safety.md: prophylaxis evidence (a clinician's decision, not an automatic rule)"
PROPHYLAXIS_CONSIDERATION = (
    "Consider anticoagulant prophylaxis (for example LMWH over the infusion days): a clinician's decision, not a "
    "rule. Systematic versus risk-based LMWH: 1.1 % versus 1.96 % thrombosis, not significant (n = 334, "
    "neuromuscular cohort). A slower infusion (e.g. 0.4 g/kg a day over 5 days, each over at least 8 h) is the "
    "other lever."
)


def prothrombotic_screen_rules(chart: ChartSnapshot, policy: SitePolicy) -> list[Finding]:
    """The antiphospholipid antibody screen: asked for before a dermatomyositis patient's first
    cycle, and repeated when equivocal. A positive screen is a hypercoagulable state
    (``_hypercoagulable``, boxed warning).

    Example: adult DM, no screen recorded, first infusion not yet given ->
    [Finding("info_antiphospholipid_screen", THROMBOSIS, INFO, ...)].

    >>> chart = ChartSnapshot(today=date(2026, 12, 4), age_years=50, diagnosis="adult_dm")
    >>> [f.code for f in prothrombotic_screen_rules(chart, SitePolicy())]
    ['info_antiphospholipid_screen']
    >>> given = ChartSnapshot(today=date(2026, 12, 4), age_years=50, diagnosis="adult_dm",
    ...     first_infusion_on=date(2026, 11, 2))
    >>> prothrombotic_screen_rules(given, SitePolicy())
    []
    """
    screen, taken_on = chart.antiphospholipid_screen, chart.antiphospholipid_screen_on
    before_first_cycle = chart.first_infusion_on is None or chart.first_infusion_on > chart.today
    if screen == "equivocal" and taken_on is not None:
        evidence = f"Screen equivocal or low titre, taken {taken_on:%Y-%m-%d}"
        advice = "Repeat the screen 12 weeks after the first one and record the result on the patient's details."
    elif not screen and chart.diagnosis in DM_DIAGNOSES and before_first_cycle:
        first = f"first cycle {chart.next_cycle_on:%Y-%m-%d}" if chart.next_cycle_on else "first cycle not booked yet"
        evidence = f"Dermatomyositis; no screen recorded; {first}"
        advice = (
            "Screen for antiphospholipid antibodies (lupus anticoagulant, anticardiolipin and "
            "anti-β2-glycoprotein I) before the first cycle and record the result on the patient's details."
        )
    else:
        return []
    return [
        Finding(
            "info_antiphospholipid_screen",
            THROMBOSIS,
            INFO,
            "Antiphospholipid antibody screen before IVIG",
            evidence,
            advice,
            APS_SCREEN_SOURCE,
            taken_on,
        )
    ]


def prophylaxis_consideration(chart: ChartSnapshot, findings: list[Finding]) -> list[Finding]:
    """Where thrombosis flags stand (any that lowers the rate cap), anticoagulant prophylaxis is
    shown as a consideration, unless the patient is already on an anticoagulant. Not a flag of its
    own (nothing to acknowledge or resolve): it is kept in the patient's verdict beside the flags.

    >>> age = Finding("thrombosis_advanced_age", THROMBOSIS, MODERATE, "Advanced age", "Age 70", "m", "s")
    >>> chart = ChartSnapshot(today=date(2026, 12, 4), age_years=70, diagnosis="adult_dm")
    >>> [f.evidence for f in prophylaxis_consideration(chart, [age])]
    ['Thrombosis flags standing: Advanced age; no anticoagulant on the medication list']
    >>> on_apixaban = ChartSnapshot(today=date(2026, 12, 4), age_years=70, diagnosis="adult_dm",
    ...     medications=(("anticoagulant", "Apixaban"),))
    >>> prophylaxis_consideration(on_apixaban, [age])
    []
    """
    standing = [f.title for f in findings if f.category == THROMBOSIS and f.puts_at_risk]
    if not standing or any(category == "anticoagulant" for category, _ in chart.medications):
        return []
    return [
        Finding(
            "consider_anticoagulant_prophylaxis",
            THROMBOSIS,
            INFO,
            "Anticoagulant prophylaxis to consider",
            f"Thrombosis flags standing: {'; '.join(standing)}; no anticoagulant on the medication list",
            PROPHYLAXIS_CONSIDERATION,
            PROPHYLAXIS_SOURCE,
        )
    ]


RULE_SETS = (thrombosis_rules, renal_rules, contraindication_rules, informational_rules, prothrombotic_screen_rules)


def evaluate(chart: ChartSnapshot, policy: SitePolicy | None = None) -> list[Finding]:
    """Every finding for this chart, most severe first, each code once."""
    policy = policy or SitePolicy()
    findings = [finding for rules in RULE_SETS for finding in rules(chart, policy)]
    codes = [finding.code for finding in findings]
    if len(codes) != len(set(codes)):
        raise FieldError("rules", f"duplicate codes {sorted({c for c in codes if codes.count(c) > 1})}")
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), CATEGORIES.index(f.category), f.code))
