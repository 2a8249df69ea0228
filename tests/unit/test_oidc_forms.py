"""The hosted page's identity forms: which fields each method shows, the `/v1` start body they make
(validated by the method's own model), what the login_hint prefills, and when MobbID is offered."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eid_broker.methods.base import registry
from eid_broker.oidc import forms, hints
from eid_broker.oidc.authorize import Redirected, parse
from eid_broker.oidc.transaction import LoginTransaction

CALLBACK = "https://bank.example/cb"


def _transaction(method: str, hint: str | None = None) -> LoginTransaction:
    return LoginTransaction(
        client_id="bank",
        owner="owner",
        redirect_uri=CALLBACK,
        state="s",
        scope=["openid"],
        login_hint=hint,
        offers=[method],
        step="identify",
        method=method,
        started=0,
    )


def _valid(method: str, body: dict) -> object:
    return registry()[method].body.model_validate(body)


def test_eeid_takes_the_country_and_the_personal_code_as_its_subject() -> None:
    body = forms.start_body(_transaction("eeid"), {"country": "EE", "personal_code": "30303039914"})
    assert body == {"reference": "oidc:bank", "subject": "EE30303039914"}
    _valid("eeid", body)
    bad = forms.start_body(_transaction("eeid"), {"country": "EE", "personal_code": "123"})
    with pytest.raises(ValidationError) as invalid:
        _valid("eeid", bad)
    names = [str(error["loc"][0]) for error in invalid.value.errors()]
    assert forms.problem_field("eeid", names) == "personal_code"


def test_mobbid_verifies_the_hinted_user_and_returns_to_the_page(monkeypatch) -> None:
    monkeypatch.setattr(forms, "endpoint", lambda path: f"https://id.example{path}")
    body = forms.start_body(_transaction("mobbid-face", "alice"), {"user_id": "mallory"})
    assert body["user_id"] == "alice" and body["return_url"] == "https://id.example/oidc/login"
    assert forms.fields("mobbid-face") == ()  # nothing typed: the relying party names the person
    _valid("mobbid-face", body)


@pytest.mark.parametrize(
    ("user_id", "channel", "kind", "channels"),
    [
        ("alice", "email", "USERID", ["email"]),
        ("2345678901", "phone", "UIN", ["phone"]),
        ("carol", "", "USERID", []),
    ],
)
def test_mosip_otp_infers_the_id_type_and_sends_by_the_chosen_channel(
    user_id, channel, kind, channels
) -> None:
    body = forms.start_body(_transaction("mosip-otp"), {"user_id": user_id, "channel": channel})
    assert body["user_id_type"] == kind and body["channels"] == channels
    if not channels:
        with pytest.raises(ValidationError) as invalid:
            _valid("mosip-otp", body)
        names = [str(error["loc"][0]) for error in invalid.value.errors()]
        assert forms.problem_field("mosip-otp", names) == "channel"
    else:
        _valid("mosip-otp", body)


@pytest.mark.parametrize(
    ("hint", "prefill", "face"),
    [
        ("+37200000766", {"phone": "+37200000766"}, False),
        ("EE60001019906", {"country": "EE", "personal_code": "60001019906"}, False),
        ("alice", {"user_id": "alice", "channel": "phone"}, True),
        ("bad user", {"user_id": "bad user", "channel": "phone"}, False),
        (None, {"channel": "phone"}, False),
    ],
)
def test_the_login_hint_prefills_and_decides_whether_a_face_is_asked_for(hint, prefill, face) -> None:
    assert forms.prefill(_transaction("mosip-otp", hint)) == prefill
    assert hints.face_offered(hint) is face


class _Client:
    client_id = "bank"
    redirect_uris = (CALLBACK,)
    methods = ("mobbid-face", "mosip-otp")
    created_at = None
    owner = "owner"


class _Clients:
    def find(self, client_id: str) -> _Client | None:
        return _Client() if client_id == "bank" else None


def _params(**extra: str) -> dict[str, list[str]]:
    base = {
        "client_id": "bank",
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "openid",
        "state": "s",
    }
    return {name: [value] for name, value in {**base, **extra}.items()}


def test_mobbid_is_offered_only_with_a_user_id_hint() -> None:
    assert parse(_Clients(), _params(), None).offers == ["mosip-otp"]  # type: ignore[arg-type]
    assert parse(_Clients(), _params(login_hint="alice"), None).offers == ["mobbid-face", "mosip-otp"]  # type: ignore[arg-type]
    with pytest.raises(Redirected) as refused:
        parse(_Clients(), _params(scope="openid face", login_hint="+37200000766"), None)  # type: ignore[arg-type]
    assert "unmet_authentication_requirements" in refused.value.location
