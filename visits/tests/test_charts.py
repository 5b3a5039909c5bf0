"""The trend chart SVG: valid XML, accessible, print-safe, no inline styles, text escaped,
one point per complete TIS, and honest empty states."""

import re
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from patients.medicines import GlucocorticoidCourse
from patients.tests.factories import PatientFactory
from visits import charts
from visits.scoring import patient_response
from visits.services import visit_record
from visits.tests.factories import WORKED_BASELINE as BASELINE
from visits.tests.factories import WORKED_FOLLOWUP

SVG = "{http://www.w3.org/2000/svg}"
TODAY = date(2026, 11, 22)
FIRST_INFUSION = date(2026, 1, 12)


@pytest.fixture
def record(physician):
    def make(patient, day: date, **measures):
        return visit_record(by=physician, patient=patient, today=TODAY, visit_date=day, **measures)

    return make


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode())


def with_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [element for element in root.iter() if element.get("class") == name]


def texts(root: ET.Element) -> list[str]:
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def chart(patient, infusion_dates=()) -> str:
    return charts.trend_chart_svg(
        patient_response(patient),
        patient_label=f"{patient.full_name} (MRN {patient.mrn})",
        infusion_dates=infusion_dates,
    )


@pytest.fixture
def treated(db, record):
    """Baseline, an incomplete visit at week 4 and the worked example at week 16."""
    patient = PatientFactory(ivig_started_on=FIRST_INFUSION, given_name="Ada", family_name="Lovelace")
    record(patient, date(2026, 1, 5), **BASELINE)
    record(patient, date(2026, 2, 9), **(BASELINE | {"haq_score": None}))
    record(patient, date(2026, 5, 4), **WORKED_FOLLOWUP)
    return patient


def test_a_valid_svg_with_title_and_description(treated):
    root = parse(chart(treated))

    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and "Ada Lovelace" in title.text and treated.mrn in title.text
    assert desc is not None and "TIS 35" in desc.text and "minimal" in desc.text
    assert root.get("aria-labelledby") == "chart-title chart-desc"


def test_thresholds_are_drawn_dashed_and_labelled_for_adults(treated):
    root = parse(chart(treated))

    thresholds = with_class(root, "threshold")
    assert len(thresholds) == 3
    assert all(line.get("stroke-dasharray") for line in thresholds)
    labels = texts(root)
    assert {"minimal ≥ 20", "moderate ≥ 40", "major ≥ 60"} <= set(labels)


def test_juvenile_patients_get_juvenile_thresholds(db, record):
    patient = PatientFactory(ivig_started_on=FIRST_INFUSION, diagnosis="juvenile_dm")
    record(patient, date(2026, 1, 5), **BASELINE)
    labels = texts(parse(chart(patient)))
    assert {"minimal ≥ 30", "moderate ≥ 45", "major ≥ 70"} <= set(labels)
    assert "minimal ≥ 20" not in labels


def test_one_point_per_complete_tis_and_incomplete_is_said_not_plotted(treated):
    root = parse(chart(treated))

    points = with_class(root, "tis-point")
    assert len(points) == 1
    assert "TIS 35" in "".join(points[0].itertext())
    # TIS 35 on a 0-100 axis 220 px tall from y=96: 96 + 220 - 35 % of 220 = 239.
    assert points[0].get("cy") == "239"
    desc = root.find(f"{SVG}desc").text
    assert "2026-02-09 (week 4): TIS incomplete, missing haq" in desc
    assert any("TIS incomplete, not plotted: 2026-02-09 (missing haq)" in text for text in texts(root))


def test_the_baseline_is_marked_in_every_panel(treated):
    root = parse(chart(treated))

    # One on the TIS panel and one in each of the six measure panels.
    assert len(with_class(root, "baseline-marker")) == 7
    assert "Baseline visit 2026-01-05" in root.find(f"{SVG}desc").text


def test_infusion_markers_for_the_first_infusion_and_each_date_given(treated):
    root = parse(chart(treated, infusion_dates=[date(2026, 2, 9), date(2026, 3, 9), date(2026, 2, 9)]))

    markers = with_class(root, "ivig-marker")
    # Three distinct dates (first infusion, 2026-02-09, 2026-03-09), on the TIS panel and six measure panels.
    assert len(markers) == 3 * 7
    assert all(m.get("x1") == m.get("x2") for m in markers)
    assert "Marked (IVIG infusion): 2026-01-12, 2026-02-09, 2026-03-09." in root.find(f"{SVG}desc").text
    assert "IVIG start" in texts(root)


def test_weeks_since_first_infusion_on_the_x_axis(treated):
    labels = texts(parse(chart(treated)))
    assert "Weeks since the first IVIG infusion (2026-01-12)" in labels
    assert {"0", "8", "16"} <= set(labels)


