"""Customer identification (CIP) rules, pure: no ORM, no Django settings.

Taxpayer ids:
- a US person (tax residency or citizenship US) gives an SSN or ITIN: nine digits, written
  `NNN-NN-NNNN` or `NNNNNNNNN`; an area of 000 or 666, a group of 00 or a serial of 0000 is
  never issued and is refused;
- anyone else gives their country's taxpayer id as issued: 4 to 20 characters of letters,
  digits, spaces, hyphens, dots or slashes, at least 4 of them letters or digits (kept as
  typed, upper-cased).
"""

import re
from datetime import date

US_TAX_ID = re.compile(r"^(?:\d{3}-\d{2}-\d{4}|\d{9})$")
FOREIGN_TAX_ID = re.compile(r"^[A-Za-z0-9 ./-]{4,20}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
PHONE = re.compile(r"^\+?[0-9 ().-]{7,25}$")
ADULT_AGE = 18

US_TAX_ID_RULE = "A US taxpayer id (SSN or ITIN) is nine digits: NNN-NN-NNNN or NNNNNNNNN."
FOREIGN_TAX_ID_RULE = (
    "A non-US taxpayer id is 4 to 20 letters, digits, spaces, hyphens, dots or slashes, as your country issues it."
)


def normalise_tax_id(raw: str, *, us_person: bool) -> str:
    """The id as stored (digits only for a US id), or ValueError with the rule it breaks."""
    value = (raw or "").strip()
    if us_person:
        if not US_TAX_ID.match(value):
            raise ValueError(US_TAX_ID_RULE)
        digits = value.replace("-", "")
        if digits[:3] in ("000", "666") or digits[3:5] == "00" or digits[5:] == "0000":
            raise ValueError("That taxpayer id is not one the IRS issues (area 000 or 666, group 00 or serial 0000).")
        return digits
    if not FOREIGN_TAX_ID.match(value) or sum(c.isalnum() for c in value) < 4:
        raise ValueError(FOREIGN_TAX_ID_RULE)
    return value.upper()


def is_us_person(*, tax_residency: str, citizenship: str) -> bool:
    return "US" in (tax_residency.upper(), citizenship.upper())


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def is_minor(born: date | None, day: date) -> bool:
    return born is not None and age_on(born, day) < ADULT_AGE
