"""VisitForm: what it refuses at the field, and the two helpers that do the sums."""

import doctest
from datetime import date
from decimal import Decimal

import pytest

from accounts.form_errors import call_service
from patients.tests.factories import LabResultFactory, PatientFactory
from visits import forms as visit_forms
from visits.forms import HAQ_CATEGORIES, MMT8_LIMB_GROUPS, VisitForm
from visits.models import Visit
from visits.services import visit_record

TODAY = date(2026, 11, 22)


def _data(physician, **overrides) -> dict:
    """The tis.md worked example's baseline, as typed; None removes a field."""
    data = {
        "visit_date": "2026-11-20",
        "assessor": physician.pk,
        "physician_global_cm": "6",
        "patient_global_cm": "7",
        "extramuscular_global_cm": "4",
        "mmt_scale": "mmt8_80",
        "mmt_score": "60",
        "haq_instrument": "haq_di",
        "haq_score": "1.5",
        "ck_u_per_l": "3000",
        "ck_uln_u_per_l": "200",
        "notes": "",
    } | overrides
    return {key: value for key, value in data.items() if value is not None}


def _form(physician, patient, **overrides) -> VisitForm:
    return VisitForm(_data(physician, **overrides), patient=patient, user=physician)


def _unilateral(neck=8, limbs=(7, 7, 7, 7, 7, 7, 7)) -> dict:
    grades = {"mmt_neck_flexors": str(neck)}
    grades |= {f"mmt_{group}_right": str(grade) for (group, _), grade in zip(MMT8_LIMB_GROUPS, limbs, strict=True)}
    return grades


def _bilateral(neck=10, right=9, left=10) -> dict:
    grades = {"mmt_neck_flexors": str(neck)}
    for group, _ in MMT8_LIMB_GROUPS:
        grades |= {f"mmt_{group}_right": str(right), f"mmt_{group}_left": str(left)}
    return grades


def _haq(scores, aids=()) -> dict:
    answers = {}
    for (category, _), score in zip(HAQ_CATEGORIES, scores, strict=False):
        if score is not None:
            answers[f"haq_{category}"] = str(score)
    for category in aids:
        answers[f"haq_{category}_aids"] = "on"
    return answers


@pytest.fixture
def patient(db):
    return PatientFactory(diagnosis="adult_dm")


def test_docstring_examples():
    assert doctest.testmod(visit_forms).failed == 0


@pytest.mark.django_db
def test_valid_form_gives_exactly_the_visit_fields(physician, patient):
    form = _form(physician, patient)
    assert form.is_valid(), form.errors
    assert set(form.cleaned_data) == set(VisitForm.visit_field_names())
    assert form.cleaned_data["physician_global_cm"] == Decimal("6")
    assert form.cleaned_data["mmt_muscles"] == {} and form.cleaned_data["haq_categories"] == {}


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["physician_global_cm", "patient_global_cm", "extramuscular_global_cm"])
@pytest.mark.parametrize("value", ["12", "10.1", "-0.1"])
def test_vas_outside_0_to_10_is_refused_at_the_field(physician, patient, field, value):
    form = _form(physician, patient, **{field: value})
    assert not form.is_valid()
    assert form.errors[field] == ["Enter a value between 0 and 10 cm."]


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["0", "10", "0.1", "9.9"])
def test_vas_edges_are_accepted(physician, patient, value):
    assert _form(physician, patient, physician_global_cm=value).is_valid()


@pytest.mark.django_db
def test_vas_takes_one_decimal_and_trailing_zeros_are_not_decimals(physician, patient):
    assert "physician_global_cm" in _form(physician, patient, physician_global_cm="4.55").errors
    form = _form(physician, patient, physician_global_cm="4.500", ck_u_per_l="3000.000")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["ck_u_per_l"] == Decimal("3000")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("diagnosis", "scale", "score", "message"),
    [
        ("adult_dm", "mmt8_80", "81", "MMT-8 unilateral (0–80) goes up to 80"),
        ("adult_dm", "mmt8_150", "151", "Enter a value between 0 and 150 points."),
        ("juvenile_dm", "cmas_52", "53", "CMAS (0–52, juvenile) goes up to 52"),
        ("adult_dm", "mmt8_80", "-1", "Enter a value between 0 and 150 points."),
    ],
)
def test_mmt_score_above_its_scale_is_refused_at_the_score(physician, diagnosis, scale, score, message):
    patient = PatientFactory(diagnosis=diagnosis)
    form = _form(physician, patient, mmt_scale=scale, mmt_score=score)
    assert not form.is_valid()
    assert any(message in error for error in form.errors["mmt_score"]), form.errors


