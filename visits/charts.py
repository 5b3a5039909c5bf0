"""A patient's course as a printable SVG: the TIS over time and the six core set measures.

Built on the server as text, with no JavaScript and no chart library, so it prints, works
on a closed network and sits under the site's Content-Security-Policy. That policy
(``style-src 'self'``) also covers this SVG when it is opened as its own document, because
the response carries the header: so there is no ``style=`` attribute and no ``<style>``
element here, only presentation attributes (``fill``, ``stroke``, ``font-size``).

``trend_chart_svg`` is pure: it reads the already-loaded visits inside a
``scoring.PatientResponse`` and the dates it is given, and queries nothing. Clinical values
stay ``Decimal``; pixel positions are exact ``Fraction`` arithmetic rounded to 0.1 px.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from html import escape

from patients.medicines import GLUCOCORTICOID_EQUIVALENCE_SOURCE, GlucocorticoidCourse, prednisone_timeline

from . import tis
from .scoring import PatientResponse

WIDTH = 960
# Black and greys print on any printer; one accent colour marks the TIS itself.
INK = "#000000"
GREY = "#595959"
RULE_GREY = "#8c8c8c"
BAND_GREY = "#ebebeb"
ACCENT = "#1f5fa8"
FONT_FAMILY = "DejaVu Sans, Arial, Helvetica, sans-serif"
TITLE_PX = 16
TEXT_PX = 12
SMALL_PX = 11
TINY_PX = 10  # nothing smaller: the brief for print is 10 px at least

# The TIS panel, the prednisone-equivalent panel under it (same time axis, when the caller
# passes the glucocorticoids) and the grid of six small multiples below them.
TIS_LEFT, TIS_TOP, TIS_WIDTH, TIS_HEIGHT = 70, 96, 720, 220
GRID_TOP = TIS_TOP + TIS_HEIGHT + 112
PREDNISONE_TOP, PREDNISONE_HEIGHT = GRID_TOP + 34, 90
PREDNISONE_BLOCK = 34 + PREDNISONE_HEIGHT + 66  # heading above, axis, "not converted" and source below
PREDNISONE_MIN_TOP_MG = Decimal(10)  # the y axis reaches at least 10 mg, so 5 mg never fills the panel
CELL_WIDTH, CELL_HEIGHT, GRID_LEFT, GRID_COLUMNS = 310, 190, 20, 3
CELL_PLOT_LEFT, CELL_PLOT_TOP, CELL_PLOT_WIDTH, CELL_PLOT_HEIGHT = 48, 42, 240, 100
HEIGHT = GRID_TOP + 2 * CELL_HEIGHT + 10
EMPTY_HEIGHT = 120

WEEK_TICK_STEPS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 520)  # powers of two, so week 16 is a tick when it fits
MONTH_TICK_STEPS = (1, 2, 3, 6, 12, 24, 60, 120)

POPULATION_LABELS = {tis.ADULT: "adult DM/PM", tis.JUVENILE: "juvenile DM"}
MMT_SCALE_LABELS = {80: "MMT-8, 0–80", 150: "MMT-8 bilateral, 0–150", 52: "CMAS, 0–52"}

# XML 1.0 cannot carry most control characters at all, escaped or not.
_NOT_XML_CHAR = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class _Measure:
    key: str
    title: str
    higher_is_better: bool


MEASURE_PANELS: tuple[_Measure, ...] = (
    _Measure(tis.PHYSICIAN_GLOBAL, "Physician global activity", higher_is_better=False),
    _Measure(tis.PATIENT_GLOBAL, "Patient / parent global activity", higher_is_better=False),
    _Measure(tis.MMT, "Muscle strength", higher_is_better=True),
    _Measure(tis.HAQ, "HAQ-DI / CHAQ", higher_is_better=False),
    _Measure(tis.ENZYME, "Muscle enzyme", higher_is_better=False),
    _Measure(tis.EXTRAMUSCULAR_GLOBAL, "Extramuscular global activity", higher_is_better=False),
)


# --- SVG text -------------------------------------------------------------------------------


def _text(value: object) -> str:
    return escape(_NOT_XML_CHAR.sub("", str(value)), quote=True)


def _el(tag: str, content: str | None = None, **attrs: object) -> str:
    """One element; ``class_`` -> class, ``font_size`` -> font-size. ``content`` must be escaped already."""
    rendered = "".join(
        f' {name.rstrip("_").replace("_", "-")}="{_text(value)}"' for name, value in attrs.items() if value is not None
    )
    return f"<{tag}{rendered}/>" if content is None else f"<{tag}{rendered}>{content}</{tag}>"


def _label(x: Fraction | int, y: Fraction | int, text: str, *, size: int = SMALL_PX, **attrs: object) -> str:
    return _el("text", _text(text), x=_px(x), y=_px(y), font_size=size, fill=attrs.pop("fill", INK), **attrs)


def _value_label(x: Fraction, y: Fraction, text: str, *, fill: str = INK) -> str:
    # A white outline drawn under the glyphs keeps a value readable where it crosses a line.
    return _label(
        x,
        y,
        text,
        size=TINY_PX,
        text_anchor="middle",
        fill=fill,
        stroke="#ffffff",
        stroke_width=3,
        paint_order="stroke",
    )


def _px(value: Fraction | int) -> str:
    """A pixel coordinate to 0.1 px without going through a float.

    >>> _px(Fraction(1, 3)), _px(Fraction(-5, 2)), _px(40)
    ('0.3', '-2.5', '40')
    """
    tenths = round(Fraction(value) * 10)
    whole, tenth = divmod(abs(tenths), 10)
    sign = "-" if tenths < 0 else ""
    return f"{sign}{whole}" if tenth == 0 else f"{sign}{whole}.{tenth}"


def _number(value: Decimal) -> str:
    """A clinical value as entered, without trailing zeros or exponent: Decimal('6.0') -> '6'."""
    normal = value.normalize()
    return format(normal, "f")


# --- Scales -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """A plot area: dates across, one measure's values up."""

    left: int
    top: int
    width: int
    height: int
    day_from: date
    day_to: date
    low: Decimal = Decimal(0)
    high: Decimal = Decimal(100)

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    def x(self, day: date) -> Fraction:
        return self.left + Fraction((day - self.day_from).days, (self.day_to - self.day_from).days) * self.width

    def y(self, value: Decimal) -> Fraction:
        share = (Fraction(value) - Fraction(self.low)) / (Fraction(self.high) - Fraction(self.low))
        return self.bottom - share * self.height


