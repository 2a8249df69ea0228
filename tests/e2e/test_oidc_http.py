"""The broker as an OpenID Provider over HTTP on `make run`: registration, discovery, Mobile-ID and
Smart-ID logins through the hosted page without JavaScript, and the negative suite (replays, PKCE,
client authentication, open redirects, CSRF, prompt=none, unmeetable requirements, framing)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.e2e.conftest import API_KEY, Stack, launch, stop
from tests.e2e.oidc_support import CALLBACK, MOBILE_ID, SMART_ID, Browser, callback, pkce, register

pytestmark = pytest.mark.e2e
CODE_TTL = 5
CANCELS = {"phone": "+37201100266", "personal_code": "60001019950"}  # USER_CANCELLED on the phone


@pytest.fixture(scope="module")
def oidc() -> Iterator[Stack]:
    running = launch(LOCAL_API_KEY=f"{API_KEY},other-key", OIDC_CODE_TTL_SECONDS=str(CODE_TTL))
    yield running
    stop(running)


def _client(stack: Stack, **body: Any) -> tuple[str, dict[str, Any]]:
    client_id = f"rp-{uuid.uuid4().hex[:10]}"
    return client_id, register(stack.url, API_KEY, client_id, **body)


def _params(client_id: str, **extra: str) -> dict[str, str]:
    return {
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "openid",
        "state": "st-" + uuid.uuid4().hex,
        **extra,
    }


def _token(stack: Stack, client_id: str, secret: str, code: str, **fields: str) -> requests.Response:
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, **fields}
    return requests.post(f"{stack.url}/oidc/token", data=body, auth=(client_id, secret), timeout=30)


def _claims(stack: Stack, id_token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(requests.get(f"{stack.url}/oidc/jwks", timeout=30).json())
    return dict(jwt.decode(id_token, keys, algorithms=["RS256"]).claims)


def _logged_in(stack: Stack, person: dict[str, str] = MOBILE_ID, **extra: str) -> tuple[str, str, dict, str]:
    """A completed login with PKCE: (client_id, secret, callback parameters, code_verifier)."""
    client_id, client = _client(stack)
    verifier, challenge = pkce()
    method = "dokobit-mobile-id" if "phone" in person else "dokobit-smart-id"
    params = _params(client_id, code_challenge=challenge, code_challenge_method="S256", **extra)
    answer = Browser(stack.url).login(person, method, **params)
    back = callback(answer)
    assert back["state"] == params["state"] and back["iss"] == stack.url
    return client_id, client["client_secret"], back, verifier


def test_discovery_and_jwks_describe_the_provider(oidc: Stack) -> None:
    config = requests.get(f"{oidc.url}/.well-known/openid-configuration", timeout=30).json()
    assert config["issuer"] == oidc.url
    assert config["token_endpoint"] == f"{oidc.url}/oidc/token"
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["authorization_response_iss_parameter_supported"] is True
    assert {"mid", "smartid", "openid", "phone"} <= set(config["scopes_supported"])
    keys = requests.get(config["jwks_uri"], timeout=30).json()["keys"]
    assert len(keys) == 2 and all(k["kty"] == "RSA" and k["use"] == "sig" and "d" not in k for k in keys)


def test_clients_belong_to_their_api_key(oidc: Stack) -> None:
    client_id, created = _client(oidc)
    assert created["client_secret"]
    url, other = f"{oidc.url}/v1/oidc-clients/{client_id}", {"x-api-key": "other-key"}
    read = requests.get(url, headers={"x-api-key": API_KEY}, timeout=30).json()
    assert read["client_secret"] is None and read["redirect_uris"] == [CALLBACK]
    assert requests.get(url, headers=other, timeout=30).status_code == 404
    assert requests.put(url, json={**read, "client_secret": None}, headers=other, timeout=30).status_code in (
        409,
        422,
    )
    body = {k: read[k] for k in ("client_name", "redirect_uris", "methods")}
    assert requests.put(url, json=body, headers=other, timeout=30).status_code == 409
    bad = requests.put(
        url, json={**body, "redirect_uris": ["ftp://x"]}, headers={"x-api-key": API_KEY}, timeout=30
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("redirect_uris")
    assert requests.put(url, json=body, timeout=30).status_code == 403  # no API key
    rotated = requests.post(f"{url}/rotate-secret", headers={"x-api-key": API_KEY}, timeout=30)
    assert rotated.status_code == 200 and rotated.json()["client_secret"] != created["client_secret"]


@pytest.mark.parametrize("person", [MOBILE_ID, SMART_ID], ids=["mobile-id", "smart-id"])
def test_a_person_logs_in_and_the_rp_gets_the_id_token_and_userinfo(oidc: Stack, person: dict) -> None:
    client_id, secret, back, verifier = _logged_in(oidc, person, scope="openid phone", nonce="n-1")
    answer = _token(oidc, client_id, secret, back["code"], code_verifier=verifier)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    tokens = answer.json()
    claims = _claims(oidc, tokens["id_token"])
    assert claims["iss"] == oidc.url and claims["aud"] == client_id and claims["azp"] == client_id
    assert claims["exp"] == claims["iat"] + 300 and claims["nonce"] == "n-1" and claims["acr"] == "high"
    if "phone" in person:
        assert claims["sub"] == "EE60001019906" and claims["amr"] == ["mID"]
        assert claims["given_name"] == "MARY ÄNN" and claims["birthdate"] == "2000-01-01"
        assert claims["phone_number"] == "+37200000766" and claims["phone_number_verified"] is True
    else:
        assert claims["sub"] == "EE40504040001" and claims["amr"] == ["smartid"]
        assert "phone_number" not in claims
    assert claims["profile_attributes"]["given_name"] == claims["given_name"]
    # the session is the client's API key's, with the OIDC reference
    session = requests.get(
        f"{oidc.url}/v1/sessions/{claims['session_id']}", headers={"x-api-key": API_KEY}, timeout=30
    ).json()
    assert session["status"] == "completed" and session["reference"] == f"oidc:{client_id}"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    info = requests.get(f"{oidc.url}/oidc/userinfo", headers=bearer, timeout=30)
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]
    assert requests.post(f"{oidc.url}/oidc/userinfo", headers=bearer, timeout=30).json() == info.json()


def test_client_secret_post_and_a_rotated_secret_work(oidc: Stack) -> None:
    client_id, client = _client(oidc, token_endpoint_auth_method="client_secret_post")
    back = callback(Browser(oidc.url).login(MOBILE_ID, "dokobit-mobile-id", **_params(client_id)))
    body = {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": CALLBACK}
    basic = requests.post(
        f"{oidc.url}/oidc/token", data=body, auth=(client_id, client["client_secret"]), timeout=30
    )
    assert basic.status_code == 401 and basic.json()["error"] == "invalid_client"  # not as registered
    posted = {**body, "client_id": client_id, "client_secret": client["client_secret"]}
    assert requests.post(f"{oidc.url}/oidc/token", data=posted, timeout=30).status_code == 200


# --- the negative suite ---


def test_a_replayed_code_is_refused_and_revokes_the_access_token(oidc: Stack) -> None:
    client_id, secret, back, verifier = _logged_in(oidc)
    first = _token(oidc, client_id, secret, back["code"], code_verifier=verifier).json()
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert requests.get(f"{oidc.url}/oidc/userinfo", headers=bearer, timeout=30).status_code == 200
    again = _token(oidc, client_id, secret, back["code"], code_verifier=verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    revoked = requests.get(f"{oidc.url}/oidc/userinfo", headers=bearer, timeout=30)
    assert revoked.status_code == 401
    assert revoked.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize(
    "verifier_of",
    [lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"), lambda v: None],
    ids=["pkce-mismatch", "missing-verifier"],
)
def test_a_wrong_or_missing_verifier_is_invalid_grant(oidc: Stack, verifier_of: Any) -> None:
    client_id, secret, back, verifier = _logged_in(oidc)
    sent = verifier_of(verifier)
    answer = _token(oidc, client_id, secret, back["code"], **({"code_verifier": sent} if sent else {}))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    # the code was not used up by the refusal
    assert _token(oidc, client_id, secret, back["code"], code_verifier=verifier).status_code == 200


def test_an_unexpected_verifier_is_invalid_grant(oidc: Stack) -> None:
    client_id, client = _client(oidc)
    back = callback(Browser(oidc.url).login(MOBILE_ID, "dokobit-mobile-id", **_params(client_id)))
    answer = _token(oidc, client_id, client["client_secret"], back["code"], code_verifier=pkce()[0])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_another_clients_code_and_a_wrong_redirect_uri_are_invalid_grant(oidc: Stack) -> None:
    client_id, secret, back, verifier = _logged_in(oidc)
    other_id, other = _client(oidc)
    stolen = _token(oidc, other_id, other["client_secret"], back["code"], code_verifier=verifier)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    wrong = _token(oidc, client_id, secret, back["code"], code_verifier=verifier, redirect_uri=CALLBACK + "x")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    bad_secret = _token(oidc, client_id, secret + "x", back["code"], code_verifier=verifier)
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"


def test_an_expired_code_is_invalid_grant(oidc: Stack) -> None:
    client_id, secret, back, verifier = _logged_in(oidc)
    time.sleep(CODE_TTL + 1)
    answer = _token(oidc, client_id, secret, back["code"], code_verifier=verifier)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_an_unregistered_redirect_uri_or_client_gets_an_error_page_never_a_redirect(oidc: Stack) -> None:
    client_id, _ = _client(oidc)
    for params in (
        _params(client_id, redirect_uri="https://evil.example/cb"),
        _params(client_id, redirect_uri=CALLBACK + "/"),
        _params("no-such-client"),
        _params(client_id, redirect_uri="https://evil.example/cb", prompt="none"),
    ):
        answer = requests.get(f"{oidc.url}/oidc/authorize", params=params, allow_redirects=False, timeout=30)
        assert answer.status_code == 400 and "Location" not in answer.headers
        assert "text/html" in answer.headers["Content-Type"] and "evil.example" not in answer.text


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"prompt": "none"}, "login_required"),
        ({"scope": "openid eeid"}, "unmet_authentication_requirements"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"response_mode": "fragment"}, "invalid_request"),
    ],
)
def test_other_authorization_errors_go_back_with_state_and_iss(oidc: Stack, extra: dict, error: str) -> None:
    client_id, _ = _client(oidc)
    params = _params(client_id, **extra)
    answer = requests.get(f"{oidc.url}/oidc/authorize", params=params, allow_redirects=False, timeout=30)
    back = callback(answer)
    assert back["error"] == error and back["state"] == params["state"] and back["iss"] == oidc.url


def test_acr_values_limit_the_offer_and_scope_families_pick_the_method(oidc: Stack) -> None:
    client_id, _ = _client(oidc)
    page = Browser(oidc.url).open(**_params(client_id, scope="openid smartid", acr_values="high"))
    assert page.status_code == 200 and 'name="country"' in page.text and 'name="phone"' not in page.text


def test_the_page_speaks_the_language_asked_for(oidc: Stack) -> None:
    client_id, _ = _client(oidc)
    page = Browser(oidc.url).open(**_params(client_id, ui_locales="de et"))
    assert '<html lang="et">' in page.text and "Kuidas soovid sisse logida?" in page.text
    browser = Browser(oidc.url)
    browser.http.headers["Accept-Language"] = "fr, et;q=0.5"
    assert '<html lang="et">' in browser.open(**_params(client_id)).text


def _private_key_client(oidc: Stack) -> tuple[str, RSAKey, str]:
    key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    jwks = {"keys": [{**key.as_dict(private=False), "kid": "k1"}]}
    client_id, _ = _client(oidc, token_endpoint_auth_method="private_key_jwt", jwks=jwks)
    back = callback(Browser(oidc.url).login(MOBILE_ID, "dokobit-mobile-id", **_params(client_id)))
    return client_id, key, back["code"]


def _assertion(client_id: str, key: RSAKey | None, audience: str, jti: str, alg: str = "RS256") -> str:
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "jti": jti, "exp": int(time.time()) + 60}
    if key is None:  # alg=none: an unsigned token
        encode = lambda part: base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()  # noqa: E731
        return f"{encode({'alg': 'none', 'typ': 'JWT'})}.{encode(claims)}."
    return jwt.encode({"alg": alg, "kid": "k1"}, claims, key)


def _jwt_token(oidc: Stack, client_id: str, code: str, assertion: str) -> requests.Response:
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    return requests.post(f"{oidc.url}/oidc/token", data=body, timeout=30)


def test_private_key_jwt_refuses_alg_none_a_wrong_key_and_a_reused_jti(oidc: Stack) -> None:
    client_id, key, code = _private_key_client(oidc)
    audience = f"{oidc.url}/oidc/token"
    stranger = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    for assertion in (
        _assertion(client_id, None, audience, "j-none"),
        _assertion(client_id, stranger, audience, "j-stranger"),
        _assertion(client_id, key, "https://elsewhere.example", "j-aud"),
    ):
        refused = _jwt_token(oidc, client_id, code, assertion)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client", refused.text
    good = _jwt_token(oidc, client_id, code, _assertion(client_id, key, oidc.url, "j-1"))
    assert good.status_code == 200, good.text
    _, _, second_code = _private_key_client(oidc)
    reused = _jwt_token(oidc, client_id, second_code, _assertion(client_id, key, audience, "j-1"))
    assert reused.status_code == 401 and reused.json()["error"] == "invalid_client"


def test_every_form_refuses_a_post_without_its_anti_forgery_token(oidc: Stack) -> None:
    client_id, _ = _client(oidc)
    browser = Browser(oidc.url)
    chooser = browser.open(**_params(client_id))
    assert 'name="method"' in chooser.text
    attempts = [
        {"action": "choose", "method": "dokobit-mobile-id"},
        {"action": "start", **MOBILE_ID},
        {"action": "return"},
    ]
    for fields in attempts:
        for token in (None, "forged"):
            body = {**fields, **({"csrf": token} if token else {})}
            answer = browser.http.post(f"{oidc.url}/oidc/login", data=body, allow_redirects=False, timeout=30)
            assert answer.status_code == 403 and "Location" not in answer.headers
    # nothing changed: still the chooser, and no session was started
    page = browser.http.get(f"{oidc.url}/oidc/login", timeout=30)
    assert 'name="method"' in page.text
    # a stranger's browser (no cookie) with the right token changes nothing either
    stranger = requests.post(
        f"{oidc.url}/oidc/login",
        data={"csrf": browser.csrf, "action": "return"},
        allow_redirects=False,
        timeout=30,
    )
    assert stranger.status_code == 400 and "Location" not in stranger.headers


def test_the_failure_page_offers_retry_and_return_with_the_error_code(oidc: Stack) -> None:
    client_id, _ = _client(oidc)
    params = _params(client_id)
    browser = Browser(oidc.url)
    failed = browser.login(CANCELS, "dokobit-mobile-id", **params)
    assert failed.status_code == 200 and 'id="retry"' in failed.text and 'id="return"' in failed.text
    for fields in ({"action": "retry"}, {"action": "return"}):  # CSRF on the failure form too
        forged = browser.http.post(f"{oidc.url}/oidc/login", data=fields, allow_redirects=False, timeout=30)
        assert forged.status_code == 403
    retried = browser.post(action="retry")
    assert 'name="method"' in retried.text  # the chooser again
    browser.post(action="choose", method="dokobit-mobile-id")
    browser.post(action="start", **CANCELS)
    browser.wait()
    back = callback(
        browser.http.post(
            f"{oidc.url}/oidc/login",
            data={"csrf": browser.csrf, "action": "return"},
            allow_redirects=False,
            timeout=30,
        )
    )
    assert back == {
        "error": "access_denied",
        "error_description": "USER_CANCELLED",
        "state": params["state"],
        "iss": oidc.url,
    }


def test_invalid_input_shows_the_form_again_and_starts_nothing(oidc: Stack) -> None:
    client_id, _ = _client(oidc)
    browser = Browser(oidc.url)
    browser.open(**_params(client_id, scope="openid mid", login_hint="+37200000766"))
    assert 'value="+37200000766"' in browser.page.text  # prefilled from login_hint
    again = browser.post(action="start", phone="+37200000766", personal_code="60001019907")
    assert again.status_code == 422 and 'id="problem"' in again.text and 'id="control-code"' not in again.text
    assert "60001019907" in again.text  # the person's own input, shown back to them only


def test_pages_cannot_be_framed_or_cached_and_no_personal_datum_reaches_a_url_or_log(oidc: Stack) -> None:
    client_id, _ = _client(oidc)
    browser = Browser(oidc.url)
    page = browser.open(**_params(client_id, login_hint="EE60001019906"))
    for answer in (page, browser.post(action="choose", method="dokobit-mobile-id")):
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["X-Frame-Options"] == "DENY" and answer.headers["Cache-Control"] == "no-store"
        assert "<script>" not in answer.text
    done = browser.post(action="start", **MOBILE_ID)
    assert '<meta http-equiv="refresh" content="1">' in done.text
    assert 'id="control-code"' in done.text
    cookie = next(c for c in browser.http.cookies if c.name == "eidb_login")
    assert cookie.has_nonstandard_attr("HttpOnly")
    final = browser.wait()
    location = final.headers["Location"]
    assert "60001019906" not in location and "37200000766" not in location
    time.sleep(0.5)
    logged = oidc.logs().split("eid-broker is ready on", 1)[1]
    assert "60001019906" not in logged and "37200000766" not in logged


def test_deleting_a_client_stops_its_codes_and_tokens_even_if_the_id_is_registered_again(oidc: Stack) -> None:
    client_id, client = _client(oidc)
    codes = [
        callback(Browser(oidc.url).login(MOBILE_ID, "dokobit-mobile-id", **_params(client_id)))["code"]
        for _ in range(2)
    ]
    tokens = _token(oidc, client_id, client["client_secret"], codes[0]).json()
    url = f"{oidc.url}/v1/oidc-clients/{client_id}"
    assert requests.delete(url, headers={"x-api-key": API_KEY}, timeout=30).status_code == 200
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert requests.get(f"{oidc.url}/oidc/userinfo", headers=bearer, timeout=30).status_code == 401
    again = register(oidc.url, API_KEY, client_id)
    assert requests.get(f"{oidc.url}/oidc/userinfo", headers=bearer, timeout=30).status_code == 401
    stale = _token(oidc, client_id, again["client_secret"], codes[1])
    assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"


def test_a_double_submitted_identity_form_starts_one_session(oidc: Stack) -> None:
    client_id, _ = _client(oidc)
    browser = Browser(oidc.url)
    browser.open(**_params(client_id, scope="openid mid"))
    body = {"csrf": browser.csrf, "action": "start", **MOBILE_ID}
    before = oidc.stats()["sandboxes"]["dokobit"]["calls"]["login"]

    def submit(_: int) -> int:
        url = f"{oidc.url}/oidc/login"
        return browser.http.post(url, data=body, allow_redirects=False, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=3) as pool:
        assert set(pool.map(submit, range(3))) == {303}
    assert oidc.stats()["sandboxes"]["dokobit"]["calls"]["login"] == before + 1
    assert (
        'id="control-code"'
        in browser.follow(browser.http.get(f"{oidc.url}/oidc/login", allow_redirects=False)).text
    )
