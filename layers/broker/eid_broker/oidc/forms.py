"""The identity form of each method family: its fields, and the `/v1` start body built from them.

The form's fields keep the start bodies' names (`phone`, `personal_code`, `country`, `user_id`), or
what the person types in their place: eeID's `subject` is the chosen country and the personal code.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from eid_broker.oidc.catalog import OFFERS
from eid_broker.oidc.hints import is_phone, personal_code_hint, user_id_hint
from eid_broker.oidc.issuer import endpoint

if TYPE_CHECKING:
    from eid_broker.oidc.transaction import LoginTransaction

FIELDS: dict[str, tuple[str, ...]] = {
    "mid": ("phone", "personal_code"),
    "smartid": ("country", "personal_code"),
    "eeid": ("country", "personal_code"),
    "face": (),  # the user id is the relying party's login_hint, never typed
    "otp": ("user_id", "channel"),
}
CHANNELS = ("phone", "email")
# MOSIP's UINs are ten digits; every other id is a user id.
UIN = re.compile(r"[0-9]{10}")
# A start body's field that the form shows under another name.
SHOWN_AS = {"subject": "personal_code", "user_id_type": "user_id", "channels": "channel"}


def fields(method: str) -> tuple[str, ...]:
    return FIELDS[OFFERS[method].family]


def prefill(transaction: LoginTransaction) -> dict[str, str]:
    hint = transaction.login_hint or ""
    if is_phone(hint):
        return {"phone": hint}
    code = personal_code_hint(hint)
    if code:
        return {"country": code[0], "personal_code": code[1]}
    user = user_id_hint(hint)
    return {"user_id": user, "channel": "phone"} if user else {"channel": "phone"}


def start_body(transaction: LoginTransaction, values: dict[str, str]) -> dict[str, Any]:
    """The JSON of `POST /v1/sessions/{method}` for this form (validated by the method's own model)."""
    family = OFFERS[transaction.method or ""].family
    body: dict[str, Any] = {"reference": f"oidc:{transaction.client_id}"}
    if family == "eeid":
        return {**body, "subject": values.get("country", "") + values.get("personal_code", "")}
    if family == "face":
        return {**body, "user_id": transaction.login_hint or "", "return_url": endpoint("/oidc/login")}
    if family == "otp":
        user_id = values.get("user_id", "")
        channel = values.get("channel", "")
        return {
            **body,
            "user_id": user_id,
            "user_id_type": "UIN" if UIN.fullmatch(user_id) else "USERID",
            "channels": [channel] if channel in CHANNELS else [],
        }
    return {**body, **values}


def problem_field(method: str, invalid: list[str]) -> str:
    """The form field to blame for a start body's invalid fields (the first one the form shows)."""
    wanted = fields(method)
    shown = [SHOWN_AS.get(name, name) for name in invalid]
    return next((name for name in wanted if name in shown), wanted[-1] if wanted else "unavailable")
