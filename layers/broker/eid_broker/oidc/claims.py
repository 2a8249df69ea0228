"""The person's claims, from a completed session (docs/oidc.md's claims table, TARA-shaped)."""

from __future__ import annotations

from typing import Any

from eid_broker.oidc.catalog import OFFERS
from eid_broker.sessions import Identity, SessionRecord


def _identity(record: SessionRecord) -> Identity:
    if record.identity is None:
        raise ValueError("only a completed session has claims")
    return record.identity


def subject(record: SessionRecord) -> str:
    identity = _identity(record)
    if record.method == "mosip-otp":
        return f"mosip:{identity.personal_code or identity.subject}"
    if record.method == "mobbid-face":
        return f"mobbid:{identity.subject}"
    return f"{identity.country}{identity.personal_code}"


def person_claims(record: SessionRecord, phone: str | None) -> dict[str, Any]:
    """`sub`, the name and birth date (and `profile_attributes` with the same values), and the phone
    when the `phone` scope asked for it and the method proved it (Mobile-ID)."""
    identity = _identity(record)
    names = {
        "given_name": identity.given_name,
        "family_name": identity.surname,
        "birthdate": identity.date_of_birth,
    }
    claims: dict[str, Any] = {"sub": subject(record), **{k: v for k, v in names.items() if v}}
    claims["profile_attributes"] = {
        "given_name": identity.given_name,
        "family_name": identity.surname,
        "date_of_birth": identity.date_of_birth,
    }
    if phone and OFFERS[record.method].family == "mid":
        claims["phone_number"] = phone
        claims["phone_number_verified"] = True
    return claims


def authentication(record: SessionRecord) -> dict[str, Any]:
    """`acr`, `amr`, `auth_time` and the broker session, for the ID token."""
    offer = OFFERS[record.method]
    evidence = (record.identity.evidence if record.identity else {}) or {}
    acr = offer.acr
    if offer.family == "eeid" and evidence.get("acr") in ("low", "substantial", "high"):
        acr = str(evidence["acr"])
    return {
        "acr": acr,
        "amr": [offer.amr],
        "auth_time": int(record.updated_at_dt().timestamp()),
        "session_id": record.session_id,
    }
