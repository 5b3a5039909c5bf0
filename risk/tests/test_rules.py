"""The risk rules (risk/rules.py): pure functions over a ChartSnapshot, no database.

Every rule code has a row that triggers it and a row with a nearly identical chart that
does not, at its boundary. The boxed-warning facts are in shared/reference/safety.md."""

import ast
import re
import string
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from inspect import getsource

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk import rules
from risk.rules import CONTRAINDICATION, HIGH, INFO, MODERATE, OTHER, RENAL, THROMBOSIS, ChartSnapshot, LabValue

TODAY = date(2026, 11, 22)
DAY = timedelta(days=1)
LAB_DAY = date(2026, 11, 8)
NEXT_CYCLE = date(2026, 11, 29)
NOTED = date(2024, 3, 1)


def chart(**overrides) -> ChartSnapshot:
    """A 52-year-old with polymyositis and nothing else on the chart: no rule applies."""
    return replace(ChartSnapshot(today=TODAY, age_years=52, diagnosis="polymyositis"), **overrides)


def factor(kind: str, label: str = "", noted_on: date = NOTED) -> dict:
    return {"risk_factors": ((kind, label or f"Label of {kind}", noted_on),)}


def labs(test: str, *values: tuple[str, date], unit: str = "mg/dL") -> dict:
    """Results as the snapshot holds them: newest first."""
    ordered = sorted(values, key=lambda item: item[1], reverse=True)
    return {"labs": {test: tuple(LabValue(Decimal(value), unit, on) for value, on in ordered)}}


def egfr(value: str, on: date = LAB_DAY) -> dict:
    return labs("egfr", (value, on), unit="mL/min/1.73 m²")


def codes(findings) -> list[str]:
    return [finding.code for finding in findings]


def only(code: str, findings) -> rules.Finding:
    matching = [finding for finding in findings if finding.code == code]
    assert len(matching) == 1, codes(findings)
    return matching[0]


def _rule_codes_in_source() -> set[str]:
    return set(re.findall(r'"((?:thrombosis|renal|contra|info|response)_[a-z0-9_]+)"', getsource(rules)))


def noted(code: str, kind: str, label: str, category: str, severity: str, row_id: str = "") -> tuple:
    """A row for a rule fed by a recorded risk factor: the evidence names its label and date."""
    return (row_id or kind, code, factor(kind, label), category, severity, [label, f"{NOTED:%Y-%m-%d}"], NOTED)


