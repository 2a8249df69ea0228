"""Identifiers in the one form a provider checks, so that every spelling of one person counts as one.

The person limits and the password-failure limit count these forms (as keyed digests); a provider is still
sent what the integrator sent.
"""

from __future__ import annotations

import re
import unicodedata

_PHONE_NOISE = re.compile(r"[\s().-]")


def phone(value: str) -> str:
    """E.164: `+` and digits only (a leading 00 is the international prefix)."""
    digits = _PHONE_NOISE.sub("", value)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    return digits


def personal_code(country: str, code: str) -> str:
    """Country + code without separators: a Latvian code with or without its hyphen is one person, and
    an Estonian and a Lithuanian code with the same digits are two."""
    return country.upper() + code.replace("-", "").strip()


def user_id(value: str) -> str:
    """A user id as MOSIP matches it: Unicode NFKC, then case-folded (`alice`, `Alice`, `ALICE` are one)."""
    return unicodedata.normalize("NFKC", value).casefold().strip()
