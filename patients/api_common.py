"""What every route of the JSON API shares: how a body is read, exact numbers, and the one 422 shape.

Lives in the lowest app with an API so that dosing and visits both build on it without
importing each other. ``ivig_clinic/urls.py`` plugs `DecimalJsonParser` and
`invalid_input_body` into the NinjaAPI.

- A JSON body is read with ``json.loads(parse_float=Decimal)``: a JSON number becomes a
  ``Decimal`` from its written text, never through a binary float (2.2 → 0.7 cm is exactly
  15 %, not 15.000000000000002 %).
- A time is ISO 8601 text with its UTC offset (``2026-11-22T09:05:00-05:00`` or ``...Z``);
  one without an offset is refused at its field rather than read in a zone the server guesses.
- Every 422, from a schema, a query or path value, or a clinical rule checked in a route,
  has one shape: ``{"detail": ..., "errors": [{"field": ..., "message": ...}]}`` with a dotted
  field path such as ``baseline.physician_global`` (null when the body as a whole is at fault).
"""

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from ninja import Field, Schema
from ninja.errors import ValidationError
from ninja.parser import Parser
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from accounts.input_rules import DATE_WINDOWS

DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
DECIMAL_TEXT_PATTERN = "^" + DECIMAL_TEXT.pattern + "$"
WHOLE_TEXT = re.compile(r"[0-9]+")


# ------------------------------------------------------------------------ reading


class JsonConstant(str):
    """NaN, Infinity or -Infinity as written in a body. No number field accepts it, so the
    422 names the field it was given for."""


class UnreadableBody:
    """A body that is not JSON. Ninja answers 400 to a parser's exception; handed on as a
    value instead, it is refused by `JsonObjectBody` and answered 422 like any bad input."""

    def __init__(self, error: str):
        self.error = error


MAX_JSON_DEPTH = 32  # no body of this API nests more than a few levels


def _json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def nul_fields(value: Any) -> list[str]:
    """The dotted paths of the strings (or keys) in a parsed body that hold a NUL character.

    >>> nul_fields({"product": "octa\x00gam", "baseline": {"mmt": 1}, "list": ["ok", "x\x00"]})
    ['product', 'list.1']
    """
    found, stack = [], [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            found.append(".".join(path) or None)
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, (*path, key)) if "\x00" in key else (child, (*path, key)))
        elif isinstance(item, list):
            stack.extend((child, (*path, str(index))) for index, child in enumerate(item))
    return sorted(found, key=lambda field: field or "")


class DecimalJsonParser(Parser):
    """Reads a body for every route. A body nested deeper than MAX_JSON_DEPTH, or too deep for
    Python to read at all, is refused like any unreadable body (422), not a server error; a NUL
    character in any string (PostgreSQL text cannot hold one) is refused at its field."""

    def parse_body(self, request):
        try:
            data = json.loads(request.body, parse_float=Decimal, parse_constant=JsonConstant)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
            return UnreadableBody(str(exc))
        except RecursionError:
            return UnreadableBody(f"it is nested more than {MAX_JSON_DEPTH} levels deep")
        if _json_depth(data) > MAX_JSON_DEPTH:
            return UnreadableBody(f"it is nested more than {MAX_JSON_DEPTH} levels deep")
        fields = nul_fields(data)
        if fields:
            return BodyWithNul(fields)
        return data


class BodyWithNul(UnreadableBody):
    """A body with a NUL character in a string: refused at each field that holds one."""

    def __init__(self, fields: list[str | None]):
        super().__init__("a NUL character")
        self.fields = fields


class JsonObjectBody(BaseModel):
    """A request body: one JSON object, whose unknown keys are refused (a misspelt or
    unsupported flag must not be ignored silently). A plain pydantic model, not a Ninja
    Schema: Schema reads any object by its attributes (for ORM rows), so a list would pass
    as an object with every field missing instead of being refused as a whole."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _a_json_object(cls, data: Any) -> Any:
        if isinstance(data, BodyWithNul):
            # Raised past pydantic to the API's one 422 handler, which names each field.
            raise InvalidInput([{"field": field, "message": NUL_MESSAGE} for field in data.fields])
        if isinstance(data, UnreadableBody):
            raise PydanticCustomError("json_invalid", "The body is not valid JSON: {error}", {"error": data.error})
        if not isinstance(data, dict):
            raise PydanticCustomError("json_object", "The body must be a JSON object.")
        return data

    @field_validator("*", mode="after")
    @classmethod
    def _date_in_its_window(cls, value: Any, info: ValidationInfo) -> Any:
        # Every date of every body within the window its name has (accounts.input_rules).
        if isinstance(value, date) and not isinstance(value, datetime):
            try:
                DATE_WINDOWS[info.field_name].check(value, timezone.localdate())
            except DjangoValidationError as exc:
                raise PydanticCustomError("date_window", "{message}", {"message": exc.messages[0]}) from None
        return value


# ------------------------------------------------------------------- exact numbers


def exact_decimal(value: Any) -> Decimal:
    """A JSON number (already a Decimal or int, see DecimalJsonParser) or a plain decimal
    string such as "70.1"; nothing else, so "70,1", "1_000", " 70" or "NaN" are refused."""
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str) and DECIMAL_TEXT.fullmatch(value):
        return Decimal(value)
    raise PydanticCustomError(
        "decimal_text",
        "must be a number such as 70.1 (a JSON number or a decimal string), not {value}",
        {"value": repr(value)},
    )


def whole_number(value: Any) -> int:
    """A JSON integer, a Decimal with no fraction (2.0) or digits as text ("2")."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and WHOLE_TEXT.fullmatch(value):
        return int(value)
    raise PydanticCustomError("whole_number", "must be a whole number, not {value}", {"value": repr(value)})