@pytest.mark.django_db
def test_mmt_score_needs_its_scale(physician, patient):
    form = _form(physician, patient, mmt_scale="")
    assert form.errors["mmt_scale"] == ["Say which scale the muscle strength score is on."]


@pytest.mark.django_db
def test_cmas_is_offered_for_juvenile_patients_only(physician, patient):
    juvenile = PatientFactory(diagnosis="juvenile_dm", date_of_birth=date(2016, 3, 1))
    assert "cmas_52" not in dict(VisitForm(patient=patient, user=physician).fields["mmt_scale"].choices)
    assert "cmas_52" in dict(VisitForm(patient=juvenile, user=physician).fields["mmt_scale"].choices)
    assert VisitForm(patient=juvenile, user=physician).initial["haq_instrument"] == "chaq"
    assert "mmt_scale" in _form(physician, patient, mmt_scale="cmas_52", mmt_score="40").errors


@pytest.mark.django_db
def test_unilateral_grades_sum_into_the_score_and_are_stored(physician, patient):
    form = _form(physician, patient, mmt_score="", **_unilateral(neck=8, limbs=(7, 6, 9, 5, 10, 0, 4)))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["mmt_score"] == Decimal(49)
    assert form.cleaned_data["mmt_muscles"] == {
        "scale": "mmt8_80",
        "grades": {
            "neck_flexors": 8,
            "deltoid": 7,
            "biceps": 6,
            "wrist_extensors": 9,
            "gluteus_maximus": 5,
            "gluteus_medius": 10,
            "quadriceps": 0,
            "ankle_dorsiflexors": 4,
        },
    }
    assert not any(name.startswith(("mmt_neck", "mmt_deltoid")) for name in form.cleaned_data)


@pytest.mark.django_db
@pytest.mark.parametrize(("neck", "right", "left", "total"), [(10, 10, 10, 150), (9, 9, 10, 142), (0, 0, 0, 0)])
def test_bilateral_grades_count_neck_flexors_once(physician, patient, neck, right, left, total):
    grades = _bilateral(neck=neck, right=right, left=left)
    form = _form(physician, patient, mmt_scale="mmt8_150", mmt_score=None, **grades)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["mmt_score"] == Decimal(total)
    stored = form.cleaned_data["mmt_muscles"]["grades"]
    assert len(stored) == 15 and stored["neck_flexors"] == neck and stored["quadriceps_left"] == left


@pytest.mark.django_db
def test_typed_score_must_agree_with_the_grades(physician, patient):
    agrees = _form(physician, patient, mmt_score="57", **_unilateral())  # 8 + 7 x 7
    assert agrees.is_valid(), agrees.errors
    disagrees = _form(physician, patient, mmt_score="60", **_unilateral())
    assert not disagrees.is_valid()
    assert disagrees.errors["mmt_score"] == [
        "The per-muscle grades add up to 57, not 60. Clear the score to use the sum, or correct the grades."
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"mmt_quadriceps_right": ""}, "mmt_score", "Enter all 8 grades or none: 1 missing (quadriceps)"),
        ({"mmt_biceps_left": "8"}, "mmt_scale", "Left-side grades are entered"),
        ({"mmt_scale": "", "mmt_score": ""}, "mmt_scale", "Per-muscle grades are MMT-8"),
        ({"mmt_deltoid_right": "11"}, "mmt_deltoid_right", "Enter a value between 0 and 10."),
        ({"mmt_deltoid_right": "7.5"}, "mmt_deltoid_right", "Enter a whole number."),
    ],
)
def test_grid_problems_are_refused(physician, patient, overrides, field, message):
    form = _form(physician, patient, **({"mmt_score": ""} | _unilateral() | overrides))
    assert not form.is_valid()
    assert any(message in error for error in form.errors[field]), form.errors


