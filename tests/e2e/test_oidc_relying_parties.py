"""Relying parties nobody here wrote, logging a person in through the broker's hosted page on
`make run`: node `openid-client` (certified; discovery, code flow with PKCE and private_key_jwt,
userinfo; the browser part by plain HTTP) and Apache's mod_auth_openidc (certified) driven by
headless Chromium. Every method: Mobile-ID, Smart-ID, eeID, MobbID face and MOSIP OTP with
openid-client; Mobile-ID, Smart-ID, eeID (the page continuing by its JavaScript long-poll), MOSIP
OTP and MobbID face (its `login_hint` set by `OIDCAuthRequestParams`) with mod_auth_openidc."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey

from tests.e2e import axe_support, oidc_apache, oidc_methods
from tests.e2e.conftest import API_KEY, ROOT, Stack
from tests.e2e.oidc_support import CALLBACK, EEID, MOBILE_ID, SMART_ID, Browser, register
from tests.e2e.test_mosip_http import printed_otp

pytestmark = pytest.mark.e2e
NODE = shutil.which("node")
RP_SCRIPT = ROOT / "tests" / "e2e" / "oidc_rp.mjs"
CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOT = ROOT / "docs" / "oidc-login.png"


def _key(kind: str) -> tuple[dict, dict]:
    key = (
        RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        if kind == "RSA"
        else ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    )
    named = {"kid": key.thumbprint(), "alg": "RS256" if kind == "RSA" else "ES256"}
    return {**key.as_dict(private=True), **named}, {**key.as_dict(private=False), **named}


@pytest.mark.skipif(
    NODE is None or not (ROOT / "node_modules" / "openid-client").is_dir(),
    reason="node and openid-client are needed (make deps: npm ci)",
)
@pytest.mark.parametrize(
    ("person", "method", "kind", "scope", "hint"),
    [
        (MOBILE_ID, "dokobit-mobile-id", "RSA", "openid phone", ""),
        (SMART_ID, "dokobit-smart-id", "EC", "openid smartid", ""),
        (EEID, "eeid", "RSA", "openid", ""),
        ({}, "mobbid-face", "EC", "openid", "alice"),
        ({}, "mosip-otp", "RSA", "openid otp", ""),
    ],
    ids=["mobile-id-rs256", "smart-id-es256", "eeid-rs256", "mobbid-face-es256", "mosip-otp-rs256"],
)
def test_openid_client_logs_a_person_in_with_private_key_jwt_and_pkce(
    stack: Stack, person: dict, method: str, kind: str, scope: str, hint: str
) -> None:
    private, public = _key(kind)
    client_id = f"node-{uuid.uuid4().hex[:8]}"
    methods = ["dokobit-mobile-id", "dokobit-smart-id", "eeid", "mobbid-face", "mosip-otp"]
    register(
        stack.url,
        API_KEY,
        client_id,
        methods=methods,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [public]},
    )
    rp = subprocess.Popen(
        [str(NODE), str(RP_SCRIPT), stack.url, client_id, CALLBACK],
        cwd=ROOT,
        env={
            **os.environ,
            "OIDC_RP_PRIVATE_JWK": json.dumps(private),
            "OIDC_RP_SCOPE": scope,
            "OIDC_RP_LOGIN_HINT": hint,
        },
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert rp.stdout is not None and rp.stdin is not None
        started = json.loads(rp.stdout.readline() or "{}")
        assert "authorization_url" in started, rp.stderr.read() if rp.stderr else ""
        params = dict(parse_qsl(urlsplit(started["authorization_url"]).query))
        assert params["code_challenge_method"] == "S256"
        assert params.get("login_hint", "") == hint
        browser = Browser(stack.url)
        if method.startswith("dokobit"):
            chosen = None if scope.endswith("smartid") else method  # a family scope leaves one method
            answer = browser.login(person, chosen, **params)
        else:
            answer = oidc_methods.login(browser, stack, method, **params)
        rp.stdin.write(answer.headers["Location"] + "\n")
        rp.stdin.flush()
        result = json.loads(rp.stdout.readline())
    finally:
        rp.kill()
        rp.wait(timeout=10)
    assert "error" not in result, result
    claims, userinfo = result["claims"], result["userinfo"]
    assert claims["iss"] == stack.url and claims["aud"] == client_id
    expected = {
        "dokobit-mobile-id": ("EE60001019906", "mID", "high"),
        "dokobit-smart-id": ("EE40504040001", "smartid", "high"),
        "eeid": ("EE30303039914", "eeid", claims["acr"]),  # eeID's own level: the HTTP test checks it
        "mobbid-face": ("mobbid:alice", "face", "substantial"),
        "mosip-otp": ("mosip:carol", "otp", "low"),
    }[method]
    assert (claims["sub"], claims["amr"], claims["acr"]) == (expected[0], [expected[1]], expected[2])
    if method == "dokobit-mobile-id":
        assert userinfo["phone_number"] == "+37200000766"
    assert userinfo["sub"] == claims["sub"] and userinfo.get("given_name") == claims.get("given_name")


@contextmanager
def _apache(stack: Stack, methods: list[str], **auth_request_params: str) -> Iterator[oidc_apache.Apache]:
    if not oidc_apache.available():
        pytest.skip("apache2 and libapache2-mod-auth-openidc are needed (make deps installs them as root)")
    port = oidc_apache.free_port()
    client_id = f"apache-{uuid.uuid4().hex[:8]}"
    redirect_uri = f"http://127.0.0.1:{port}/protected/redirect_uri"
    client = register(stack.url, API_KEY, client_id, redirect_uris=[redirect_uri], methods=methods)
    # Not pytest's tmp_path: Apache's unprivileged user must reach the CGI through every parent.
    directory = Path(tempfile.mkdtemp(prefix="eidb-apache-"))
    try:
        secret = client["client_secret"]
        server = oidc_apache.start(directory, stack.url, client_id, secret, port, auth_request_params)
        yield server
        server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def apache(stack: Stack) -> Iterator[oidc_apache.Apache]:
    with _apache(stack, ["dokobit-mobile-id", "dokobit-smart-id", "eeid", "mosip-otp"]) as server:
        yield server


@pytest.mark.skipif(CHROMIUM is None, reason="no `chromium` on PATH (make deps installs Debian's chromium)")
@pytest.mark.parametrize(
    ("method", "person"),
    [("dokobit-mobile-id", MOBILE_ID), ("dokobit-smart-id", SMART_ID)],
    ids=["mobile-id", "smart-id"],
)
def test_mod_auth_openidc_protects_a_page_that_shows_the_claims_after_a_login(
    apache: oidc_apache.Apache, method: str, person: dict
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="en-GB")
            page.goto(f"{apache.url}/protected/claims")
            choice = page.locator(f'button[name="method"][value="{method}"]')
            assert choice.count() == 1, (page.url, page.content()[:2000], apache.error_log()[-2000:])
            choice.click()
            for name, value in person.items():
                if name == "country":
                    page.select_option("#country", value)
                else:
                    page.fill(f"#{name}", value)
            page.locator('button[type="submit"].primary').click()
            code = page.locator("#control-code")
            sync_api.expect(code).to_have_text(__import__("re").compile(r"^\d{4}$"), timeout=15_000)
            if method == "dokobit-mobile-id" and os.environ.get("UPDATE_SCREENSHOT") == "1":
                page.screenshot(path=str(SCREENSHOT), full_page=True)
            claims = page.locator("#claims")
            sync_api.expect(claims).to_be_visible(timeout=30_000)
            sub = page.locator("#claim-sub").inner_text()
            given = page.locator("#claim-given_name").inner_text()
        finally:
            browser.close()
    assert sub == ("EE60001019906" if method == "dokobit-mobile-id" else "EE40504040001"), apache.error_log()[
        -2000:
    ]
    assert given == ("MARY ÄNN" if method == "dokobit-mobile-id" else "ONA")


@pytest.mark.skipif(CHROMIUM is None, reason="no `chromium` on PATH (make deps installs Debian's chromium)")
@pytest.mark.parametrize("method", ["eeid", "mosip-otp"])
def test_mod_auth_openidc_with_eeid_by_long_poll_and_with_a_mosip_otp(
    apache: oidc_apache.Apache, stack: Stack, method: str
) -> None:
    """eeID in another tab while the page, by its JavaScript long-poll, continues by itself; an OTP
    typed into the page's form. axe-core finds nothing serious on either."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="et-EE")
            page = context.new_page()
            polls: list[str] = []
            page.on(
                "request",
                lambda request: polls.append(request.url) if "/oidc/login/status" in request.url else None,
            )
            page.goto(f"{apache.url}/protected/claims")
            page.locator(f'button[name="method"][value="{method}"]').click()
            if method == "eeid":
                page.fill("#personal_code", EEID["personal_code"])
                page.locator('button[type="submit"].primary').click()
                assert axe_support.blocking(page) == []
                with context.expect_page() as opened:
                    page.locator("#provider-link").click()
                eeid = opened.value
                eeid.locator('button[value="match"]').click()
            else:
                page.fill("#user_id", oidc_methods.MOSIP_USER)
                since = len(stack.output)
                page.locator('button[type="submit"].primary').click()
                assert page.locator("#attempts").inner_text() == "Katseid jäänud: 3"
                assert axe_support.blocking(page) == []
                page.fill("#otp", printed_otp(stack, oidc_methods.MOSIP_USER, since))
                page.locator('button[type="submit"].primary').click()
            sync_api.expect(page.locator("#claims")).to_be_visible(timeout=30_000)
            sub = page.locator("#claim-sub").inner_text()
            amr = page.locator("#claim-amr").inner_text()
        finally:
            browser.close()
    if method == "eeid":
        assert sub == "EE30303039914" and "eeid" in amr
        assert polls, "the waiting page should long-poll its status"
    else:
        assert sub == "mosip:carol" and "otp" in amr