# (id, code, chart fields, category, severity, evidence must name, evidence_on)
TRIGGERS = [
    ("age-65", "thrombosis_advanced_age", {"age_years": 65}, THROMBOSIS, MODERATE, ["65"], None),
    noted("thrombosis_history", "venous_thrombosis", "DVT of the left leg", THROMBOSIS, HIGH),
    noted("thrombosis_history", "arterial_thrombosis", "Stroke", THROMBOSIS, HIGH),
    noted("thrombosis_immobilisation", "immobilisation", "Bed-bound", THROMBOSIS, MODERATE),
    noted("thrombosis_hypercoagulable", "hypercoagulable", "Factor V Leiden", THROMBOSIS, HIGH),
    noted("thrombosis_hypercoagulable", "antiphospholipid", "Lupus anticoagulant", THROMBOSIS, HIGH),
    ("antiphospholipid-screen-positive", "thrombosis_hypercoagulable",
     {"antiphospholipid_screen": "positive", "antiphospholipid_screen_on": LAB_DAY},
     THROMBOSIS, HIGH, ["Antiphospholipid screen positive (2026-11-08)"], LAB_DAY),
    ("dm-unscreened-before-first-cycle", "info_antiphospholipid_screen",
     {"diagnosis": "juvenile_dm", "next_cycle_on": NEXT_CYCLE}, THROMBOSIS, INFO,
     ["no screen recorded", "first cycle 2026-11-29"], None),
    ("screen-equivocal", "info_antiphospholipid_screen",
     {"antiphospholipid_screen": "equivocal", "antiphospholipid_screen_on": LAB_DAY, "first_infusion_on": NOTED},
     THROMBOSIS, INFO, ["equivocal", "2026-11-08"], LAB_DAY),
    ("estrogen", "thrombosis_estrogen", {"medications": (("estrogen", "Estradiol"), ("other", "Omeprazole"))},
     THROMBOSIS, MODERATE, ["Estradiol"], None),
    noted("thrombosis_central_catheter", "central_catheter", "PICC line", THROMBOSIS, MODERATE),
    noted("thrombosis_hyperviscosity", "paraprotein", "IgG kappa", THROMBOSIS, HIGH),
    noted("thrombosis_hyperviscosity", "cryoglobulins", "Cryoglobulins", THROMBOSIS, HIGH),
    noted("thrombosis_hyperviscosity", "hypertriglyceridaemia", "Chylomicronaemia", THROMBOSIS, HIGH),
    ("triglycerides-above-site-threshold", "thrombosis_hyperviscosity", labs("triglycerides", ("1000.001", LAB_DAY)),
     THROMBOSIS, HIGH, ["1000.001", "2026-11-08", "site policy"], LAB_DAY),
    *[noted("thrombosis_cardiovascular", kind, "CV", THROMBOSIS, MODERATE) for kind in rules.CARDIOVASCULAR_KINDS],
    ("bmi-30", "thrombosis_cardiovascular", {"bmi": Decimal("30.0"), "bmi_on": LAB_DAY}, THROMBOSIS, MODERATE,
     ["BMI 30", "2026-11-08"], LAB_DAY),
    noted("thrombosis_malignancy", "active_malignancy", "Ovarian cancer", THROMBOSIS, HIGH),
    ("egfr-59.9", "renal_low_egfr", egfr("59.9"), RENAL, MODERATE, ["59.9", "2026-11-08"], LAB_DAY),
    ("egfr-30", "renal_low_egfr", egfr("30"), RENAL, MODERATE, ["30", "2026-11-08"], LAB_DAY),
    ("egfr-29.9", "renal_low_egfr", egfr("29.9"), RENAL, HIGH, ["29.9", "2026-11-08"], LAB_DAY),
    ("creatinine-up-0.3", "renal_creatinine_rise", labs("creatinine", ("1.3", LAB_DAY), ("1.0", date(2026, 6, 1))),
     RENAL, HIGH, ["1.3", "2026-11-08", "0.3", "2026-06-01"], LAB_DAY),
    ("creatinine-baseline-365-days-before", "renal_creatinine_rise",
     labs("creatinine", ("1.3", LAB_DAY), ("1.0", LAB_DAY - 365 * DAY)),
     RENAL, HIGH, ["1.3", "2026-11-08", "2025-11-08"], LAB_DAY),
    ("creatinine-lowest-in-window-is-baseline", "renal_creatinine_rise",
     labs("creatinine", ("1.3", LAB_DAY), ("1.2", date(2026, 10, 1)), ("0.9", date(2026, 3, 1)),
          ("1.1", date(2026, 1, 5))),
     RENAL, HIGH, ["up 0.4 from 0.9 on 2026-03-01"], LAB_DAY),
    noted("renal_insufficiency", "renal_insufficiency", "CKD 3a", RENAL, MODERATE),
    noted("renal_diabetes", "diabetes", "Type 2 diabetes", RENAL, MODERATE),
    ("age-66", "renal_age_over_65", {"age_years": 66}, RENAL, MODERATE, ["66"], None),
    noted("renal_volume_depletion", "volume_depletion", "Dehydrated", RENAL, HIGH),
    noted("renal_sepsis", "sepsis", "Urosepsis", RENAL, HIGH),
    noted("renal_paraproteinaemia", "paraprotein", "MGUS", RENAL, MODERATE),
    ("nephrotoxic", "renal_nephrotoxic_drugs", {"medications": (("nephrotoxic", "Gentamicin"),)}, RENAL, MODERATE,
     ["Gentamicin"], None),
    ("iga-anti-iga", "contra_iga_anti_iga", {"iga_status": "deficient_anti_iga"}, CONTRAINDICATION, HIGH,
     ["IgA"], None),
    ("hypersensitivity", "contra_hypersensitivity", {"hypersensitivity_to_immunoglobulin": True}, CONTRAINDICATION,
     HIGH, ["hypersensitivity"], None),
    ("corn", "contra_corn_allergy", {"corn_allergy": True}, CONTRAINDICATION, MODERATE, ["Corn"], None),
    ("proline", "contra_hyperprolinaemia", {"hyperprolinaemia": True}, CONTRAINDICATION, HIGH,
     ["Hyperprolinaemia"], None),
    *[
        (f"{diagnosis}-365-days", "info_dm_recent", {"diagnosis": diagnosis, "diagnosis_date": TODAY - 365 * DAY},
         THROMBOSIS, INFO, ["2025-11-22"], TODAY - 365 * DAY)
        for diagnosis in ("adult_dm", "juvenile_dm", "amyopathic_dm")
    ],
    ("tif1g-no-screen", "info_tif1g_cancer_screen", {"antibodies": ("tif1g",)}, OTHER, INFO,
     ["no screen recorded", "12 months"], None),
    ("tif1g-screen-12-months-and-a-day", "info_tif1g_cancer_screen",
     {"antibodies": ("nxp2", "tif1g"), "cancer_screen_on": date(2025, 11, 21)}, OTHER, INFO, ["2025-11-21"],
     date(2025, 11, 21)),
    ("creatinine-31-days-before-cycle", "info_no_recent_creatinine",
     {"next_cycle_on": NEXT_CYCLE, **labs("creatinine", ("0.8", NEXT_CYCLE - 31 * DAY))}, RENAL, INFO,
     ["2026-11-29", "2026-10-29"], NEXT_CYCLE - 31 * DAY),
    ("no-creatinine-before-cycle", "info_no_recent_creatinine", {"next_cycle_on": NEXT_CYCLE}, RENAL, INFO,
     ["2026-11-29", "none on record"], None),
    *[
        (f"group-{group}-2g", "info_haemolysis_risk", {"blood_group": group, "planned_dose_g_per_kg": Decimal("2.00")},
         OTHER, INFO, [f"Blood group {group} ", "2 g/kg"], None)
        for group in ("A", "B", "AB")
    ],
    ("group-unknown-2g", "info_blood_group_unknown", {"blood_group": "unknown", "planned_dose_g_per_kg": Decimal("2")},
     OTHER, INFO, ["Blood group not recorded", "2 g/kg"], None),
    ("group-unknown-2.5g", "info_blood_group_unknown",
     {"blood_group": "unknown", "planned_dose_g_per_kg": Decimal("2.5")}, OTHER, INFO, ["2.5 g/kg"], None),
    ("deterioration", "response_confirmed_deterioration", {"confirmed_deterioration_on": date(2026, 11, 1)}, OTHER,
     HIGH, ["2026-11-01"], date(2026, 11, 1)),
]  # fmt: skip