@pytest.mark.django_db
def test_bilateral_grid_needs_both_sides(physician, patient):
    grades = _bilateral()
    del grades["mmt_ankle_dorsiflexors_left"]
    form = _form(physician, patient, mmt_scale="mmt8_150", mmt_score="", **grades)
    assert form.errors["mmt_score"] == ["Enter all 15 grades or none: 1 missing (ankle dorsiflexors left)."]


@pytest.mark.django_db
def test_haq_helper_mean_with_aids_raising_a_category_to_2(physician, patient):
    # Dressing 1 with aids counts 2; eating 3 with aids stays 3: (2 + 3 + 6 x 1) / 8 = 11 / 8.
    answers = _haq([1, 1, 3, 1, 1, 1, 1, 1], aids=["dressing", "eating"])
    form = _form(physician, patient, haq_score="", **answers)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["haq_score"] == Decimal("1.375")
    categories = form.cleaned_data["haq_categories"]["categories"]
    assert categories["dressing"] == {"score": 1, "aids": True, "category_score": 2}
    assert categories["eating"] == {"score": 3, "aids": True, "category_score": 3}
    assert categories["grip"] == {"score": 1, "aids": False, "category_score": 1}


@pytest.mark.django_db
def test_haq_mean_is_an_exact_decimal(physician, patient):
    form = _form(physician, patient, haq_score="1.125", **_haq([2, 1, 1, 1, 1, 1, 1, 1]))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["haq_score"] == Decimal("1.125")
    assert str(form.cleaned_data["haq_score"]) == "1.125"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([1, 1, 1, 1, 1, 2, None, None], Decimal("1.167")),  # 7 / 6, divided by the 6 answered
        ([3, 3, 3, 3, 3, 3, 2, None], Decimal("2.857")),  # 20 / 7
        ([0, 0, 0, 0, 0, 0, 0, 0], Decimal("0.000")),
        ([3, 3, 3, 3, 3, 3, 3, 3], Decimal("3.000")),
    ],
)
def test_haq_divides_by_the_number_answered(physician, patient, scores, expected):
    form = _form(physician, patient, haq_score="", **_haq(scores))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["haq_score"] == expected


@pytest.mark.django_db
def test_fewer_than_6_haq_categories_are_refused(physician, patient):
    form = _form(physician, patient, haq_score="", **_haq([1, 1, 1, 1, 1]))
    assert not form.is_valid()
    assert form.errors["haq_score"] == [
        "Answer at least 6 of the 8 categories (5 answered), or clear them and type the score."
    ]