def test_dates_on_the_x_axis_without_a_first_infusion(db, record):
    patient = PatientFactory(ivig_started_on=None)
    record(patient, date(2026, 1, 5), **BASELINE)
    record(patient, date(2026, 5, 4), **WORKED_FOLLOWUP)
    root = parse(chart(patient))

    labels = texts(root)
    assert "Visit date (no first infusion recorded)" in labels
    assert "2026-03" in labels
    assert with_class(root, "week16-window") == []


def test_measures_show_units_and_direction(treated):
    labels = texts(parse(chart(treated)))
    assert "cm, VAS 0–10 · lower is better" in labels
    assert "points, MMT-8, 0–80 · higher is better" in labels
    assert "score 0–3 · lower is better" in labels
    assert "U/L, ULN 200 · lower is better" in labels
    assert "CK (most abnormal at baseline)" in labels


def test_no_style_attribute_or_element_and_no_script(treated):
    svg = chart(treated, infusion_dates=[date(2026, 3, 9)])
    root = parse(svg)

    assert all("style" not in element.attrib for element in root.iter())
    assert root.find(f".//{SVG}style") is None
    assert root.find(f".//{SVG}script") is None
    assert "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_text_is_large_enough_to_print(treated):
    sizes = [Fraction(element.get("font-size")) for element in parse(chart(treated)).iter(f"{SVG}text")]
    assert sizes and min(sizes) >= 10


def test_coordinates_have_at_most_one_decimal(treated):
    svg = chart(treated, infusion_dates=[date(2026, 3, 9)])
    numbers = re.findall(r'(?:x|y|x1|x2|y1|y2|cx|cy|width|height)="(-?[0-9.]+)"', svg)
    assert numbers and all(re.fullmatch(r"-?[0-9]+(\.[0-9])?", number) for number in numbers)


def test_the_patient_name_is_escaped(db, record):
    patient = PatientFactory(given_name='<script>alert("x")</script>', family_name="O'Brien & Co")
    record(patient, date(2026, 1, 5), **BASELINE)
    svg = chart(patient)
    root = parse(svg)

    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert root.find(f"{SVG}title").text.startswith('Response to IVIG: <script>alert("x")</script> O\'Brien & Co')
    assert root.find(f".//{SVG}script") is None


def test_control_characters_cannot_break_the_document(db, record):
    patient = PatientFactory(family_name="NullByte\x1b")
    record(patient, date(2026, 1, 5), **BASELINE)
    # PostgreSQL text cannot hold NUL, but data imported elsewhere might: the chart must cope.
    patient.family_name = "Null\x00Byte\x1b"
    assert "NullByte" in parse(chart(patient)).find(f"{SVG}title").text


# ------------------------------------------------------------------------ empty states


def test_no_visits(db):
    patient = PatientFactory(ivig_started_on=FIRST_INFUSION)
    root = parse(chart(patient))

    assert "No visits recorded yet" in root.find(f"{SVG}desc").text
    assert any("No visits recorded yet" in text for text in texts(root))
    assert with_class(root, "tis-point") == []


def test_only_a_baseline(db, record):
    patient = PatientFactory(ivig_started_on=FIRST_INFUSION)
    record(patient, date(2026, 1, 5), **BASELINE)
    root = parse(chart(patient))

    assert with_class(root, "tis-point") == []
    assert len(with_class(root, "baseline-marker")) == 7
    assert "No follow-up visit yet: a TIS needs a visit after the baseline." in texts(root)


def test_no_baseline_before_the_first_infusion(db, record):
    patient = PatientFactory(ivig_started_on=date(2026, 1, 1))
    record(patient, date(2026, 2, 9), **BASELINE)
    root = parse(chart(patient))

    assert with_class(root, "baseline-marker") == []
    assert "No baseline visit, so no TIS can be computed." in root.find(f"{SVG}desc").text
    assert len([e for e in root.iter() if e.get("class") == "measure-point"]) == 6


def test_a_measure_never_recorded_says_so(db, record):
    patient = PatientFactory(ivig_started_on=FIRST_INFUSION)
    no_enzymes = BASELINE | {"ck_u_per_l": None, "ck_uln_u_per_l": None}
    record(patient, date(2026, 1, 5), **no_enzymes)
    record(patient, date(2026, 5, 4), **(WORKED_FOLLOWUP | {"ck_u_per_l": None, "ck_uln_u_per_l": None}))
    root = parse(chart(patient))

    assert "not recorded" in texts(root)
    assert with_class(root, "tis-point") == []
    assert "TIS incomplete, missing enzyme" in root.find(f"{SVG}desc").text