# (id, code, chart fields): the nearest chart that must not raise the code.
NEAR_MISSES = [
    ("age-64", "thrombosis_advanced_age", {"age_years": 64}),
    ("other-factor", "thrombosis_history", factor("immobilisation")),
    ("other-factor", "thrombosis_immobilisation", factor("central_catheter")),
    ("other-factor", "thrombosis_hypercoagulable", factor("venous_thrombosis")),
    ("estrogen-named-other", "thrombosis_estrogen", {"medications": (("other", "Estradiol"),)}),
    ("other-factor", "thrombosis_central_catheter", factor("immobilisation")),
    ("triglycerides-at-site-threshold", "thrombosis_hyperviscosity", labs("triglycerides", ("1000", LAB_DAY))),
    (
        "older-high-triglycerides",
        "thrombosis_hyperviscosity",
        labs("triglycerides", ("400", LAB_DAY), ("1500", date(2026, 1, 1))),
    ),
    ("bmi-29.9", "thrombosis_cardiovascular", {"bmi": Decimal("29.9"), "bmi_on": LAB_DAY}),
    ("other-factor", "thrombosis_cardiovascular", factor("sepsis")),
    ("other-factor", "thrombosis_malignancy", factor("paraprotein")),
    ("egfr-60", "renal_low_egfr", egfr("60")),
    (
        "latest-egfr-normal",
        "renal_low_egfr",
        labs("egfr", ("75", LAB_DAY), ("42", date(2026, 6, 1)), unit="mL/min/1.73 m²"),
    ),
    ("creatinine-up-0.29", "renal_creatinine_rise", labs("creatinine", ("1.29", LAB_DAY), ("1.0", date(2026, 6, 1)))),
    ("single-creatinine", "renal_creatinine_rise", labs("creatinine", ("3.0", LAB_DAY))),
    (
        "creatinine-baseline-366-days-before",
        "renal_creatinine_rise",
        labs("creatinine", ("1.3", LAB_DAY), ("1.0", LAB_DAY - 366 * DAY)),
    ),
    (
        "creatinine-low-value-outside-window-ignored",
        "renal_creatinine_rise",
        labs("creatinine", ("1.3", LAB_DAY), ("1.1", date(2026, 6, 1)), ("0.7", LAB_DAY - 400 * DAY)),
    ),
    ("creatinine-falling", "renal_creatinine_rise", labs("creatinine", ("1.0", LAB_DAY), ("1.6", date(2026, 6, 1)))),
    ("other-factor", "renal_insufficiency", factor("volume_depletion")),
    ("other-factor", "renal_diabetes", factor("hypertension")),
    ("age-65", "renal_age_over_65", {"age_years": 65}),
    ("other-factor", "renal_volume_depletion", factor("sepsis")),
    ("other-factor", "renal_sepsis", factor("volume_depletion")),
    ("other-factor", "renal_paraproteinaemia", factor("cryoglobulins")),
    ("other-category", "renal_nephrotoxic_drugs", {"medications": (("immunosuppressant", "Gentamicin"),)}),
    ("iga-deficient-only", "contra_iga_anti_iga", {"iga_status": "deficient"}),
    ("no-hypersensitivity", "contra_hypersensitivity", {"hypersensitivity_to_immunoglobulin": False}),
    ("no-corn-allergy", "contra_corn_allergy", {"corn_allergy": False}),
    ("no-hyperprolinaemia", "contra_hyperprolinaemia", {"hyperprolinaemia": False}),
    ("dm-366-days", "info_dm_recent", {"diagnosis": "adult_dm", "diagnosis_date": TODAY - 366 * DAY}),
    ("dm-no-date", "info_dm_recent", {"diagnosis": "adult_dm"}),
    ("polymyositis-recent", "info_dm_recent", {"diagnosis": "polymyositis", "diagnosis_date": TODAY - 30 * DAY}),
    ("tif1g-screen-12-months", "info_tif1g_cancer_screen",
     {"antibodies": ("tif1g",), "cancer_screen_on": date(2025, 11, 22)}),
    ("tif1g-screen-today", "info_tif1g_cancer_screen", {"antibodies": ("tif1g",), "cancer_screen_on": TODAY}),
    ("no-tif1g-no-screen", "info_tif1g_cancer_screen", {"antibodies": ("nxp2",)}),
    (
        "creatinine-30-days-before-cycle",
        "info_no_recent_creatinine",
        {"next_cycle_on": NEXT_CYCLE, **labs("creatinine", ("0.8", NEXT_CYCLE - 30 * DAY))},
    ),
    ("no-cycle-planned", "info_no_recent_creatinine", {}),
    # Raised from 7 days before the cycle (with its pre-cycle labs), not as soon as the last one ended.
    ("no-creatinine-cycle-8-days-ahead", "info_no_recent_creatinine", {"next_cycle_on": TODAY + 8 * DAY}),
    # Day 2 of a cycle that began yesterday is judged by its first day, as day 1 was.
    (
        "day-2-of-a-cycle-with-creatinine-before-day-1",
        "info_no_recent_creatinine",
        {"next_cycle_on": TODAY - DAY, **labs("creatinine", ("0.8", TODAY - 31 * DAY + 2 * DAY))},
    ),
    ("group-O-2g", "info_haemolysis_risk", {"blood_group": "O", "planned_dose_g_per_kg": Decimal("2")}),
    ("group-unknown-2g", "info_haemolysis_risk", {"blood_group": "unknown", "planned_dose_g_per_kg": Decimal("2")}),
    ("group-A-1.9g", "info_haemolysis_risk", {"blood_group": "A", "planned_dose_g_per_kg": Decimal("1.9")}),
    ("group-AB-no-order", "info_haemolysis_risk", {"blood_group": "AB"}),
    ("group-unknown-1.9g", "info_blood_group_unknown",
     {"blood_group": "unknown", "planned_dose_g_per_kg": Decimal("1.9")}),
    ("group-O-2g", "info_blood_group_unknown", {"blood_group": "O", "planned_dose_g_per_kg": Decimal("2")}),
    ("group-A-2g", "info_blood_group_unknown", {"blood_group": "A", "planned_dose_g_per_kg": Decimal("2")}),
    ("group-unknown-no-order", "info_blood_group_unknown", {"blood_group": "unknown"}),
    ("no-deterioration", "response_confirmed_deterioration", {"confirmed_deterioration_on": None}),
    ("screen-negative", "thrombosis_hypercoagulable",
     {"antiphospholipid_screen": "negative", "antiphospholipid_screen_on": LAB_DAY}),
    ("dm-first-infusion-given-today", "info_antiphospholipid_screen",
     {"diagnosis": "adult_dm", "first_infusion_on": TODAY}),
    ("dm-screened-negative", "info_antiphospholipid_screen",
     {"diagnosis": "adult_dm", "antiphospholipid_screen": "negative", "antiphospholipid_screen_on": LAB_DAY}),
    ("polymyositis-unscreened", "info_antiphospholipid_screen", {"diagnosis": "polymyositis"}),
]  # fmt: skip