@pytest.mark.django_db
def test_haq_aids_without_a_score_and_disagreeing_score_are_refused(physician, patient):
    aids_only = _form(physician, patient, **_haq([1, 1, 1, 1, 1, 1, None, 1], aids=["grip"]))
    assert "aids or help raise it to at least 2" in aids_only.errors["haq_grip"][0]
    disagrees = _form(physician, patient, haq_score="1.2", **_haq([1] * 8))
    assert disagrees.errors["haq_score"] == [
        "The categories give 1.000, not 1.2. Clear the score to use the categories, or correct them."
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("enzyme", ["ck", "aldolase", "ast", "alt", "ldh"])
def test_enzyme_without_its_uln_is_refused_at_the_uln(physician, patient, enzyme):
    form = _form(physician, patient, **{"ck_u_per_l": None, "ck_uln_u_per_l": None, f"{enzyme}_u_per_l": "90"})
    assert not form.is_valid()
    assert "upper limit of normal" in form.errors[f"{enzyme}_uln_u_per_l"][0]


@pytest.mark.django_db
def test_assessor_must_be_a_physician(physician, patient, make_user):
    nurse = make_user("nurse")
    assert "assessor" in _form(physician, patient, assessor=nurse.pk).errors
    form = VisitForm(patient=patient, user=physician)
    assert list(form.fields["assessor"].queryset) == [physician]
    assert form.initial["assessor"] == physician.pk


@pytest.mark.django_db
def test_future_date_is_refused_by_the_service_at_the_date(physician, patient):
    form = _form(physician, patient, visit_date="2026-11-23")
    assert form.is_valid(), form.errors
    assert call_service(form, visit_record, by=physician, patient=patient, today=TODAY) is None
    assert form.errors["visit_date"] == ["This date is in the future."]
    assert not Visit.objects.exists()


@pytest.mark.django_db
def test_enzymes_are_prefilled_from_that_days_labs(physician, patient):
    LabResultFactory(patient=patient, test="ck", collected_on=date(2026, 11, 20), value=Decimal("3000.000"))
    LabResultFactory(patient=patient, test="ast", collected_on=date(2026, 11, 19), value=Decimal("80"))
    form = VisitForm(patient=patient, user=physician, lab_day="2026-11-20")
    assert form.initial["visit_date"] == date(2026, 11, 20)
    assert (form.initial["ck_u_per_l"], form.initial["ck_uln_u_per_l"]) == ("3000", "200")
    assert "ast_u_per_l" not in form.initial
    assert form.enzyme_source("ck") == "from the lab result of 2026-11-20"
    retyped = VisitForm(_data(physician, ck_u_per_l="2900"), patient=patient, user=physician)
    assert retyped.enzyme_source("ck") == "differs from the lab result of 2026-11-20: 3000 U/L, ULN 200 U/L"


@pytest.mark.django_db
def test_a_recorded_grid_and_categories_come_back_into_the_correction_form(physician, patient):
    data = _data(physician, mmt_scale="mmt8_150", mmt_score="", haq_score="", **_bilateral(), **_haq([2] * 8))
    data["haq_reach_aids"] = "on"
    form = VisitForm(data, patient=patient, user=physician)
    assert form.is_valid(), form.errors
    visit = visit_record(by=physician, patient=patient, today=TODAY, **form.cleaned_data)
    correction = VisitForm(patient=patient, user=physician, visit=visit)
    assert correction.initial["mmt_neck_flexors"] == 10
    assert (correction.initial["mmt_gluteus_maximus_right"], correction.initial["mmt_gluteus_maximus_left"]) == (9, 10)
    assert (correction.initial["haq_reach"], correction.initial["haq_reach_aids"]) == (2, True)
    assert correction.mmt_grid_open() and correction.haq_grid_open()
    resubmitted = VisitForm(data | {"mmt_score": "143", "haq_score": "2"}, patient=patient, user=physician, visit=visit)
    assert resubmitted.is_valid(), resubmitted.errors
    assert resubmitted.cleaned_data["mmt_muscles"] == visit.mmt_muscles


@pytest.mark.django_db
def test_unilateral_grades_come_back_in_the_first_column(physician, patient):
    form = _form(physician, patient, mmt_score="", **_unilateral())
    assert form.is_valid(), form.errors
    visit = visit_record(by=physician, patient=patient, today=TODAY, **form.cleaned_data)
    initial = VisitForm(patient=patient, user=physician, visit=visit).initial
    assert initial["mmt_deltoid_right"] == 7 and "mmt_deltoid_left" not in initial


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["1E+30", "1e999", "-1e999999", "1e-999999"])
def test_a_number_with_a_huge_exponent_is_refused_at_the_field_not_a_server_error(physician, patient, value):
    # Found by fuzzing: "1E+30" made plain_decimal raise InvalidOperation, a 500 on the visit form.
    form = _form(physician, patient, physician_global_cm=value, ck_u_per_l=value)
    assert not form.is_valid()
    assert {"physician_global_cm", "ck_u_per_l"} <= set(form.errors)


@pytest.mark.django_db
def test_digits_beyond_28_are_not_rounded_away(physician, patient):
    # 28 digits is the decimal context's precision; a 29th must be refused, not rounded to 4.
    form = _form(physician, patient, physician_global_cm="4." + "0" * 28 + "1")
    assert form.errors["physician_global_cm"] == ["Ensure that there are no more than 1 decimal place."]