@pytest.mark.skipif(CHROMIUM is None, reason="no `chromium` on PATH (make deps installs Debian's chromium)")
def test_mod_auth_openidc_with_mobbid_face_and_a_login_hint_from_auth_request_params(stack: Stack) -> None:
    """MobbID is offered only with a user-id login_hint: Apache adds `login_hint=alice` to its
    authorization request. The person goes to the MobbID sandbox's gateway in the same tab, verifies
    as the enrolled person, and the gateway returns them to the page, which continues to Apache."""
    sync_api = pytest.importorskip("playwright.sync_api")
    methods = ["eeid", "mobbid-face", "mosip-otp"]
    with _apache(stack, methods, login_hint="alice") as apache, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="en-GB")
            authorize: list[str] = []
            page.on("request", lambda r: authorize.append(r.url) if "/oidc/authorize?" in r.url else None)
            page.goto(f"{apache.url}/protected/claims")
            assert [dict(parse_qsl(urlsplit(url).query)).get("login_hint") for url in authorize] == ["alice"]
            choice = page.locator('button[name="method"][value="mobbid-face"]')
            assert choice.count() == 1, (page.url, page.content()[:2000], apache.error_log()[-2000:])
            choice.click()
            assert page.locator("#user_id").count() == 0  # the user is the login_hint
            page.locator('button[type="submit"].primary').click()
            page.locator("#provider-link").click()
            page.locator('button[name="choice"][value="verified"]').click()
            sync_api.expect(page.locator("#claims")).to_be_visible(timeout=30_000)
            claims = {name: page.locator(f"#claim-{name}").inner_text() for name in ("sub", "amr", "acr")}
        finally:
            browser.close()
    assert claims == {"sub": "mobbid:alice", "amr": "face", "acr": "substantial"}, apache.error_log()[-2000:]