def test_every_rule_code_has_a_triggering_and_a_near_miss_row():
    assert _rule_codes_in_source() == {row[1] for row in TRIGGERS} == {row[1] for row in NEAR_MISSES}


def _codes_of_finding_calls() -> set[str]:
    """The code argument of every Finding(...) and _from_factors(...) call in risk.rules, read from its syntax."""
    codes = set()
    for node in ast.walk(ast.parse(getsource(rules))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            position = {"Finding": 0, "_from_factors": 1}.get(node.func.id)
            if position is None or len(node.args) <= position:
                continue
            argument = node.args[position]
            if isinstance(argument, ast.Constant):
                codes.add(argument.value)
            elif isinstance(argument, ast.Name) and argument.id.isupper():
                codes.add(getattr(rules, argument.id))
    return codes


def test_flag_codes_lists_exactly_the_codes_the_rules_raise_each_with_a_definition():
    assert set(rules.FLAG_CODES) == _codes_of_finding_calls()
    assert len(rules.FLAG_CODES) == 30
    assert all(
        code.title and code.definition and code.category in rules.CATEGORIES for code in rules.FLAG_CODES.values()
    )


def test_a_finding_must_match_its_flag_code():
    with pytest.raises(ValueError, match="not in risk.rules.FLAG_CODES"):
        rules.Finding("renal_made_up", RENAL, HIGH, "Made up", "", "", "")
    with pytest.raises(ValueError, match="another title or category"):
        rules.Finding("renal_sepsis", RENAL, HIGH, "Septicaemia", "", "", "")


@pytest.mark.parametrize(
    ("code", "fields", "category", "severity", "evidence_names", "evidence_on"),
    [pytest.param(*row[1:], id=f"{row[1]}:{row[0]}") for row in TRIGGERS],
)
def test_chart_triggers_the_rule_with_its_evidence(code, fields, category, severity, evidence_names, evidence_on):
    finding = only(code, rules.evaluate(chart(**fields)))
    assert (finding.category, finding.severity, finding.evidence_on) == (category, severity, evidence_on)
    for name in evidence_names:
        assert name in finding.evidence
    assert finding.title.strip() and finding.mitigation.strip() and finding.source.strip()
    assert finding.puts_at_risk is (category in (THROMBOSIS, RENAL) and severity != INFO)


@pytest.mark.parametrize(("code", "fields"), [pytest.param(*row[1:], id=f"{row[1]}:{row[0]}") for row in NEAR_MISSES])
def test_nearly_identical_chart_does_not_trigger_the_rule(code, fields):
    assert code not in codes(rules.evaluate(chart(**fields)))


def test_a_chart_with_nothing_on_it_gives_no_finding():
    assert rules.evaluate(chart()) == []


@pytest.mark.parametrize(
    ("triglycerides", "threshold", "flagged"),
    [
        ("600", None, False),
        ("500", "500", False),
        ("500.001", "500", True),
        ("600", "500", True),
        ("1001", "1500", False),
    ],
)
def test_hyperviscosity_triglycerides_threshold_is_the_sites(triglycerides, threshold, flagged):
    policy = rules.SitePolicy(hyperviscosity_triglycerides_mg_dl=Decimal(threshold)) if threshold else None
    findings = rules.evaluate(chart(**labs("triglycerides", (triglycerides, LAB_DAY))), policy)
    assert ("thrombosis_hyperviscosity" in codes(findings)) is flagged
    if flagged:
        assert f"above {threshold}" in only("thrombosis_hyperviscosity", findings).evidence


def test_hyperviscosity_joins_factors_and_triglycerides_in_one_finding_dated_by_the_newest():
    fields = factor("paraprotein", "IgG kappa", date(2025, 2, 1)) | labs("triglycerides", ("1200", LAB_DAY))
    finding = only("thrombosis_hyperviscosity", rules.evaluate(chart(**fields)))
    assert "IgG kappa (noted 2025-02-01)" in finding.evidence and "Triglycerides 1200" in finding.evidence
    assert finding.evidence_on == LAB_DAY


def test_cardiovascular_factors_and_obesity_make_one_finding_dated_by_the_newest():
    fields = {
        "risk_factors": (("hypertension", "Hypertension", date(2020, 1, 1)), ("smoking", "Smoking", date(2023, 4, 5))),
        "bmi": Decimal("34.2"),
        "bmi_on": date(2022, 7, 1),
    }
    finding = only("thrombosis_cardiovascular", rules.evaluate(chart(**fields)))
    for part in ("Hypertension (noted 2020-01-01)", "Smoking (noted 2023-04-05)", "BMI 34.2", "2022-07-01"):
        assert part in finding.evidence
    assert finding.evidence_on == date(2023, 4, 5)


@pytest.mark.parametrize(
    ("months", "today", "screened_on"),
    [
        pytest.param(12, date(2026, 11, 22), date(2025, 11, 22), id="12-months-of-365-days"),
        pytest.param(
            12, date(2028, 3, 1), date(2027, 3, 1), id="12-months-across-29-february"),
        pytest.param(
            6, date(2026, 11, 22), date(2026, 5, 22), id="6-months-of-184-days"),
        pytest.param(
            6, date(2026, 8, 22), date(2026, 2, 22), id="6-months-of-181-days"),
    ],
)  # fmt: skip
def test_a_cancer_screen_exactly_the_sites_months_ago_is_recent_and_a_day_older_is_not(months, today, screened_on):
    policy = rules.SitePolicy(cancer_screen_valid_months=months)
    fields = {"today": today, "antibodies": ("tif1g",), "cancer_screen_on": screened_on}
    assert "info_tif1g_cancer_screen" not in codes(rules.evaluate(chart(**fields), policy))
    a_day_older = fields | {"cancer_screen_on": screened_on - DAY}
    finding = only("info_tif1g_cancer_screen", rules.evaluate(chart(**a_day_older), policy))
    assert f"within {months} months" in finding.evidence


def test_cancer_screen_validity_is_the_sites():
    fields = {"antibodies": ("tif1g",), "cancer_screen_on": date(2026, 3, 1)}
    assert "info_tif1g_cancer_screen" not in codes(rules.evaluate(chart(**fields)))
    six_months = rules.SitePolicy(cancer_screen_valid_months=6)
    finding = only("info_tif1g_cancer_screen", rules.evaluate(chart(**fields), six_months))
    assert "within 6 months" in finding.evidence


def _everything() -> ChartSnapshot:
    kinds = ("venous_thrombosis", "immobilisation", "hypercoagulable", "central_catheter", "paraprotein",
             "hypertension", "diabetes", "active_malignancy", "renal_insufficiency", "volume_depletion",
             "sepsis")  # fmt: skip
    return chart(
        age_years=70,
        diagnosis="adult_dm",
        diagnosis_date=TODAY - 100 * DAY,
        antibodies=("tif1g",),
        iga_status="deficient_anti_iga",
        hypersensitivity_to_immunoglobulin=True,
        corn_allergy=True,
        hyperprolinaemia=True,
        blood_group="AB",
        bmi=Decimal("35"),
        bmi_on=LAB_DAY,
        risk_factors=tuple((kind, kind.title(), date(2024, 1, 1)) for kind in kinds),
        medications=(("estrogen", "Estradiol"), ("nephrotoxic", "Gentamicin")),
        labs=labs("creatinine", ("2.0", LAB_DAY), ("1.0", date(2026, 5, 1)))["labs"]
        | labs("egfr", ("25", LAB_DAY))["labs"]
        | labs("triglycerides", ("2000", LAB_DAY))["labs"],
        # Seen 39 days on, 3 days before the next cycle: the Nov 8 creatinine is now too old.
        today=TODAY + 39 * DAY,
        next_cycle_on=TODAY + 42 * DAY,
        planned_dose_g_per_kg=Decimal("2"),
        confirmed_deterioration_on=date(2026, 11, 1),
    )


@pytest.mark.parametrize(
    ("fields", "considered"),
    [
        pytest.param({"age_years": 70}, True, id="thrombosis-flag-standing"),
        pytest.param({"age_years": 70, "medications": (("anticoagulant", "Enoxaparin"),)}, False, id="on-lmwh"),
        pytest.param({"diagnosis": "adult_dm"}, False, id="only-informational-thrombosis-findings"),
        pytest.param({"age_years": 64}, False, id="no-thrombosis-flag"),
    ],
)
def test_anticoagulant_prophylaxis_is_a_consideration_where_thrombosis_flags_stand(fields, considered):
    snapshot = chart(**fields)
    shown = rules.prophylaxis_consideration(snapshot, rules.evaluate(snapshot))
    assert bool(shown) is considered
    if considered:
        assert "Advanced age" in shown[0].evidence and "not a rule" in shown[0].mitigation
        assert "consider_anticoagulant_prophylaxis" not in codes(rules.evaluate(snapshot))  # never a flag


def test_every_rule_at_once_gives_each_code_once_most_severe_first():
    findings = rules.evaluate(_everything())
    # A known blood group (AB, for the haemolysis flag) cannot also be unknown.
    assert sorted(codes(findings)) == sorted(_rule_codes_in_source() - {"info_blood_group_unknown"})
    unknown_group = {finding.code for finding in rules.evaluate(replace(_everything(), blood_group="unknown"))}
    assert "info_blood_group_unknown" in unknown_group and "info_haemolysis_risk" not in unknown_group
    ranks = [rules.SEVERITIES.index(finding.severity) for finding in findings]
    assert ranks == sorted(ranks)
    assert findings[0].severity == HIGH and findings[-1].severity == INFO


def test_puts_at_risk_exactly_for_thrombosis_and_renal_findings_that_are_not_informational():
    at_risk = {finding.code for finding in rules.evaluate(_everything()) if finding.puts_at_risk}
    assert at_risk == {code for _, code, _, category, severity, *_ in TRIGGERS if category in (THROMBOSIS, RENAL)
                       and severity != INFO}  # fmt: skip
    # Informational thrombosis/renal findings, contraindications and a high "other" finding stay out.
    assert not {"info_dm_recent", "info_no_recent_creatinine", "contra_iga_anti_iga"} & at_risk
    assert "response_confirmed_deterioration" not in at_risk


# --- properties over arbitrary charts ------------------------------------------------------

DAYS = st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31))
RISK_FACTOR_KINDS = (
    "venous_thrombosis", "arterial_thrombosis", "immobilisation", "hypercoagulable", "antiphospholipid",
    "central_catheter", "paraprotein", "cryoglobulins", "hypertriglyceridaemia", "hypertension", "diabetes",
    "hyperlipidaemia", "smoking", "coronary_disease", "cerebrovascular_disease", "active_malignancy",
    "renal_insufficiency", "volume_depletion", "sepsis",
)  # fmt: skip


