"""dosing/barcodes.py: GTIN check digits, NDCs inside GTINs, and the element string a scanner types.

Test codes use GS1 prefix 952, which GS1 keeps for demonstrations and examples: no real
product can carry them. The real codes below are the catalog's cited ones (migration 0010).
"""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.errors import FieldError
from dosing.barcodes import VialScan, gtin14, gtin_from_ndc, ndc_digits, ndc_mismatch, parse_vial_scan

DEMO = "09520000000035"  # GTIN-13 9520000000035 as 14 digits
GS = "\x1d"


# ----------------------------------------------------------------------- GTIN and NDC


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("09520000000035", DEMO),
        ("9520000000035", DEMO),  # GTIN-13
        (" 0952 0000 0000 35 ", DEMO),
        ("00344206439401", "00344206439401"),
        ("344206439401", "00344206439401"),  # GTIN-12 (UPC-A of an NDC)
        ("96385074", "00000096385074"),  # GTIN-8
    ],
)
def test_a_gtin_is_stored_as_14_digits(typed, stored):
    assert gtin14(typed) == stored


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("09520000000036", "wrong check digit (the last digit should be 5, not 6)"),
        ("00300123456789", "the last digit should be 5, not 9"),  # the example string
        ("09520000000", "14 digits (or 8, 12 or 13), not 11"),
        ("095200000000351", "not 15"),
        ("0952OOOOOOOO35", "digits only"),
        ("０９５２００００００００３５", "digits only"),  # full-width digits are not GTIN digits
        ("", "enter the GTIN"),
    ],
)
def test_a_bad_gtin_is_refused_at_its_field(typed, message):
    with pytest.raises(FieldError) as error:
        gtin14(typed, field="gtin")
    assert error.value.field == "gtin" and message in error.value.message


@pytest.mark.parametrize(
    ("ndc", "digits"), [("44206-439-40", "4420643940"), ("0069-6550-02", "0069655002"), ("64208-8234-6", "6420882346")]
)
def test_an_ndc_is_written_with_its_hyphens(ndc, digits):
    assert ndc_digits(ndc) == digits


@pytest.mark.parametrize("ndc", ["4420643940", "44206-439-4", "44206-4390-40", "44206_439_40", "4420-6439-40x", ""])
def test_an_ndc_without_its_hyphens_or_shape_is_refused(ndc):
    with pytest.raises(FieldError, match="ndc: write the NDC as printed"):
        ndc_digits(ndc)


@pytest.mark.parametrize(
    ("ndc", "gtin"),
    [
        # The catalog's cited NDCs and the GTINs migration 0010 stores for them.
        ("44206-439-40", "00344206439401"),
        ("0069-6550-02", "00300696550026"),
        ("0069-8476-02", "00300698476027"),
        ("68982-840-01", "00368982840015"),
        ("0944-2700-03", "00309442700036"),
        ("68982-822-02", "00368982822028"),
    ],
)
def test_the_gtin_of_an_ndc(ndc, gtin):
    assert gtin_from_ndc(ndc) == gtin
    assert ndc_mismatch(ndc, gtin) is None


@given(st.from_regex(r"\A[0-9]{10}\Z"), st.sampled_from([(4, 4, 2), (5, 3, 2), (5, 4, 1)]), st.integers(0, 8))
def test_every_ndc_makes_a_valid_gtin_that_carries_it(digits, shape, indicator):
    first, second, _ = shape
    ndc = f"{digits[:first]}-{digits[first : first + second]}-{digits[first + second :]}"
    gtin = gtin_from_ndc(ndc, indicator=indicator)
    assert gtin14(gtin) == gtin and gtin[0] == str(indicator) and gtin[1:3] == "03" and gtin[3:13] == digits
    assert ndc_mismatch(ndc, gtin) is None


def test_an_ndc_that_is_not_the_gtins_is_named():
    assert ndc_mismatch("44206-438-20", "00344206439401") == (
        "GTIN 00344206439401 carries the NDC digits 4420643940; NDC 44206-438-20 is 4420643820."
    )


def test_a_gtin_not_made_from_an_ndc_says_nothing_about_it():
    assert ndc_mismatch("44206-439-40", DEMO) is None


# ----------------------------------------------------------------------- scans


