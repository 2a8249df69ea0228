"""eeID, MobbID and MOSIP OTP through the hosted page on `make run`, in plain HTTP without JavaScript:
eeID completed by its webhook while the page waits, MobbID's gateway returning the person to the page
(and not offered without a login_hint), the OTP form with its attempts (a wrong code shown as such,
the third ending the login), the claims of each, and the page's five languages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.conftest import API_KEY, Stack, launch, stop
from tests.e2e.oidc_methods import WAITING, provider_link
from tests.e2e.oidc_support import CALLBACK, EEID, Browser, callback, register
from tests.e2e.test_mosip_http import printed_otp

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def oidc() -> Iterator[Stack]:
    running = launch()
    yield running
    stop(running)


def _client(stack: Stack, methods: list[str]) -> tuple[str, str]:
    client_id = f"rp-{uuid.uuid4().hex[:10]}"
    return client_id, register(stack.url, API_KEY, client_id, methods=methods)["client_secret"]


def _params(client_id: str, **extra: str) -> dict[str, str]:
    base = {"client_id": client_id, "redirect_uri": CALLBACK, "response_type": "code", "scope": "openid"}
    return {**base, "state": "st-" + uuid.uuid4().hex, **extra}


def _id_token(stack: Stack, client_id: str, secret: str, code: str) -> dict[str, Any]:
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    answer = requests.post(f"{stack.url}/oidc/token", data=body, auth=(client_id, secret), timeout=30)
    assert answer.status_code == 200, answer.text
    keys = KeySet.import_key_set(requests.get(f"{stack.url}/oidc/jwks", timeout=30).json())
    return dict(jwt.decode(answer.json()["id_token"], keys, algorithms=["RS256"]).claims)


def _text(page: requests.Response, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', page.text)
    assert found, page.text
    return unescape(found.group(1))


def test_eeid_completes_by_its_webhook_while_the_page_waits(oidc: Stack) -> None:
    client_id, secret = _client(oidc, ["eeid"])
    browser = Browser(oidc.url)
    assert browser.open(**_params(client_id, login_hint="EE30303039914")).status_code == 200
    assert 'value="30303039914"' in browser.page.text  # prefilled from login_hint
    page = browser.post(action="start", **EEID)
    assert WAITING in page.text and '<meta http-equiv="refresh" content="2">' in page.text
    link = provider_link(page)
    assert link.startswith("http") and "30303039914" not in link
    # The person authenticates at eeID (another tab); eeID's webhook tells the broker.
    assert requests.post(f"{link}/authenticate", data={"choice": "match"}, timeout=10).status_code == 200
    # The JavaScript long-poll hears it ...
    status = browser.http.get(f"{oidc.url}/oidc/login/status?wait=15", timeout=30)
    assert status.json() == {"status": "completed"}
    # ... and the reloading page continues by itself to the relying party.
    claims = _id_token(oidc, client_id, secret, callback(browser.wait(marker=WAITING))["code"])
    assert claims["sub"] == "EE30303039914" and claims["amr"] == ["eeid"]
    assert claims["family_name"] == "TESTNUMBER"
    session = requests.get(
        f"{oidc.url}/v1/sessions/{claims['session_id']}", headers={"x-api-key": API_KEY}, timeout=30
    ).json()
    level = session["identity"]["evidence"].get("acr")
    assert claims["acr"] == (level if level in ("low", "substantial", "high") else "substantial")
    assert session["reference"] == f"oidc:{client_id}"


def test_eeid_mismatch_ends_with_the_reason_and_a_way_back(oidc: Stack) -> None:
    client_id, _ = _client(oidc, ["eeid"])
    browser = Browser(oidc.url)
    browser.open(**_params(client_id, ui_locales="lv"))
    page = browser.post(action="start", country="EE", personal_code="39901012239")
    requests.post(f"{provider_link(page)}/authenticate", data={"choice": "mismatch"}, timeout=10)
    failed = browser.wait(marker=WAITING)
    assert 'id="retry"' in failed.text and 'id="return"' in failed.text
    assert _text(failed, "reason") == "Apstiprināja cita persona, nevis pieprasītā."
    back = callback(browser.post(action="return"))
    assert back["error"] == "access_denied" and back["error_description"] == "CLAIMS_MISMATCH"


def test_mobbid_is_offered_only_with_a_login_hint(oidc: Stack) -> None:
    client_id, _ = _client(oidc, ["mobbid-face", "mosip-otp"])
    page = Browser(oidc.url).open(**_params(client_id))
    assert 'name="method"' not in page.text and 'id="user_id"' in page.text  # only the OTP is left
    refused = Browser(oidc.url).open(**_params(client_id, scope="openid face"))
    assert callback(refused)["error"] == "unmet_authentication_requirements"
    chooser = Browser(oidc.url).open(**_params(client_id, login_hint="alice"))
    assert 'value="mobbid-face"' in chooser.text and 'value="mosip-otp"' in chooser.text


@pytest.mark.parametrize(("choice", "code"), [("verified", None), ("not_same_person", "BIOMETRIC_MISMATCH")])
def test_mobbid_returns_the_person_to_the_page(oidc: Stack, choice: str, code: str | None) -> None:
    client_id, secret = _client(oidc, ["mobbid-face"])
    browser = Browser(oidc.url)
    browser.open(**_params(client_id, login_hint="alice", ui_locales="ru"))
    assert "Проверка по лицу" in browser.page.text and 'name="user_id"' not in browser.page.text
    page = browser.post(action="start")
    gateway = provider_link(page)
    assert "MobbID sandbox" in requests.get(gateway, timeout=10).text
    back = requests.post(f"{gateway}/choose", data={"choice": choice}, allow_redirects=False, timeout=10)
    assert back.status_code == 302
    assert back.headers["Location"].startswith(f"{oidc.url}/oidc/login?processId=")
    browser.follow(browser.http.get(back.headers["Location"], allow_redirects=False, timeout=30))
    final = browser.wait(marker=WAITING)
    if code is None:
        claims = _id_token(oidc, client_id, secret, callback(final)["code"])
        assert claims["sub"] == "mobbid:alice" and claims["amr"] == ["face"]
        assert claims["acr"] == "substantial"
    else:
        assert _text(final, "reason") == "Лицо не совпало с лицом ожидаемого человека."
        assert callback(browser.post(action="return"))["error_description"] == code


def _otp_page(stack: Stack, client_id: str, user: str = "carol", **extra: str) -> tuple[Browser, str]:
    """The OTP form, and the OTP the MOSIP sandbox sent."""
    browser = Browser(stack.url)
    browser.open(**_params(client_id, login_hint=user, **extra))
    since = len(stack.output)
    page = browser.post(action="start", user_id=user, channel="phone")
    assert 'name="otp"' in page.text and 'id="attempts"' in page.text, page.text
    return browser, printed_otp(stack, user, since)


def test_mosip_otp_shows_a_wrong_code_and_the_attempts_left_then_logs_in(oidc: Stack) -> None:
    client_id, secret = _client(oidc, ["mosip-otp"])
    browser, otp = _otp_page(oidc, client_id)
    assert _text(browser.page, "attempts") == "Attempts left: 3"
    badly_typed = browser.post(action="otp", otp="12a")
    assert badly_typed.status_code == 422
    assert _text(badly_typed, "problem") == "Enter the code you received: 4 to 8 digits."
    assert _text(badly_typed, "attempts") == "Attempts left: 3"  # nothing was checked
    wrong = browser.post(action="otp", otp="00000000" if otp != "00000000" else "11111111")
    assert wrong.status_code == 422
    assert _text(wrong, "problem") == "This code is not correct. Attempts left: 2."
    invalidated = oidc.stats()["sandboxes"]["mosip"]["tokens_invalidated"]
    claims = _id_token(oidc, client_id, secret, callback(browser.post(action="otp", otp=otp))["code"])
    assert claims["sub"] == "mosip:carol" and claims["amr"] == ["otp"] and claims["acr"] == "low"
    # MOSIP's token reaches nobody through OpenID Connect, so it does not stay valid
    assert oidc.stats()["sandboxes"]["mosip"]["tokens_invalidated"] == invalidated + 1
    assert otp not in oidc.logs().split("eid-broker is ready on", 1)[1].replace(f": {otp}", "")


def test_the_third_wrong_otp_ends_the_login_with_the_failure_page(oidc: Stack) -> None:
    client_id, _ = _client(oidc, ["mosip-otp"])
    browser, otp = _otp_page(oidc, client_id, ui_locales="et")
    wrong = "00000000" if otp != "00000000" else "11111111"
    assert (
        _text(browser.post(action="otp", otp=wrong), "problem") == "See kood ei ole õige. Katseid jäänud: 2."
    )
    assert (
        _text(browser.post(action="otp", otp=wrong), "problem") == "See kood ei ole õige. Katseid jäänud: 1."
    )
    failed = browser.post(action="otp", otp=wrong)
    assert failed.status_code == 200 and 'id="retry"' in failed.text
    assert _text(failed, "reason") == "Kood sisestati kolm korda valesti."
    assert browser.post(action="otp", otp=otp).status_code == 200  # the right code is too late now
    assert 'id="retry"' in browser.page.text
    back = callback(browser.post(action="return"))
    assert back["error_description"] == "OTP_ATTEMPTS_EXHAUSTED"


@pytest.mark.parametrize(
    ("ui_locales", "accept", "lang", "title"),
    [
        ("lt", "ru", "lt", "Kaip norite prisijungti?"),
        (None, "ru-RU,ru;q=0.9,en;q=0.5", "ru", "Как вы хотите войти?"),
        ("de", "lv,en;q=0.5", "lv", "Kā vēlaties pieteikties?"),
        (None, "de", "en", "How do you want to log in?"),
    ],
)
def test_the_page_speaks_the_persons_language(oidc: Stack, ui_locales, accept, lang, title) -> None:
    client_id, _ = _client(oidc, ["eeid", "mosip-otp"])
    browser = Browser(oidc.url)
    browser.http.headers["Accept-Language"] = accept
    extra = {"ui_locales": ui_locales} if ui_locales else {}
    page = browser.open(**_params(client_id, **extra))
    assert f'<html lang="{lang}">' in page.text and title in page.text


@pytest.mark.parametrize(
    ("user", "channel", "reason"),
    [
        ("nobody", "phone", "Naudotojui su šiuo ID vienkartinio kodo išsiųsti negalima."),
        ("carol", "email", "Prisijungimo užbaigti nepavyko."),  # carol gets codes by phone only
    ],
)
def test_an_otp_that_cannot_be_sent_is_said_in_the_persons_words(
    oidc: Stack, user: str, channel: str, reason: str
) -> None:
    client_id, _ = _client(oidc, ["mosip-otp"])
    browser = Browser(oidc.url)
    browser.open(**_params(client_id, ui_locales="lt"))
    page = browser.post(action="start", user_id=user, channel=channel)
    assert 'name="otp"' not in page.text and "MOSIP" not in page.text and "KER-" not in page.text
    assert _text(page, "reason") == reason
    back = callback(browser.post(action="return"))
    assert back["error"] == "access_denied" and back["error_description"] != "USER_CANCELLED"