def _decimals(low: str, high: str, places: int):
    return st.decimals(Decimal(low), Decimal(high), places=places, allow_nan=False, allow_infinity=False)


def _lab_series(low: str, high: str):
    values = st.lists(st.tuples(_decimals(low, high, 2), DAYS), max_size=4)
    return values.map(
        lambda items: tuple(LabValue(v, "u", on) for v, on in sorted(items, key=lambda i: -i[1].toordinal()))
    )


@st.composite
def charts(draw) -> ChartSnapshot:
    bmi = draw(st.none() | _decimals("12", "70", 1))
    kinds = draw(st.lists(st.sampled_from(RISK_FACTOR_KINDS), unique=True, max_size=6))
    return ChartSnapshot(
        today=draw(DAYS),
        age_years=draw(st.integers(0, 110)),
        diagnosis=draw(st.sampled_from(["adult_dm", "juvenile_dm", "amyopathic_dm", "polymyositis", "imnm", "other"])),
        diagnosis_date=draw(st.none() | DAYS),
        antibodies=tuple(draw(st.lists(st.sampled_from(["tif1g", "nxp2", "mda5", "jo1"]), unique=True))),
        iga_status=draw(st.sampled_from(["unknown", "normal", "deficient", "deficient_anti_iga"])),
        hypersensitivity_to_immunoglobulin=draw(st.booleans()),
        corn_allergy=draw(st.booleans()),
        hyperprolinaemia=draw(st.booleans()),
        blood_group=draw(st.sampled_from(["unknown", "O", "A", "B", "AB"])),
        cancer_screen_on=draw(st.none() | DAYS),
        bmi=bmi,
        bmi_on=None if bmi is None else draw(DAYS),
        risk_factors=tuple((kind, kind, draw(DAYS)) for kind in kinds),
        medications=tuple(
            draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(
                            ["glucocorticoid", "immunosuppressant", "estrogen", "anticoagulant", "nephrotoxic", "other"]
                        ),
                        st.text(string.ascii_letters, min_size=1, max_size=8),
                    ),
                    max_size=3,
                )
            )
        ),  # fmt: skip
        labs={
            "creatinine": draw(_lab_series("0.1", "10")),
            "egfr": draw(_lab_series("5", "130")),
            "triglycerides": draw(_lab_series("20", "3000")),
        },
        next_cycle_on=draw(st.none() | DAYS),
        planned_dose_g_per_kg=draw(st.none() | _decimals("0.1", "3", 2)),
        confirmed_deterioration_on=draw(st.none() | DAYS),
    )


@settings(max_examples=150, deadline=None, database=None)
@given(charts())
def test_any_chart_informational_findings_never_put_at_risk_and_evaluate_is_deterministic(snapshot):
    findings = rules.evaluate(snapshot)
    assert findings == rules.evaluate(snapshot)
    assert len(set(codes(findings))) == len(findings)
    ranks = [rules.SEVERITIES.index(finding.severity) for finding in findings]
    assert ranks == sorted(ranks)
    for finding in findings:
        assert finding.category in rules.CATEGORIES and finding.severity in rules.SEVERITIES
        assert finding.mitigation and finding.source and finding.evidence
        if finding.severity == INFO or finding.category not in (THROMBOSIS, RENAL):
            assert not finding.puts_at_risk
        else:
            assert finding.puts_at_risk
