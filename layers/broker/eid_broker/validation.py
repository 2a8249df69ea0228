"""Mobile numbers and personal codes of EE, LT and LV: each country's E.164 mobile ranges, and its
personal code with its check digit and birth date (EE and LT: 11 digits, mod 11 with a second weight
set; LV: DDMMYY-CNNNN, or the newer 32…-codes that carry no date).

Error messages never repeat the checked value.
"""

from __future__ import annotations

import re
from datetime import date

# Matched in full against ASCII digits only: `$` would accept a trailing newline and `\d` any
# Unicode digit (Arabic-Indic, fullwidth), which no provider's format allows.
MOBILE_PATTERNS: dict[str, re.Pattern[str]] = {
    "EE": re.compile(r"\+372[0-9]{7,8}"),
    "LT": re.compile(r"\+3706[0-9]{7}"),
    "LV": re.compile(r"\+3712[0-9]{7}"),
}
_EE_LT_CODE = re.compile(r"[1-8][0-9]{10}")
_LV_CODE = re.compile(r"[0-9]{6}-[0-9]{5}")
_EE_LT_CENTURY = {1: 1800, 2: 1800, 3: 1900, 4: 1900, 5: 2000, 6: 2000, 7: 2100, 8: 2100}
_LV_CENTURY = {0: 1800, 1: 1900, 2: 2000}
_LV_WEIGHTS = (10, 5, 8, 4, 2, 1, 6, 3, 7, 9)


def mobile_country(phone: str) -> str | None:
    """The country whose mobile numbering the E.164 phone belongs to, or None."""
    for country, pattern in MOBILE_PATTERNS.items():
        if pattern.fullmatch(phone):
            return country
    return None


def _ee_lt_check_digit(digits: list[int]) -> int:
    total = sum(d * w for d, w in zip(digits[:10], (1, 2, 3, 4, 5, 6, 7, 8, 9, 1), strict=True))
    if total % 11 != 10:
        return total % 11
    total = sum(d * w for d, w in zip(digits[:10], (3, 4, 5, 6, 7, 8, 9, 1, 2, 3), strict=True))
    return total % 11 if total % 11 != 10 else 0


def birth_date(country: str, code: str) -> date | None:
    """The birth date a personal code carries; None when it carries none or is not a real date."""
    try:
        if country in ("EE", "LT"):
            century = _EE_LT_CENTURY.get(int(code[0]))
            if century is None:
                return None
            return date(century + int(code[1:3]), int(code[3:5]), int(code[5:7]))
        if country == "LV":
            if code.startswith("32"):
                return None
            century = _LV_CENTURY.get(int(code[7]))
            if century is None:
                return None
            return date(century + int(code[4:6]), int(code[2:4]), int(code[0:2]))
    except ValueError:
        return None
    return None


def personal_code_problem(country: str, code: str) -> str | None:
    """Why the code is not a valid personal code of the country, or None when it is."""
    if country in ("EE", "LT"):
        if not _EE_LT_CODE.fullmatch(code):
            return "must be 11 digits starting with 1-8"
        digits = [int(c) for c in code]
        if _ee_lt_check_digit(digits) != digits[10]:
            return "check digit does not match"
        if birth_date(country, code) is None:
            return "birth date is not a real date"
        return None
    if country == "LV":
        if not _LV_CODE.fullmatch(code):
            return "must have the form DDMMYY-CNNNN"
        digits = [int(c) for c in code.replace("-", "")]
        if (1 + sum(d * w for d, w in zip(digits[:10], _LV_WEIGHTS, strict=True))) % 11 % 10 != digits[10]:
            return "check digit does not match"
        if not code.startswith("32") and birth_date(country, code) is None:
            return "birth date is not a real date"
        return None
    return "personal codes of this country are not supported"
