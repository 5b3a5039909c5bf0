"""The bedside visit form: the six core set measures, with two optional helpers that do the sums
(per-muscle MMT-8 grades and the 8 HAQ-DI / CHAQ categories).

It converts and checks what was typed; ``visits.services.visit_record`` / ``visit_update`` write
it. After ``is_valid()`` the cleaned data holds exactly the Visit fields those services take:
the helper inputs are folded into ``mmt_score``/``mmt_muscles`` and ``haq_score``/``haq_categories``.
"""

from datetime import date
from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from accounts.input_rules import DateWindowsMixin
from accounts.roles import PHYSICIAN
from patients.forms import DateInput
from patients.models import Patient

from . import instruments, tis
from .models import ENZYME_NAMES, MMT_SCALE_MAX, HaqInstrument, MmtScale, Visit
from .scoring import population_for
from .services import enzyme_labs_on

ENZYME_LABELS = {tis.CK: "CK", tis.ALDOLASE: "Aldolase", tis.AST: "AST", tis.ALT: "ALT", tis.LDH: "LDH"}

# MMT-8 (Kendall 0-10 per group). Neck flexors are axial: tested once on either scale.
NECK_FLEXORS = "neck_flexors"
MMT8_LIMB_GROUPS: tuple[tuple[str, str], ...] = (
    ("deltoid", "Middle deltoid"),
    ("biceps", "Biceps brachii"),
    ("wrist_extensors", "Wrist extensors"),
    ("gluteus_maximus", "Gluteus maximus"),
    ("gluteus_medius", "Gluteus medius"),
    ("quadriceps", "Quadriceps"),
    ("ankle_dorsiflexors", "Ankle dorsiflexors"),
)
MMT8_GROUP_LABELS = {NECK_FLEXORS: "Neck flexors", **dict(MMT8_LIMB_GROUPS)}
RIGHT, LEFT = "right", "left"
# Unilateral MMT-8 grades one side (usually the dominant one): it goes in the first column.
MMT_GRID_SCALES = (MmtScale.MMT8_UNILATERAL, MmtScale.MMT8_BILATERAL)

HAQ_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("dressing", "Dressing & grooming"),
    ("arising", "Arising"),
    ("eating", "Eating"),
    ("walking", "Walking"),
    ("hygiene", "Hygiene"),
    ("reach", "Reach"),
    ("grip", "Grip"),
    ("activities", "Activities"),
)
HAQ_CATEGORY_LABELS = dict(HAQ_CATEGORIES)
HAQ_CATEGORY_SCORES = (
    (0, "0 · without any difficulty"),
    (1, "1 · with some difficulty"),
    (2, "2 · with much difficulty"),
    (3, "3 · unable to do"),
)


def mmt_grade_field_name(group: str, side: str | None = None) -> str:
    return f"mmt_{group}" if side is None else f"mmt_{group}_{side}"


def haq_field_name(category: str) -> str:
    return f"haq_{category}"


def haq_aids_field_name(category: str) -> str:
    return f"haq_{category}_aids"


# Beyond 10^±30 no measure lies; such a number keeps its exponent so that writing it out
# never builds a string of a million digits from "1e999999".
PLAIN_EXPONENT_LIMIT = 30


def plain_decimal(value: Decimal) -> str:
    """A Decimal without trailing zeros or exponent, as a person would write it, digit for digit
    (no rounding to the decimal context's 28 digits).

    >>> [plain_decimal(Decimal(text)) for text in ("3000.000", "3E+3", "2.50", "0.000", "1e999")]
    ['3000', '3000', '2.5', '0', '1E+999']
    """
    if not value.is_finite() or abs(value.adjusted()) > PLAIN_EXPONENT_LIMIT:
        return str(value)
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _between(low: Decimal | int, high: Decimal | int, unit: str = ""):
    def validate(value):
        if value is not None and not low <= value <= high:
            raise ValidationError(f"Enter a value between {low} and {high}{unit}.", code="out_of_range")

    return validate