def _day_domain(days: Iterable[date]) -> tuple[date, date]:
    """The dates shown across, padded so no point sits on the frame (at least a week each side)."""
    days = list(days)
    first, last = min(days), max(days)
    pad = timedelta(days=max(7, (last - first).days // 20))
    return first - pad, last + pad


def _week_ticks(day_from: date, day_to: date, week0: date, max_ticks: int) -> list[tuple[date, str]]:
    first_week = -((week0 - day_from).days // 7)  # ceiling of (day_from - week0) in weeks
    last_week = (day_to - week0).days // 7
    span = max(last_week - first_week, 1)
    step = next((s for s in WEEK_TICK_STEPS if span // s + 1 <= max_ticks), WEEK_TICK_STEPS[-1])
    start = -(-first_week // step) * step
    return [(week0 + timedelta(weeks=w), str(w)) for w in range(start, last_week + 1, step)]


def _month_ticks(day_from: date, day_to: date, max_ticks: int) -> list[tuple[date, str]]:
    # Months counted from year 0 so a step of 3, 6 or 12 lands on quarters and Januaries.
    first = day_from.year * 12 + day_from.month - 1 + (day_from.day > 1)  # first month start on/after day_from
    last = day_to.year * 12 + day_to.month - 1  # last month start on/before day_to
    span = max(last - first, 1)
    step = next((s for s in MONTH_TICK_STEPS if span // s + 1 <= max_ticks), MONTH_TICK_STEPS[-1])
    ticks = []
    for month_index in range(-(-first // step) * step, last + 1, step):
        year, month0 = divmod(month_index, 12)
        ticks.append((date(year, month0 + 1, 1), f"{year}-{month0 + 1:02d}"))
    if len(ticks) < 2:  # a span of a few weeks: label the ends instead of one lonely month
        ticks = [(day, day.isoformat()) for day in (day_from + timedelta(days=3), day_to - timedelta(days=3))]
    return ticks


def _x_ticks(frame: _Frame, week0: date | None, max_ticks: int) -> list[tuple[date, str]]:
    if week0 is not None:
        return _week_ticks(frame.day_from, frame.day_to, week0, max_ticks)
    return _month_ticks(frame.day_from, frame.day_to, max_ticks)


def _nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2 or 5 x 10^n at or above ``value``: Decimal('3120') -> Decimal('5000')."""
    if value <= 0:
        return Decimal(1)
    for mantissa in (1, 2, 5, 10):
        top = Decimal(mantissa).scaleb(value.adjusted())
        if top >= value:
            return top
    raise AssertionError("unreachable: 10 x 10^n is always at or above a value of order n")


def _frame_axes(frame: _Frame, y_ticks: Sequence[Decimal], x_ticks: Sequence[tuple[date, str]], size: int) -> str:
    parts = [
        _el("rect", x=frame.left, y=frame.top, width=frame.width, height=frame.height, fill="none", stroke=RULE_GREY)
    ]
    for value in y_ticks:
        y = frame.y(value)
        parts.append(_el("line", x1=frame.left - 4, y1=_px(y), x2=frame.left, y2=_px(y), stroke=GREY))
        parts.append(_label(frame.left - 7, y + 4, _number(value), size=size, text_anchor="end"))
    for day, text in x_ticks:
        x = frame.x(day)
        parts.append(_el("line", x1=_px(x), y1=frame.bottom, x2=_px(x), y2=frame.bottom + 4, stroke=GREY))
        parts.append(_label(x, frame.bottom + 16, text, size=size, text_anchor="middle"))
    return "".join(parts)


def _infusion_markers(frame: _Frame, infusion_dates: Sequence[date]) -> str:
    return "".join(
        _el(
            "line",
            class_="ivig-marker",
            x1=_px(frame.x(day)),
            y1=frame.top,
            x2=_px(frame.x(day)),
            y2=frame.bottom,
            stroke=RULE_GREY,
            stroke_width=1,
        )
        for day in infusion_dates
    )


# --- The chart ------------------------------------------------------------------------------


def trend_chart_svg(
    course: PatientResponse,
    *,
    patient_label: str,
    infusion_dates: Iterable[date] = (),
    infusion_label: str = "IVIG infusion",
    glucocorticoids: Sequence[GlucocorticoidCourse] | None = None,
) -> str:
    """The SVG document (text) of one patient's course.

    ``course`` is ``scoring.patient_response(patient)``; ``patient_label`` names the patient in
    the title (escaped here); ``infusion_dates`` are the IVIG infusions to mark (today: the
    dates dose orders were verified; later, the scheduled cycle dates). The first infusion
    (``course.first_infusion_on``) is always marked and, when known, is week 0 of the x axis.
    ``infusion_label`` says in the legend and description what the markers stand for.
    ``glucocorticoids`` (``patients.services.glucocorticoid_courses_for``), when given, add a
    panel under the TIS on the same time axis: the daily prednisone-equivalent dose
    (``patients.medicines.prednisone_timeline``), with the names it cannot convert listed.

    Example: a baseline on 2026-01-05 and a visit at week 16 with a TIS of 35 give one TIS point
    at 35 between the dashed lines for minimal (20) and moderate (40), six small multiples each
    with a hollow square at the baseline, and a vertical line at each infusion.
    """
    visits = [scored.visit for scored in course.visits]
    markers = sorted(set(infusion_dates) | ({course.first_infusion_on} if course.first_infusion_on else set()))
    title = f"Response to IVIG: {patient_label}"
    if not visits:
        return _document(
            title,
            [f"{title}. No visits recorded yet, so there is nothing to plot."],
            EMPTY_HEIGHT,
            [
                _label(20, 30, title, size=TITLE_PX, font_weight="bold"),
                _label(20, 64, "No visits recorded yet: the chart starts with the first visit.", size=TEXT_PX),
            ],
        )

    day_from, day_to = _day_domain([visit.visit_date for visit in visits] + markers)
    week0 = course.first_infusion_on
    x_caption = (
        f"Weeks since the first IVIG infusion ({week0.isoformat()})"
        if week0
        else "Visit date (no first infusion recorded)"
    )
    thresholds = tis.CATEGORY_THRESHOLDS[course.population]
    threshold_text = ", ".join(f"{category} ≥ {_number(value)}" for value, category in reversed(thresholds))
    population = POPULATION_LABELS.get(course.population, course.population)
    body = [
        _label(20, 30, title, size=TITLE_PX, font_weight="bold"),
        _label(
            20,
            50,
            f"Total Improvement Score (2016 ACR/EULAR), {population} thresholds: {threshold_text}. "
            "Below: the six core set measures.",
            size=TEXT_PX,
        ),
    ]
    tis_frame = _Frame(TIS_LEFT, TIS_TOP, TIS_WIDTH, TIS_HEIGHT, day_from, day_to)
    panel, tis_desc = _tis_panel(tis_frame, course, markers, x_caption, infusion_label)
    body.append(panel)
    grid_top, height = GRID_TOP, HEIGHT
    prednisone_desc = []
    if glucocorticoids is not None:
        prednisone_frame = _Frame(TIS_LEFT, PREDNISONE_TOP, TIS_WIDTH, PREDNISONE_HEIGHT, day_from, day_to)
        svg, prednisone_desc = _prednisone_panel(prednisone_frame, glucocorticoids, week0, markers)
        body.append(svg)
        grid_top, height = GRID_TOP + PREDNISONE_BLOCK, HEIGHT + PREDNISONE_BLOCK
    measure_desc = []
    for index, measure in enumerate(MEASURE_PANELS):
        row, column = divmod(index, GRID_COLUMNS)
        left = GRID_LEFT + column * CELL_WIDTH
        top = grid_top + row * CELL_HEIGHT
        svg, line = _measure_panel(measure, left, top, day_from, day_to, course, markers)
        body.append(svg)
        measure_desc.append(line)
    desc = [f"{title}. Total Improvement Score (TIS) over time, {population} thresholds {threshold_text}."]
    desc += tis_desc
    desc.append(
        f"Marked ({infusion_label}): " + (", ".join(day.isoformat() for day in markers) if markers else "none") + "."
    )
    desc += prednisone_desc
    desc += measure_desc
    return _document(title, desc, height, body)


def _document(title: str, desc_lines: Sequence[str], height: int, body: Sequence[str]) -> str:
    return "".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>\n',
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
            f'height="{height}" role="img" aria-labelledby="chart-title chart-desc" '
            f'font-family="{_text(FONT_FAMILY)}">',
            _el("title", _text(title), id="chart-title"),
            _el("desc", _text("\n".join(desc_lines)), id="chart-desc"),
            _el("rect", x=0, y=0, width=WIDTH, height=height, fill="#ffffff"),
            *body,
            "</svg>\n",
        ]
    )


def _tis_panel(
    frame: _Frame, course: PatientResponse, markers: Sequence[date], x_caption: str, infusion_label: str
) -> tuple[str, list[str]]:
    parts = []
    week0 = course.first_infusion_on
    if week0 is not None:
        parts.append(_week16_band(frame, week0))
    parts.append(_frame_axes(frame, [Decimal(v) for v in range(0, 101, 20)], _x_ticks(frame, week0, 14), SMALL_PX))
    parts.append(_label(frame.left - 48, frame.top - 8, "TIS (0–100)", size=SMALL_PX))
    parts.append(_label(frame.left + frame.width // 2, frame.bottom + 34, x_caption, text_anchor="middle"))
    for value, category in tis.CATEGORY_THRESHOLDS[course.population]:
        y = _px(frame.y(value))
        parts.append(
            _el(
                "line",
                class_="threshold",
                x1=frame.left,
                y1=y,
                x2=frame.right,
                y2=y,
                stroke=GREY,
                stroke_dasharray="6 4",
            )
        )
        parts.append(_label(frame.right + 8, frame.y(value) + 4, f"{category} ≥ {_number(value)}", size=SMALL_PX))
    parts.append(_infusion_markers(frame, markers))
    for day in markers:
        x = frame.x(day)
        parts.append(
            _el(
                "path",
                d=f"M{_px(x - 5)} {frame.top - 10} L{_px(x + 5)} {frame.top - 10} L{_px(x)} {frame.top - 2} Z",
                fill=GREY,
            )
        )
    if week0 is not None:
        parts.append(_label(frame.x(week0), frame.top - 14, "IVIG start", size=TINY_PX, text_anchor="middle"))

    desc = []
    baseline = course.baseline
    if baseline is None:
        parts.append(
            _label(
                frame.left + frame.width // 2,
                frame.top + frame.height // 2,
                "No baseline visit: mark one on the visits page to score the follow-up visits.",
                size=TEXT_PX,
                text_anchor="middle",
            )
        )
        desc.append("No baseline visit, so no TIS can be computed.")
    else:
        bx, by = frame.x(baseline.visit_date), frame.y(Decimal(0))
        parts.append(
            _el(
                "rect",
                class_="baseline-marker",
                x=_px(bx - 5),
                y=_px(by - 5),
                width=10,
                height=10,
                fill="#ffffff",
                stroke=INK,
                stroke_width=2,
            )
        )
        parts.append(_label(bx, by - 10, "baseline", size=TINY_PX, text_anchor="middle"))
        default_note = (
            " (default: the last visit on or before the first infusion)" if course.baseline_is_default else ""
        )
        desc.append(f"Baseline visit {baseline.visit_date.isoformat()}{default_note}.")

    points, incomplete = [], []
    for scored in course.visits:
        if scored.result is None:
            continue
        when = scored.visit.visit_date.isoformat()
        if scored.weeks_since_first_infusion is not None:
            when += f" (week {scored.weeks_since_first_infusion})"
        scale_note = " MMT scale differs from baseline, so MMT is not compared." if scored.mmt_scale_mismatch else ""
        if scored.result.total is None:
            missing = ", ".join(scored.result.missing)
            incomplete.append(f"{scored.visit.visit_date.isoformat()} (missing {missing})")
            desc.append(f"{when}: TIS incomplete, missing {missing}; not plotted.{scale_note}")
            continue
        total = scored.result.total
        points.append((frame.x(scored.visit.visit_date), frame.y(total), when, total, scored.result.category))
        desc.append(f"{when}: TIS {_number(total)}, {scored.result.category}.{scale_note}")
    if points:
        if len(points) > 1:
            path = " ".join(f"{_px(x)},{_px(y)}" for x, y, *_ in points)
            parts.append(_el("polyline", points=path, fill="none", stroke=ACCENT, stroke_width=2))
        for x, y, when, total, category in points:
            tooltip = _el("title", _text(f"{when}: TIS {_number(total)}, {category}"))
            parts.append(_el("circle", tooltip, class_="tis-point", cx=_px(x), cy=_px(y), r=5, fill=ACCENT))
            parts.append(_value_label(x, y - 9, _number(total), fill=ACCENT))
    elif baseline is not None and not incomplete:
        parts.append(
            _label(
                frame.left + frame.width // 2,
                frame.top + frame.height // 2,
                "No follow-up visit yet: a TIS needs a visit after the baseline.",
                size=TEXT_PX,
                text_anchor="middle",
            )
        )
        desc.append("No follow-up visit after the baseline yet.")

    legend = "● TIS at a follow-up visit   □ baseline visit   - - - category thresholds"
    if week0 is not None:
        legend += "   ▒ week 16 ± 2"
    parts.append(_label(frame.left, frame.bottom + 54, legend, size=SMALL_PX, fill=GREY))
    parts.append(_label(frame.left, frame.bottom + 70, f"▼ | {infusion_label}", size=SMALL_PX, fill=GREY))
    if incomplete:
        parts.append(
            _label(
                frame.left, frame.bottom + 88, "TIS incomplete, not plotted: " + "; ".join(incomplete), size=SMALL_PX
            )
        )
    return "".join(parts), desc


def _week16_band(frame: _Frame, week0: date) -> str:
    start = max(week0 + timedelta(weeks=14), frame.day_from)
    end = min(week0 + timedelta(weeks=18), frame.day_to)
    if start >= end:
        return ""
    x0, x1 = frame.x(start), frame.x(end)
    return _el(
        "rect", class_="week16-window", x=_px(x0), y=frame.top, width=_px(x1 - x0), height=frame.height, fill=BAND_GREY
    ) + _label((x0 + x1) / 2, frame.bottom - 6, "week 16 ± 2", size=TINY_PX, text_anchor="middle", fill=GREY)


# --- Glucocorticoid sparing -------------------------------------------------------------------


def _prednisone_panel(
    frame: _Frame, glucocorticoids: Sequence[GlucocorticoidCourse], week0: date | None, markers: Sequence[date]
) -> tuple[str, list[str]]:
    """The daily prednisone-equivalent dose as steps over the TIS panel's dates.

    Example: prednisone 40 mg/day until 1 March, then methylprednisolone 8 mg/day (10.0 mg
    prednisone) -> a step from 40 down to 10, each labelled, on a 0-50 mg axis.
    """
    points = prednisone_timeline(glucocorticoids, start=frame.day_from, end=frame.day_to)
    high = _nice_ceiling(max([point.prednisone_mg for point in points] + [PREDNISONE_MIN_TOP_MG]))
    frame = _Frame(frame.left, frame.top, frame.width, frame.height, frame.day_from, frame.day_to, Decimal(0), high)
    parts = [
        _label(
            20, frame.top - 12, "Glucocorticoid as prednisone equivalent (mg/day)", size=TEXT_PX, font_weight="bold"
        ),
        _frame_axes(frame, [Decimal(0), high / 2, high], _x_ticks(frame, week0, 14), SMALL_PX),
        _infusion_markers(frame, markers),
    ]
    shown_unconverted = {name for point in points for name in point.unconverted}
    unconverted = [course for course in glucocorticoids if course.name in shown_unconverted]
    if not glucocorticoids:
        parts.append(
            _label(
                frame.left + frame.width // 2,
                frame.top + frame.height // 2,
                "No glucocorticoid recorded.",
                size=TEXT_PX,
                text_anchor="middle",
            )
        )
        desc = ["Glucocorticoids: none recorded."]
    else:
        path = [f"M{_px(frame.x(points[0].on))} {_px(frame.y(points[0].prednisone_mg))}"]
        for index, point in enumerate(points):
            x_from, y = frame.x(point.on), frame.y(point.prednisone_mg)
            if index:
                path.append(f"V{_px(y)}")
            path.append(f"H{_px(frame.x(points[index + 1].on) if index + 1 < len(points) else frame.right)}")
            tooltip = _el("title", _text(f"from {point.on.isoformat()}: {point.prednisone_mg} mg prednisone a day"))
            parts.append(_el("circle", tooltip, class_="prednisone-step", cx=_px(x_from), cy=_px(y), r=3, fill=INK))
            parts.append(_value_label(x_from + 14, y - 6, f"{point.prednisone_mg}"))
        parts.append(_el("path", d=" ".join(path), class_="prednisone-line", fill="none", stroke=INK, stroke_width=2))
        steps = "; ".join(f"from {point.on.isoformat()} {point.prednisone_mg} mg/day" for point in points)
        desc = [f"Glucocorticoids as prednisone equivalent: {steps}."]
    if unconverted:
        listed = "; ".join(
            f"{course.name} {_number(course.daily_dose_mg)} mg/day "
            f"({course.started_on.isoformat() if course.started_on else 'start not recorded'} to "
            f"{course.stopped_on.isoformat() if course.stopped_on else 'current'})"
            for course in unconverted
        )
        text = f"Not converted (no equivalence in the table), not counted above: {listed}"
        parts.append(_label(frame.left, frame.bottom + 36, text, size=SMALL_PX))
        desc.append(text + ".")
    parts.append(_label(20, frame.bottom + 54, f"Source: {GLUCOCORTICOID_EQUIVALENCE_SOURCE}", size=TINY_PX, fill=GREY))
    return "".join(parts), desc


# --- Small multiples -------------------------------------------------------------------------


def _enzyme_followed(course: PatientResponse) -> str | None:
    """The enzyme the TIS follows: the most abnormal at baseline (or, with no baseline, at the first visit with one)."""
    if course.baseline is not None and course.baseline.enzymes():
        return tis.most_abnormal_enzyme(course.baseline.enzymes())
    for scored in course.visits:
        if scored.visit.enzymes():
            return tis.most_abnormal_enzyme(scored.visit.enzymes())
    return None


def _measure_series(measure: _Measure, course: PatientResponse) -> tuple[list[tuple[date, Decimal, bool]], dict]:
    """(visit date, value, is baseline) for each visit that has the measure, and facts for the heading."""
    facts: dict = {}
    series = []
    enzyme = _enzyme_followed(course) if measure.key == tis.ENZYME else None
    scales = set()
    ulns = []
    for scored in course.visits:
        visit = scored.visit
        is_baseline = course.baseline is not None and visit.pk == course.baseline.pk
        if measure.key == tis.ENZYME:
            reading = visit.enzymes().get(enzyme) if enzyme else None
            if reading is None:
                continue
            value, uln = reading
            ulns.append(uln)
        elif measure.key == tis.MMT:
            value = visit.mmt_score
            if value is not None and visit.mmt_max:
                scales.add(visit.mmt_max)
        else:
            value = getattr(visit.core_set_measures(), measure.key)
        if value is not None:
            series.append((visit.visit_date, value, is_baseline))
    facts.update(enzyme=enzyme, scales=sorted(scales), ulns=ulns)
    return series, facts


def _measure_scale(measure: _Measure, series, facts) -> tuple[Decimal, list[Decimal], str]:
    """(top of the y axis, y ticks, unit and range text)."""
    if measure.key in tis.VAS_MEASURES:
        return tis.VAS_MAX_CM, [Decimal(0), Decimal(5), Decimal(10)], "cm, VAS 0–10"
    if measure.key == tis.HAQ:
        return tis.HAQ_MAX, [Decimal(v) for v in range(4)], "score 0–3"
    if measure.key == tis.MMT:
        scales = facts["scales"]
        top = Decimal(max(scales)) if scales else Decimal(tis.MMT8_BILATERAL_MAX)
        if len(scales) > 1:
            unit = "points; scales differ, not comparable"
        else:
            unit = "points, " + (MMT_SCALE_LABELS.get(scales[0], "") if scales else "scale not recorded")
        return top, [Decimal(0), top / 2, top], unit
    ulns = facts["ulns"]
    top = _nice_ceiling(max([value for _, value, _ in series] + ulns, default=Decimal(1)))
    uln_text = f"ULN {_number(ulns[0])}" if ulns and len(set(ulns)) == 1 else "ULN varies"
    return top, [Decimal(0), top / 2, top], f"U/L, {uln_text}" if ulns else "U/L"


def _measure_panel(
    measure: _Measure,
    left: int,
    top: int,
    day_from: date,
    day_to: date,
    course: PatientResponse,
    markers: Sequence[date],
) -> tuple[str, str]:
    series, facts = _measure_series(measure, course)
    high, y_ticks, unit = _measure_scale(measure, series, facts)
    frame = _Frame(
        left + CELL_PLOT_LEFT,
        top + CELL_PLOT_TOP,
        CELL_PLOT_WIDTH,
        CELL_PLOT_HEIGHT,
        day_from,
        day_to,
        Decimal(0),
        high,
    )
    title = measure.title
    if measure.key == tis.ENZYME and facts["enzyme"]:
        title = f"{facts['enzyme'].upper()} (most abnormal at baseline)"
    direction = "higher is better" if measure.higher_is_better else "lower is better"
    parts = [
        _label(left, top + 14, title, size=TEXT_PX, font_weight="bold"),
        _label(left, top + 30, f"{unit} · {direction}", size=SMALL_PX, fill=GREY),
        _frame_axes(frame, y_ticks, _x_ticks(frame, course.first_infusion_on, 5), TINY_PX),
        _infusion_markers(frame, markers),
    ]
    if measure.key == tis.ENZYME and facts["ulns"] and len(set(facts["ulns"])) == 1:
        y = _px(frame.y(facts["ulns"][0]))
        parts.append(
            _el("line", x1=frame.left, y1=y, x2=frame.right, y2=y, stroke=GREY, stroke_dasharray="3 3", class_="uln")
        )
        # At the left edge, inside the frame: the latest value is labelled at the right.
        parts.append(_label(frame.left + 3, frame.y(facts["ulns"][0]) - 3, "ULN", size=TINY_PX, fill=GREY))
    if not series:
        parts.append(
            _label(frame.left + frame.width // 2, frame.top + frame.height // 2, "not recorded", text_anchor="middle")
        )
        return "".join(parts), f"{title}: not recorded."
    if len(series) > 1:
        path = " ".join(f"{_px(frame.x(day))},{_px(frame.y(value))}" for day, value, _ in series)
        parts.append(_el("polyline", points=path, fill="none", stroke=GREY, stroke_width="1.5"))
    unit_short = unit.split(",")[0].split(";")[0]
    for day, value, is_baseline in series:
        x, y = frame.x(day), frame.y(value)
        tooltip = _el(
            "title", _text(f"{day.isoformat()}: {_number(value)} {unit_short}{' (baseline)' if is_baseline else ''}")
        )
        if is_baseline:
            parts.append(
                _el(
                    "rect",
                    tooltip,
                    class_="baseline-marker",
                    x=_px(x - 5),
                    y=_px(y - 5),
                    width=10,
                    height=10,
                    fill="#ffffff",
                    stroke=INK,
                    stroke_width=2,
                )
            )
        else:
            parts.append(_el("circle", tooltip, class_="measure-point", cx=_px(x), cy=_px(y), r="3.5", fill=INK))
    # Print has no tooltips: write the baseline and latest values beside their points.
    labelled = {index for index, (_, _, is_baseline) in enumerate(series) if is_baseline} | {len(series) - 1}
    for index in sorted(labelled):
        day, value, _ = series[index]
        parts.append(_value_label(frame.x(day), frame.y(value) - 8, _number(value)))
    values = "; ".join(
        f"{day.isoformat()} {_number(value)}{' (baseline)' if is_baseline else ''}"
        for day, value, is_baseline in series
    )
    return "".join(parts), f"{title} ({unit}, {direction}): {values}."
