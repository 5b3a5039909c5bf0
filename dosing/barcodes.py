"""Vial barcodes: GTINs, NDCs and the GS1 element string a handheld scanner types.

Pure: no ORM, no settings, no clock. The parsing is biip's (GS1 application identifiers, the
GTIN check digit, the symbology identifier, YYMMDD dates with day 00 as the month's last day);
what is ours is the clinic's reading of it: a scan names one GTIN (01), one lot (10) and one
expiry date (17), each refusal a sentence for the nurse, raised as ``FieldError`` naming the
field the text came from.

A US drug's GTIN carries its NDC (GS1 US; the NDC's 10 digits without hyphens):

    GTIN-14 = indicator digit + "03" + NDC (10 digits) + check digit

The unit of sale has indicator digit 0 ("003…"); groupings of it may use another. The 10 digits
do not say where the NDC's hyphens go (4-4-2, 5-3-2 or 5-4-1), so an NDC is kept as printed.
"""

from dataclasses import dataclass
from datetime import date

from biip import ParseError, parse
from biip.checksums import gs1_standard_check_digit
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin

from accounts.errors import FieldError

# Application identifiers read from a vial's DataMatrix.
AI_GTIN, AI_EXPIRY, AI_LOT = "01", "17", "10"
NDC_SHAPES = ((4, 4, 2), (5, 3, 2), (5, 4, 1))
# GS1 prefix of a US drug's GTIN-14 after its indicator digit: the NDC follows it.
NDC_PREFIX = "03"
SCAN_MAX_CHARS = 200


def gtin14(value: str, *, field: str = "gtin") -> str:
    """A GTIN as its 14 digits, after checking its GS1 check digit (biip); spaces are ignored.

    GTIN-8, -12 and -13 are padded with zeros, as GS1 stores them.

    >>> gtin14("0 0344206 43940 1")
    '00344206439401'
    >>> gtin14("9520000000035")
    '09520000000035'
    >>> gtin14("00344206439402")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    accounts.errors.FieldError: gtin: 00344206439402 has a wrong check digit (the last digit should be 1, not 2)...
    """
    digits = "".join((value or "").split())
    if not digits:
        raise FieldError(field, "enter the GTIN: the 14 digits under the barcode")
    if not digits.isdigit() or not digits.isascii():
        raise FieldError(field, f"a GTIN has digits only; “{digits[:20]}” is not one")
    if len(digits) not in (8, 12, 13, 14):
        raise FieldError(field, f"a GTIN has 14 digits (or 8, 12 or 13), not {len(digits)}")
    try:
        Gtin.parse(digits)
    except ParseError:
        expected = gs1_standard_check_digit(digits[:-1])
        raise FieldError(
            field,
            f"{digits} has a wrong check digit (the last digit should be {expected}, not {digits[-1]}): "
            "it is no GTIN. Check the digits, or scan again.",
        ) from None
    return digits.zfill(14)


def ndc_digits(ndc: str, *, field: str = "ndc") -> str:
    """The 10 digits of an NDC written with its hyphens (4-4-2, 5-3-2 or 5-4-1).

    >>> ndc_digits("44206-439-40")
    '4420643940'
    >>> ndc_digits("0069-6550-02")
    '0069655002'
    """
    parts = (ndc or "").strip().split("-")
    shape = tuple(len(part) for part in parts)
    if shape not in NDC_SHAPES or not all(part.isdigit() and part.isascii() for part in parts):
        raise FieldError(
            field, f"write the NDC as printed, with its hyphens (4-4-2, 5-3-2 or 5-4-1), e.g. 44206-439-40; not “{ndc}”"
        )
    return "".join(parts)


def gtin_from_ndc(ndc: str, *, indicator: int = 0) -> str:
    """The GTIN-14 that carries an NDC (GS1 US): indicator digit, "03", the NDC's 10 digits, check digit.

    >>> gtin_from_ndc("44206-439-40")
    '00344206439401'
    >>> gtin_from_ndc("0069-6550-02")
    '00300696550026'
    """
    payload = f"{indicator}{NDC_PREFIX}{ndc_digits(ndc)}"
    return payload + str(gs1_standard_check_digit(payload))


def ndc_mismatch(ndc: str, gtin: str) -> str | None:
    """Why an NDC cannot be the one a GTIN carries, in words; None when it can.

    Only a GTIN made from an NDC (GS1 US prefix 03 after the indicator digit) carries one;
    another GTIN says nothing about the NDC.

    >>> ndc_mismatch("44206-439-40", "00344206439401") is None
    True
    >>> ndc_mismatch("44206-438-20", "00344206439401")
    'GTIN 00344206439401 carries the NDC digits 4420643940; NDC 44206-438-20 is 4420643820.'
    """
    digits = ndc_digits(ndc)
    if gtin[1:3] != NDC_PREFIX or gtin[3:13] == digits:
        return None
    return f"GTIN {gtin} carries the NDC digits {gtin[3:13]}; NDC {ndc} is {digits}."