@pytest.mark.parametrize(
    ("scan", "expected"),
    [
        # DataMatrix with its symbology identifier, as a handheld scanner types it.
        (f"]d201{DEMO}17271231101234AB", VialScan(DEMO, "1234AB", date(2027, 12, 31))),
        # Without the identifier; the lot last needs no separator.
        (f"01{DEMO}17271231101234AB", VialScan(DEMO, "1234AB", date(2027, 12, 31))),
        # The lot before the expiry: the group separator (FNC1) ends the variable-length lot.
        (f"01{DEMO}101234AB{GS}17271231", VialScan(DEMO, "1234AB", date(2027, 12, 31))),
        (f"]d201{DEMO}101234AB{GS}17271231{GS}21SERIAL9", VialScan(DEMO, "1234AB", date(2027, 12, 31))),
        (f"{GS}01{DEMO}{GS}17271231{GS}10LOT-7{GS}", VialScan(DEMO, "LOT-7", date(2027, 12, 31))),
        # Serial (21) and other identifiers are read past, not recorded.
        (f"01{DEMO}21ABC123{GS}17280131101234AB", VialScan(DEMO, "1234AB", date(2028, 1, 31))),
        # As printed under the barcode, in parentheses (typed by hand or by a scanner set to do so).
        (f"(01){DEMO}(17)271231(10)1234AB", VialScan(DEMO, "1234AB", date(2027, 12, 31))),
        (f"(01) {DEMO} (10) 1234AB (17) 271231", VialScan(DEMO, "1234AB", date(2027, 12, 31))),
        (f"]d2(01){DEMO}(17)271231(10)1234AB", VialScan(DEMO, "1234AB", date(2027, 12, 31))),
        # Day 00 is the month's last day (GS1): a leap February, a 30-day month.
        (f"01{DEMO}17280200101234AB", VialScan(DEMO, "1234AB", date(2028, 2, 29))),
        (f"01{DEMO}17270600101234AB", VialScan(DEMO, "1234AB", date(2027, 6, 30))),
        # A cited catalog GTIN.
        ("]d2010034420643940117270331101234AB", VialScan("00344206439401", "1234AB", date(2027, 3, 31))),
    ],
)
def test_a_scan_gives_gtin_lot_and_expiry(scan, expected):
    assert parse_vial_scan(scan) == expected
    assert expected.missing() is None


def test_a_linear_barcode_gives_the_gtin_only():
    scan = parse_vial_scan("00344206439401")
    assert scan == VialScan("00344206439401", "", None)
    assert scan.missing().startswith("The scan has no lot (10) and no expiry date (17).")


def test_a_missing_lot_is_named():
    assert parse_vial_scan(f"01{DEMO}17271231").missing().startswith("The scan has no lot (10).")


def test_a_lot_that_swallowed_the_expiry_says_the_separator_was_not_sent():
    scan = parse_vial_scan(f"01{DEMO}101234AB17271231")  # no GS after the lot
    assert scan.lot_number == "1234AB17271231" and scan.expiry_date is None
    message = scan.missing()
    assert message.startswith("The scan has no expiry date (17). Its lot reads “1234AB17271231”")
    assert "not sending the group separator (FNC1) after the lot" in message


@pytest.mark.parametrize(
    ("scan", "message"),
    [
        ("hello", "this is not a GS1 barcode the clinic can read (GTIN 01, expiry 17, lot 10): Failed to get GS1"),
        (f"01{DEMO}17271331101234AB", "(GTIN 01, expiry 17, lot 10): Failed to match"),  # month 13
        ("(01)123(10)A", "Failed to match"),
        ("(99)ABC", "the scan has no GTIN (01)"),
        ("]d210LOT1", "the scan has no GTIN (01)"),
        ("]d20100300123456789172712311012", "00300123456789 has a wrong check digit (the last digit should be 5"),
        ("   ", "nothing was scanned"),
        ("]", "a symbology identifier is ']' and two characters"),
        ("]d", "a symbology identifier is ']' and two characters"),
        ("0" * 201, "at most 200 characters; this is 201"),
    ],
)
def test_an_unreadable_scan_is_refused_at_the_scan_field(scan, message):
    with pytest.raises(FieldError) as error:
        parse_vial_scan(scan)
    assert error.value.field == "gs1" and message in error.value.message


@given(st.text(max_size=80))
def test_any_text_is_read_or_refused_with_a_sentence(text):
    try:
        scan = parse_vial_scan(text)
    except FieldError as error:
        assert error.field == "gs1" and error.sentence
    else:
        assert gtin14(scan.gtin) == scan.gtin


@given(st.from_regex(r"\A[0-9A-Za-z\x1d()\]]{0,60}\Z"))
def test_scanner_like_text_is_read_or_refused_with_a_sentence(text):
    test_any_text_is_read_or_refused_with_a_sentence.hypothesis.inner_test(text)