class PlainDecimalField(forms.DecimalField):
    """Treats 3000.000 as 3000, so trailing zeros (from a lab result, a calculator) never count as
    decimal places; the field still refuses real extra precision (4.55 cm on a 0.1 cm scale)."""

    def to_python(self, value):
        number = super().to_python(value)
        if number is None or not number.is_finite():
            return number
        return Decimal(plain_decimal(number))


def _vas_field(label: str, help_text: str) -> PlainDecimalField:
    return PlainDecimalField(
        label=label,
        required=False,
        decimal_places=1,
        validators=[_between(0, tis.VAS_MAX_CM, " cm")],
        widget=forms.NumberInput(attrs={"step": "0.1", "min": "0", "max": "10", "inputmode": "decimal"}),
        help_text=help_text,
    )


def _grade_field(label: str, side: str | None) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        validators=[_between(0, instruments.MMT8_GRADE_MAX)],
        widget=forms.NumberInput(
            attrs={
                "class": "form-control form-control-sm mmt-grade",
                "min": "0",
                "max": str(instruments.MMT8_GRADE_MAX),
                "step": "1",
                "inputmode": "numeric",
                "data-mmt-side": side or "axial",
            }
        ),
    )


def _enzyme_value_field(name: str) -> PlainDecimalField:
    return PlainDecimalField(
        label=f"{ENZYME_LABELS[name]} (U/L)",
        required=False,
        decimal_places=1,
        validators=[_between(0, Decimal("9999999.9"), " U/L")],
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "inputmode": "decimal"}),
    )


def _enzyme_uln_field(name: str) -> PlainDecimalField:
    return PlainDecimalField(
        label=f"{ENZYME_LABELS[name]} upper limit of normal (U/L)",
        required=False,
        decimal_places=1,
        validators=[_between(Decimal("0.1"), Decimal("999999.9"), " U/L")],
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "inputmode": "decimal"}),
    )


class AssessorChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        name = obj.get_full_name()
        return f"{name} ({obj.get_username()})" if name else obj.get_username()