@dataclass(frozen=True)
class VialScan:
    """What a vial's GS1 DataMatrix says: its GTIN-14, lot and expiry ("" and None when absent)."""

    gtin: str
    lot_number: str
    expiry_date: date | None

    def missing(self) -> str | None:
        """Why this scan cannot record a lot on its own (no lot or no expiry), or None.

        A lot that runs into "17" and six digits is the usual sign of a scanner that does not
        send the group separator after the lot (a variable-length field), so that is said too.
        """
        absent = [
            name for name, value in (("lot (10)", self.lot_number), ("expiry date (17)", self.expiry_date)) if not value
        ]
        if not absent:
            return None
        sentence = f"The scan has no {' and no '.join(absent)}."
        if self.expiry_date is None and AI_EXPIRY in self.lot_number[1:]:
            sentence += (
                f" Its lot reads “{self.lot_number}”: if that runs into the expiry date, the scanner is not sending "
                "the group separator (FNC1) after the lot."
            )
        return f"{sentence} Scan the 2D barcode on the carton, or clear the scan and type the lot and expiry date."


def _message(text: str) -> GS1Message:
    """The element strings of a scan: with the symbology identifier (]d2, ]C1, ]Q3) and GS
    separators as the scanner types them, or in parentheses as printed under the barcode."""
    body = text
    if body.startswith("]"):
        if len(body) < 3:
            raise ParseError(f"a symbology identifier is ']' and two characters, not {body!r}")
        body = body[3:]
    if body.lstrip().startswith("("):
        return GS1Message.parse_hri(body)
    result = parse(text)
    message = result.gs1_message
    if message is not None and message.element_strings.get(ai=AI_GTIN) is not None:
        return message
    if result.gtin is not None:
        # A linear barcode (EAN/UPC, ITF-14) holds a GTIN only; its digits may also read as
        # another application identifier ("10…" as a lot), which is not what was scanned.
        return GS1Message.parse(f"{AI_GTIN}{result.gtin.as_gtin_14()}")
    if message is not None:
        return message
    raise ParseError(result.gs1_message_error or "no GS1 application identifiers")


def parse_vial_scan(text: str, *, field: str = "gs1") -> VialScan:
    """Read a scanned GS1 element string: GTIN (01), expiry date (17, YYMMDD) and lot (10).

    A day of 00 is the month's last day (GS1). Raises ``FieldError(field, ...)`` when the text
    is no GS1 element string, has no GTIN, or its GTIN's check digit is wrong.

    >>> parse_vial_scan("]d2010952000000003517271231101234AB")
    VialScan(gtin='09520000000035', lot_number='1234AB', expiry_date=datetime.date(2027, 12, 31))
    >>> parse_vial_scan("0109520000000035101234AB\\x1d17270200").expiry_date
    datetime.date(2027, 2, 28)
    >>> parse_vial_scan("(01)09520000000035(17)270630(10)1234AB").lot_number
    '1234AB'
    """
    text = (text or "").strip()
    if not text:
        raise FieldError(field, "nothing was scanned")
    if len(text) > SCAN_MAX_CHARS:
        raise FieldError(field, f"a vial's barcode has at most {SCAN_MAX_CHARS} characters; this is {len(text)}")
    try:
        message = _message(text)
    # biip raises ParseError for what it reads and refuses; LookupError for a few inputs it does not
    # expect (seen: a lone "]"). Either way the nurse's scan is unreadable, never a server error.
    except (ParseError, ValueError, LookupError) as error:
        raise FieldError(
            field,
            "this is not a GS1 barcode the clinic can read (GTIN 01, expiry 17, lot 10): "
            f"{str(error).rstrip('.')}. Scan the vial's 2D barcode again, or clear the scan and type the fields.",
        ) from None
    found = message.element_strings.get(ai=AI_GTIN)
    if found is None:
        raise FieldError(field, "the scan has no GTIN (01): scan the 2D barcode on the vial's carton")
    gtin = gtin14(found.value, field=field)
    lot = message.element_strings.get(ai=AI_LOT)
    expiry = message.element_strings.get(ai=AI_EXPIRY)
    return VialScan(gtin=gtin, lot_number=lot.value if lot else "", expiry_date=expiry.date if expiry else None)