def decimal_text_schema(schema: dict) -> None:
    # Document the string form as the API reads it (pydantic's own pattern is looser).
    for branch in schema.get("anyOf", []):
        if branch.get("type") == "string":
            branch["pattern"] = DECIMAL_TEXT_PATTERN


def whole_text_schema(schema: dict) -> None:
    number = {key: schema.pop(key) for key in ("type", "minimum") if key in schema}
    schema["anyOf"] = [number, {"type": "string", "pattern": "^" + WHOLE_TEXT.pattern + "$"}]


ExactDecimal = Annotated[Decimal, BeforeValidator(exact_decimal)]
WholeNumber = Annotated[int, BeforeValidator(whole_number)]
DecimalText = Annotated[str, Field(json_schema_extra={"format": "decimal"}, description="Exact decimal, as text.")]


# ------------------------------------------------------------------- times and text

TIME_EXAMPLE = "2026-11-22T09:05:00-05:00"


def aware_time(value: Any) -> datetime:
    """ISO 8601 text with a UTC offset: "2026-11-22T09:05:00-05:00" or "2026-11-22T14:05:00Z".
    A number or a time without an offset is refused: the zone it was meant in is not guessed."""
    if not isinstance(value, str):
        raise PydanticCustomError(
            "iso_time", "must be an ISO 8601 date and time as text, such as {example}", {"example": TIME_EXAMPLE}
        )
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError(
            "iso_time",
            "must be an ISO 8601 date and time such as {example}, not {value}",
            {"example": TIME_EXAMPLE, "value": repr(value)},
        ) from None
    if moment.utcoffset() is None:
        raise PydanticCustomError(
            "naive_time",
            "needs its UTC offset (such as -05:00 or Z): {value} does not say which time zone it is in",
            {"value": repr(value)},
        )
    try:
        # Stored in UTC and shown in the clinic's zone: a moment neither can hold is no moment here.
        moment.astimezone(UTC)
        timezone.localtime(moment)
    except OverflowError:
        raise PydanticCustomError("time_range", "is out of range: {value}", {"value": repr(value)}) from None
    return moment


NUL_MESSAGE = "must not contain a NUL character"


def plain_text(value: str) -> str:
    # The forms refuse it too (Django's ProhibitNullCharactersValidator); PostgreSQL cannot store it.
    if "\x00" in value:
        raise PydanticCustomError("nul_character", NUL_MESSAGE)
    return value


AwareTime = Annotated[
    datetime,
    BeforeValidator(aware_time),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": [TIME_EXAMPLE]}),
]
PlainText = Annotated[str, AfterValidator(plain_text)]


# -------------------------------------------------------------------------- errors


class InvalidInput(ValidationError):
    """Input that passed the schema but not a rule checked in the route (an unknown product,
    days outside the indication's range), already as ``{"field", "message"}`` errors.
    A Ninja ValidationError, so the API's one handler answers it."""


def _field(loc: tuple) -> str | None:
    source, *path = loc
    if source == "body":
        path = path[1:]  # Ninja puts the name of the route's body parameter first
    if path and path[-1] == "[key]":
        path = path[:-1]  # a bad key of a dict is reported at <dict>.<key>.[key]: the key is the field
    return ".".join(str(part) for part in path) or None


def field_errors(errors: list[dict]) -> list[dict]:
    """Ninja's validation errors (``loc``, ``msg``, ``type``) as ``{"field", "message"}``."""
    shaped = []
    for error in errors:
        field = _field(tuple(error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        if field is None and error["type"] == "missing":
            message = "The body is empty; it must be a JSON object."
        shaped.append({"field": field, "message": message})
    return shaped


def invalid_input_body(exc: ValidationError) -> dict:
    """The 422 answer to any validation error of any route."""
    errors = exc.errors if isinstance(exc, InvalidInput) else field_errors(exc.errors)
    fields = ", ".join(sorted({error["field"] or "body" for error in errors}))
    return {"detail": f"Invalid input: {fields}.", "errors": errors}


# ----------------------------------------------------------------------- responses


class MessageOut(Schema):
    detail: str


class FieldErrorOut(Schema):
    field: str | None = Field(description="The request field at fault; null when the body as a whole is.")
    message: str


class InvalidInputOut(Schema):
    detail: str
    errors: list[FieldErrorOut]
