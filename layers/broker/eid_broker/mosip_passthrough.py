"""The MOSIP pass-throughs: token validation and invalidation, and the OTP manager in a per-key namespace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from eid_broker.errors import ProviderRefused, SessionOutcomeError
from eid_broker.keys import keyed_digest
from eid_broker.methods.mosip import NAMESPACE_PREFIX, OTP_PATTERN, client
from eid_broker.observability import report_refusal
from eid_broker.providers.mosip import PROVIDER


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    # RFC 6265 cookie-value characters only: the token is sent as the Authorization cookie, so `;`,
    # `,`, spaces, quotes or CR/LF would inject into the Cookie header.
    token: str = Field(
        min_length=1, max_length=8192, pattern=r"^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+$"
    )


class OtpKey(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    key: str = Field(
        min_length=3,
        max_length=40,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="The caller's own key; the broker namespaces it per API key before MOSIP sees it.",
        examples=["order-17"],
    )


class OtpCheck(OtpKey):
    otp: str = Field(pattern=OTP_PATTERN)


@contextmanager
def _refusals_as_502() -> Iterator[None]:
    """A pass-through's MOSIP refusal is MOSIP's answer to relay, as 502 with its code, never a 500."""
    try:
        yield
    except SessionOutcomeError as refusal:
        report_refusal(refusal)
        raise ProviderRefused(
            "MOSIP refused the request.", provider=PROVIDER, provider_code=refusal.provider_code
        ) from refusal


def validate_token(token: str) -> dict[str, Any]:
    with _refusals_as_502():
        user = client().validate_token(token)
    if user is None:
        return {"valid": False, "user_id": None, "roles": []}
    roles = [role for role in str(user.get("role") or "").split(",") if role]
    return {"valid": True, "user_id": user.get("userId"), "roles": roles}


def invalidate_token(token: str) -> dict[str, Any]:
    with _refusals_as_502():
        return {"invalidated": client().invalidate_token(token)}


def otp_manager_key(owner: str, key: str) -> str:
    """The caller's key inside its own namespace: never another caller's key, never a MOSIP user id
    (user ids in the `eidb-` namespace are refused at start)."""
    return f"{NAMESPACE_PREFIX}{keyed_digest('otp-manager', owner)[:10]}-{key}"


def generate_otp(owner: str, key: str) -> dict[str, Any]:
    with _refusals_as_502():
        answer = client().generate_otp(otp_manager_key(owner, key))
    return {"status": answer.get("status"), "otp": answer.get("otp")}


def validate_otp(owner: str, key: str, otp: str) -> dict[str, Any]:
    with _refusals_as_502():
        answer = client().validate_otp(otp_manager_key(owner, key), otp)
    return {
        "valid": answer.get("status") == "success",
        "status": answer.get("message") or answer.get("status"),
    }
