"""The lab tests the clinic records: one unit each, a LOINC code, a site default
upper limit of normal and a ceiling past which a value is surely a unit mistake.

Default ULNs are this site's reference ranges, not universal truths: every
result stores its own ULN (prefilled from here, editable at entry), because the
TIS divides enzyme changes by the ULN of the laboratory that measured them.
"""

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class LabDefinition:
    test: str
    unit: str
    loinc: str
    loinc_confirmed: bool  # False: a common code not in our reference; verify with the local lab
    default_uln: Decimal | None  # None where only a low value matters (eGFR, haemoglobin, IgA)
    max_plausible: Decimal


LAB_CATALOG: dict[str, LabDefinition] = {
    d.test: d
    for d in [
        LabDefinition("ck", "U/L", "2157-6", True, Decimal("200"), Decimal("500000")),
        LabDefinition("aldolase", "U/L", "1761-6", True, Decimal("7.6"), Decimal("5000")),
        LabDefinition("ast", "U/L", "1920-8", False, Decimal("40"), Decimal("50000")),
        LabDefinition("alt", "U/L", "1742-6", False, Decimal("40"), Decimal("50000")),
        LabDefinition("ldh", "U/L", "2532-0", False, Decimal("250"), Decimal("50000")),
        LabDefinition("creatinine", "mg/dL", "2160-0", True, Decimal("1.2"), Decimal("30")),
        LabDefinition("egfr", "mL/min/1.73 m²", "98979-8", False, None, Decimal("250")),
        LabDefinition("bun", "mg/dL", "3094-0", True, Decimal("20"), Decimal("300")),
        LabDefinition("haemoglobin", "g/dL", "718-7", True, None, Decimal("25")),
        LabDefinition("haematocrit", "%", "4544-3", False, None, Decimal("80")),
        LabDefinition("platelets", "×10⁹/L", "777-3", False, Decimal("400"), Decimal("5000")),
        LabDefinition("iga", "mg/dL", "2458-8", True, None, Decimal("5000")),
        LabDefinition("d_dimer", "mg/L FEU", "48065-7", True, Decimal("0.5"), Decimal("100")),
        LabDefinition("triglycerides", "mg/dL", "2571-8", False, Decimal("150"), Decimal("20000")),
    ]
}
