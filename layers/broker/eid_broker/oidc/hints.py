"""What a relying party's login_hint names: a phone, a personal code, or a user id (MOSIP, MobbID)."""

from __future__ import annotations

import re

MOBBID_USER = re.compile(r"[A-Za-z0-9._@:-]{1,128}")


def is_phone(hint: str) -> bool:
    return hint.startswith("+") and hint[1:].isdigit()


def personal_code_hint(hint: str) -> tuple[str, str] | None:
    if len(hint) > 2 and hint[:2] in ("EE", "LT", "LV") and hint[2:].replace("-", "").isdigit():
        return hint[:2], hint[2:]
    return None


def user_id_hint(hint: str | None) -> str | None:
    """A login_hint that names a user (MOSIP, MobbID) rather than a phone or a personal code."""
    if not hint or is_phone(hint) or personal_code_hint(hint):
        return None
    return hint


def face_offered(hint: str | None) -> bool:
    user = user_id_hint(hint)
    return user is not None and MOBBID_USER.fullmatch(user) is not None