class VisitForm(DateWindowsMixin, forms.Form):
    """One visit's core set measures. ``patient`` and the signed-in ``user`` are required;
    ``visit`` when correcting one; ``lab_day`` (a ?visit_date= string) picks the day whose lab
    results prefill the enzymes of a new form."""

    visit_date = forms.DateField(label="Visit date", widget=DateInput())
    assessor = AssessorChoiceField(
        label="Assessed by", queryset=get_user_model().objects.none(), help_text="A physician of this clinic."
    )
    is_baseline = forms.BooleanField(
        label="This is the baseline visit",
        required=False,
        help_text="Every later TIS is measured against the baseline. Marking this visit unmarks any other. "
        "With none marked, the default is the last visit on or before the first IVIG infusion.",
    )

    physician_global_cm = _vas_field("Physician global activity (VAS, cm)", "0–10 cm; 0 = no disease activity.")
    patient_global_cm = _vas_field(
        "Patient or parent global activity (VAS, cm)", "0–10 cm, as marked by the patient (juvenile: the parent)."
    )
    extramuscular_global_cm = _vas_field(
        "Extramuscular global activity (VAS, cm)",
        "MDAAT, 0–10 cm: skin, joints, lungs, heart, gut, constitutional.",
    )

    mmt_scale = forms.ChoiceField(
        label="Muscle strength scale", required=False, help_text="Use the same scale as the baseline visit."
    )
    mmt_score = PlainDecimalField(
        label="Muscle strength score (points)",
        required=False,
        decimal_places=1,
        validators=[_between(0, tis.MMT_WIDEST_MAX, " points")],
        widget=forms.NumberInput(attrs={"step": "1", "min": "0", "max": "150", "inputmode": "numeric"}),
        help_text="Leave empty to use the sum of the per-muscle grades below.",
    )

    haq_instrument = forms.ChoiceField(label="Function questionnaire", choices=HaqInstrument.choices)
    haq_score = PlainDecimalField(
        label="HAQ-DI / CHAQ score (0–3)",
        required=False,
        decimal_places=3,
        validators=[_between(0, tis.HAQ_MAX)],
        widget=forms.NumberInput(attrs={"step": "0.001", "min": "0", "max": "3", "inputmode": "decimal"}),
        help_text="Leave empty to use the mean of the categories below.",
    )

    notes = forms.CharField(label="Notes", required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, data=None, *, patient: Patient, user, visit: Visit | None = None, lab_day: str | None = None):
        self.patient = patient
        self.visit = visit
        self.juvenile = population_for(patient) == tis.JUVENILE
        super().__init__(data, initial=self._initial(user, visit))
        self._add_helper_fields()
        self._add_enzyme_fields()
        self._limit_choices(user, visit)
        self.lab_day = self._day_for_labs(lab_day)
        self.lab_panel = enzyme_labs_on(patient, self.lab_day) if self.lab_day else {}
        self._show_labs()

    # --- Building the form -------------------------------------------------------------------

    def _initial(self, user, visit: Visit | None) -> dict:
        if visit is None:
            latest_scale = self.patient.visits.exclude(mmt_scale="").values_list("mmt_scale", flat=True).first()
            return {
                "visit_date": timezone.localdate(),
                "assessor": user.pk,
                "mmt_scale": latest_scale or "",
                "haq_instrument": HaqInstrument.CHAQ if self.juvenile else HaqInstrument.HAQ_DI,
            }
        initial = {name: _shown(getattr(visit, name)) for name in self.visit_field_names() if name != "assessor"}
        initial["assessor"] = visit.assessor_id
        initial.update(self._grid_initial(visit))
        return initial

    @staticmethod
    def visit_field_names() -> list[str]:
        """The Visit fields this form fills; the cleaned data holds exactly these."""
        enzymes = [f"{name}_{suffix}" for name in ENZYME_NAMES for suffix in ("u_per_l", "uln_u_per_l")]
        return [
            "visit_date",
            "assessor",
            "is_baseline",
            "physician_global_cm",
            "patient_global_cm",
            "mmt_scale",
            "mmt_score",
            "mmt_muscles",
            "haq_instrument",
            "haq_score",
            "haq_categories",
            "extramuscular_global_cm",
            *enzymes,
            "notes",
        ]

    @staticmethod
    def _grid_initial(visit: Visit) -> dict:
        initial = {}
        stored = visit.mmt_muscles or {}
        for key, grade in (stored.get("grades") or {}).items():
            # Unilateral grades are stored without a side and shown in the first column.
            group, _, side = key.rpartition("_") if key.endswith((f"_{RIGHT}", f"_{LEFT}")) else (key, "", "")
            if group == NECK_FLEXORS:
                initial[mmt_grade_field_name(NECK_FLEXORS)] = grade
            else:
                initial[mmt_grade_field_name(group, side or RIGHT)] = grade
        for category, answer in ((visit.haq_categories or {}).get("categories") or {}).items():
            initial[haq_field_name(category)] = answer.get("score")
            initial[haq_aids_field_name(category)] = bool(answer.get("aids"))
        return initial

    def _add_helper_fields(self) -> None:
        self.fields[mmt_grade_field_name(NECK_FLEXORS)] = _grade_field("Neck flexors, grade 0–10", None)
        for group, label in MMT8_LIMB_GROUPS:
            for side in (RIGHT, LEFT):
                self.fields[mmt_grade_field_name(group, side)] = _grade_field(f"{label}, {side}, grade 0–10", side)
        for category, label in HAQ_CATEGORIES:
            self.fields[haq_field_name(category)] = forms.TypedChoiceField(
                label=f"{label}: category score (0–3)",
                choices=[("", "—"), *HAQ_CATEGORY_SCORES],
                coerce=int,
                empty_value=None,
                required=False,
                widget=forms.Select(attrs={"class": "form-select form-select-sm haq-score"}),
            )
            self.fields[haq_aids_field_name(category)] = forms.BooleanField(
                label=f"{label}: uses aids or help",
                required=False,
                widget=forms.CheckboxInput(attrs={"class": "form-check-input haq-aids"}),
            )

    def _add_enzyme_fields(self) -> None:
        # Inserted before the notes so the fields keep the order of the page.
        notes = self.fields.pop("notes")
        for name in ENZYME_NAMES:
            self.fields[f"{name}_u_per_l"] = _enzyme_value_field(name)
            self.fields[f"{name}_uln_u_per_l"] = _enzyme_uln_field(name)
        self.fields["notes"] = notes

    def _limit_choices(self, user, visit: Visit | None) -> None:
        physicians = Q(groups__name=PHYSICIAN, is_active=True)
        if visit is not None:
            physicians |= Q(pk=visit.assessor_id)  # an assessor who has since left stays on their visit
        self.fields["assessor"].queryset = (
            get_user_model().objects.filter(physicians).distinct().order_by("last_name", "first_name", "username")
        )
        # CMAS is a juvenile instrument; an adult visit already on CMAS keeps the choice so it can be corrected.
        offered = [
            (value, label)
            for value, label in MmtScale.choices
            if value != MmtScale.CMAS or self.juvenile or (visit is not None and visit.mmt_scale == MmtScale.CMAS)
        ]
        self.fields["mmt_scale"].choices = [("", "—"), *offered]

    # --- Enzymes from that day's lab results -------------------------------------------------

    def _day_for_labs(self, lab_day: str | None) -> date | None:
        """The posted date; unbound, the ?visit_date= asked for (which also becomes the date shown),
        else the visit's own date or today."""
        raw = self.data.get("visit_date") if self.is_bound else lab_day
        day = None
        if raw:
            try:
                day = self.fields["visit_date"].to_python(raw)
            except ValidationError:
                day = None
        if self.is_bound:
            return day
        if day is not None:
            self.initial["visit_date"] = day
            return day
        return self.visit.visit_date if self.visit is not None else self.initial["visit_date"]

    def _show_labs(self) -> None:
        if self.is_bound:
            return
        for name, (value, uln) in self.lab_panel.items():
            # A correction keeps what the visit recorded; labs only fill an enzyme it lacks.
            if self.initial.get(f"{name}_u_per_l") is None:
                self.initial[f"{name}_u_per_l"] = plain_decimal(value)
                if uln is not None:
                    self.initial[f"{name}_uln_u_per_l"] = plain_decimal(uln)

    def _shown_value(self, field_name: str) -> str | None:
        raw = self.data.get(field_name, "") if self.is_bound else self.initial.get(field_name)
        try:
            return None if raw in (None, "") else plain_decimal(Decimal(str(raw)))
        except ArithmeticError:
            return None

    def enzyme_source(self, name: str) -> str:
        """Where the enzyme's numbers come from, for the line beside them."""
        if name not in self.lab_panel:
            return ""
        value, uln = self.lab_panel[name]
        lab = (plain_decimal(value), None if uln is None else plain_decimal(uln))
        day = f"{self.lab_day:%Y-%m-%d}"
        if (self._shown_value(f"{name}_u_per_l"), self._shown_value(f"{name}_uln_u_per_l")) == lab:
            return f"from the lab result of {day}"
        uln_text = f"ULN {lab[1]} U/L" if lab[1] is not None else "no ULN on the result"
        return f"differs from the lab result of {day}: {lab[0]} U/L, {uln_text}"

    # --- Rows for the template ----------------------------------------------------------------

    def mmt_grid(self) -> list[tuple[str, forms.BoundField, forms.BoundField | None]]:
        rows = [(MMT8_GROUP_LABELS[NECK_FLEXORS], self[mmt_grade_field_name(NECK_FLEXORS)], None)]
        for group, label in MMT8_LIMB_GROUPS:
            rows.append((label, self[mmt_grade_field_name(group, RIGHT)], self[mmt_grade_field_name(group, LEFT)]))
        return rows

    def _any_entered(self, names: list[str]) -> bool:
        for name in names:
            value = self.data.get(name) if self.is_bound else self.initial.get(name)
            if value not in (None, "", False) or (self.is_bound and name in self.errors):
                return True
        return False

    def mmt_grid_open(self) -> bool:
        """Whether the per-muscle grid starts open: it holds grades (or their errors)."""
        names = [bound.name for _, right, left in self.mmt_grid() for bound in (right, left) if bound]
        return self._any_entered(names) or (self.is_bound and "mmt_score" in self.errors)

    def haq_grid_open(self) -> bool:
        names = [
            name for category, _ in HAQ_CATEGORIES for name in (haq_field_name(category), haq_aids_field_name(category))
        ]
        return self._any_entered(names) or (self.is_bound and "haq_score" in self.errors)

    def haq_rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        return [
            (label, self[haq_field_name(category)], self[haq_aids_field_name(category)])
            for category, label in HAQ_CATEGORIES
        ]

    def enzyme_rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField, str]]:
        return [
            (ENZYME_LABELS[name], self[f"{name}_u_per_l"], self[f"{name}_uln_u_per_l"], self.enzyme_source(name))
            for name in ENZYME_NAMES
        ]

    # --- Checks -------------------------------------------------------------------------------

    def clean(self):
        cleaned = super().clean()
        self._clean_mmt(cleaned)
        self._clean_haq(cleaned)
        self._clean_enzymes(cleaned)
        helper_names = set(self.fields) - set(self.visit_field_names())
        return {name: value for name, value in cleaned.items() if name not in helper_names}

    def _grades_entered(self, cleaned) -> dict[str, int] | None:
        """Grade field name -> grade, or None when a grade itself was refused (its error is shown)."""
        names = [name for name in self.fields if name.startswith("mmt_") and name not in ("mmt_scale", "mmt_score")]
        if any(name in self.errors for name in names):
            return None
        return {name: cleaned[name] for name in names if cleaned.get(name) is not None}

    def _clean_mmt(self, cleaned) -> None:
        grades = self._grades_entered(cleaned)
        scale = cleaned.get("mmt_scale", "")
        cleaned["mmt_muscles"] = {}
        if grades:
            total = self._mmt_sum(cleaned, scale, grades)
            if total is not None:
                typed = cleaned.get("mmt_score")
                if typed is not None and typed != total:
                    self.add_error(
                        "mmt_score",
                        f"The per-muscle grades add up to {total}, not {plain_decimal(typed)}. "
                        "Clear the score to use the sum, or correct the grades.",
                    )
                    return
                cleaned["mmt_score"] = total
                cleaned["mmt_muscles"] = {"scale": scale, "grades": self._grades_to_store(scale, grades)}
        score = cleaned.get("mmt_score")
        if score is None or "mmt_scale" in self.errors:
            return
        if not scale:
            self.add_error("mmt_scale", "Say which scale the muscle strength score is on.")
        elif score > MMT_SCALE_MAX[scale]:
            top = MMT_SCALE_MAX[scale]
            self.add_error("mmt_score", f"{MmtScale(scale).label} goes up to {top}; enter 0 to {top}.")

    def _mmt_sum(self, cleaned, scale: str, grades: dict[str, int]) -> Decimal | None:
        if scale not in MMT_GRID_SCALES:
            self.add_error(
                "mmt_scale",
                "Per-muscle grades are MMT-8: choose MMT-8 unilateral (0–80) or bilateral (0–150), "
                "or clear the grades.",
            )
            return None
        cells = self.mmt_cells(scale)
        extra = set(grades) - {name for name, _ in cells}
        if extra:
            self.add_error(
                "mmt_scale",
                "Left-side grades are entered: choose MMT-8 bilateral (0–150), or clear the left column "
                "for unilateral MMT-8.",
            )
            return None
        missing = [label for name, label in cells if name not in grades]
        if missing:
            self.add_error(
                "mmt_score",
                f"Enter all {len(cells)} grades or none: {len(missing)} missing ({', '.join(missing)}).",
            )
            return None
        return instruments.mmt8_total(grades, bilateral=scale == MmtScale.MMT8_BILATERAL)

    @staticmethod
    def mmt_cells(scale: str) -> list[tuple[str, str]]:
        """(field name, label) of every grade a complete MMT-8 needs on this scale: 8 or 15."""
        cells = [(mmt_grade_field_name(NECK_FLEXORS), MMT8_GROUP_LABELS[NECK_FLEXORS].lower())]
        for group, label in MMT8_LIMB_GROUPS:
            if scale == MmtScale.MMT8_UNILATERAL:
                cells.append((mmt_grade_field_name(group, RIGHT), label.lower()))
            else:
                cells += [(mmt_grade_field_name(group, side), f"{label.lower()} {side}") for side in (RIGHT, LEFT)]
        return cells

    @staticmethod
    def _grades_to_store(scale: str, grades: dict[str, int]) -> dict[str, int]:
        stored = {}
        for name, grade in grades.items():
            key = name.removeprefix("mmt_")
            if scale == MmtScale.MMT8_UNILATERAL:
                key = key.removesuffix(f"_{RIGHT}")
            stored[key] = grade
        return stored

    def _clean_haq(self, cleaned) -> None:
        answers = {}
        for category, label in HAQ_CATEGORIES:
            score = cleaned.get(haq_field_name(category))
            aids = bool(cleaned.get(haq_aids_field_name(category)))
            if aids and score is None and haq_field_name(category) not in self.errors:
                self.add_error(
                    haq_field_name(category),
                    f"{label}: enter the category score too; aids or help raise it to at least "
                    f"{instruments.HAQ_AIDS_MINIMUM}.",
                )
            if score is not None:
                answers[category] = {
                    "score": score,
                    "aids": aids,
                    "category_score": instruments.haq_category_score(score, aids=aids),
                }
        cleaned["haq_categories"] = {}
        if not answers or any(haq_field_name(category) in self.errors for category, _ in HAQ_CATEGORIES):
            return
        if len(answers) < instruments.HAQ_MIN_CATEGORIES:
            self.add_error(
                "haq_score",
                f"Answer at least {instruments.HAQ_MIN_CATEGORIES} of the 8 categories ({len(answers)} answered), "
                "or clear them and type the score.",
            )
            return
        index = instruments.haq_index({category: answer["category_score"] for category, answer in answers.items()})
        typed = cleaned.get("haq_score")
        if typed is not None and typed != index:
            self.add_error(
                "haq_score",
                f"The categories give {index}, not {plain_decimal(typed)}. "
                "Clear the score to use the categories, or correct them.",
            )
            return
        cleaned["haq_score"] = index
        cleaned["haq_categories"] = {"instrument": cleaned.get("haq_instrument"), "categories": answers}

    def _clean_enzymes(self, cleaned) -> None:
        for name in ENZYME_NAMES:
            uln_field = f"{name}_uln_u_per_l"
            missing_uln = cleaned.get(uln_field) is None and uln_field not in self.errors
            if cleaned.get(f"{name}_u_per_l") is not None and missing_uln:
                self.add_error(uln_field, f"Enter the laboratory's upper limit of normal for {ENZYME_LABELS[name]}.")


def _shown(value):
    """A stored Decimal as the person typed it: 2550.000 U/L shows as 2550."""
    return format(value.normalize(), "f") if isinstance(value, Decimal) else value