# ------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    "value, expected",
    [
        (Fraction(1, 3), "0.3"),
        (Fraction(-5, 2), "-2.5"),
        (40, "40"),
        (Fraction(2399, 10), "239.9"),
        (Fraction(1, 20), "0"),
    ],
)
def test_pixels_are_rounded_to_a_tenth_without_floats(value, expected):
    assert charts._px(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [("3120", "5000"), ("200", "200"), ("201", "500"), ("0.7", "1"), ("0", "1"), ("9999", "10000")],
)
def test_nice_ceiling(value, expected):
    assert charts._nice_ceiling(Decimal(value)) == Decimal(expected)


# --- Glucocorticoid sparing: the prednisone-equivalent panel under the TIS


STEROIDS = [
    GlucocorticoidCourse("Prednisone", Decimal("40"), date(2025, 12, 1), date(2026, 3, 1)),
    GlucocorticoidCourse("Methylprednisolone", Decimal("8"), date(2026, 3, 1), None),  # = 10.0 mg prednisone
    GlucocorticoidCourse("Budesonide", Decimal("9"), date(2026, 4, 1), None),  # no equivalence in the table
]


def steroid_chart(patient, glucocorticoids=STEROIDS) -> str:
    return charts.trend_chart_svg(
        patient_response(patient),
        patient_label=patient.mrn,
        infusion_dates=[date(2026, 3, 9)],
        glucocorticoids=glucocorticoids,
    )


def test_the_prednisone_equivalent_is_drawn_as_steps_on_the_tis_time_axis(treated):
    root = parse(steroid_chart(treated))
    # Visits 5 Jan to 4 May 2026 padded by a week: the panel starts on 29 Dec 2025, like the TIS panel.
    desc = root.find(f"{SVG}desc").text
    assert (
        "Glucocorticoids as prednisone equivalent: from 2025-12-29 40.0 mg/day; from 2026-03-01 10.0 mg/day; "
        "from 2026-04-01 10.0 mg/day." in desc
    )
    assert (
        "Not converted (no equivalence in the table), not counted above: Budesonide 9 mg/day (2026-04-01 to current)"
        in texts(root)
    )
    [line] = with_class(root, "prednisone-line")
    # 0-50 mg over y 552 (0) to 462 (50): 40 mg at 480, 10 mg at 534. Across 720 px from x 70 for the
    # 133 days: 1 March is day 62 (405.6), 1 April day 93 (573.5), where budesonide adds nothing counted.
    assert line.get("d") == "M70 480 H405.6 V534 H573.5 V534 H790"
    assert len(with_class(root, "prednisone-step")) == 3
    assert {"40.0", "10.0", "50", "25", "0"} <= set(texts(root))
    assert "Glucocorticoid as prednisone equivalent (mg/day)" in texts(root)
    assert any(text.startswith("Source: BNF, 'Glucocorticoid therapy'") for text in texts(root))


def test_the_panel_shares_the_tis_x_axis_and_pushes_the_grid_down(treated):
    without = parse(chart(treated, infusion_dates=[date(2026, 3, 9)]))
    with_panel = parse(steroid_chart(treated))
    assert int(with_panel.get("height")) == int(without.get("height")) + charts.PREDNISONE_BLOCK

    def tick_x(root, label_y):
        return [t.get("x") for t in root.iter(f"{SVG}text") if t.get("y") == label_y]

    tis_ticks = tick_x(with_panel, str(charts.TIS_TOP + charts.TIS_HEIGHT + 16))
    prednisone_ticks = tick_x(with_panel, str(charts.PREDNISONE_TOP + charts.PREDNISONE_HEIGHT + 16))
    assert tis_ticks and prednisone_ticks == tis_ticks
    # The two infusions (first, 9 March) are marked in the prednisone panel too, on the same x.
    assert len(with_class(with_panel, "ivig-marker")) == len(with_class(without, "ivig-marker")) + 2
    in_panel = [m.get("x1") for m in with_class(with_panel, "ivig-marker") if m.get("y1") == str(charts.PREDNISONE_TOP)]
    in_tis = [m.get("x1") for m in with_class(without, "ivig-marker") if m.get("y1") == str(charts.TIS_TOP)]
    assert in_panel == in_tis == ["145.8", "448.9"]


def test_no_glucocorticoid_recorded_says_so(treated):
    root = parse(steroid_chart(treated, glucocorticoids=[]))
    assert "No glucocorticoid recorded." in texts(root)
    assert "Glucocorticoids: none recorded." in root.find(f"{SVG}desc").text
    assert not with_class(root, "prednisone-line")


def test_the_panel_is_print_safe_and_has_no_inline_style(treated):
    svg = steroid_chart(treated)
    root = parse(svg)
    assert all("style" not in element.attrib for element in root.iter())
    assert min(Fraction(element.get("font-size")) for element in root.iter(f"{SVG}text")) >= 10
    numbers = re.findall(r'(?:x|y|x1|x2|y1|y2|cx|cy|width|height)="(-?[0-9.]+)"', svg)
    assert all(re.fullmatch(r"-?[0-9]+(\.[0-9])?", number) for number in numbers)
