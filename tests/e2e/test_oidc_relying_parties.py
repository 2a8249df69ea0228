"""Relying parties nobody here wrote, logging a person in through the broker's hosted page on
`make run`: node `openid-client` (certified; discovery, code flow with PKCE and private_key_jwt,
userinfo; the browser part by plain HTTP) and Apache's mod_auth_openidc (certified) driven by
headless Chromium. Mobile-ID and Smart-ID both."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey

from tests.e2e import oidc_apache
from tests.e2e.conftest import API_KEY, ROOT, Stack
from tests.e2e.oidc_support import CALLBACK, MOBILE_ID, SMART_ID, Browser, register

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
    ("person", "method", "kind", "scope"),
    [
        (MOBILE_ID, "dokobit-mobile-id", "RSA", "openid phone"),
        (SMART_ID, "dokobit-smart-id", "EC", "openid smartid"),
    ],
    ids=["mobile-id-rs256", "smart-id-es256"],
)
def test_openid_client_logs_a_person_in_with_private_key_jwt_and_pkce(
    stack: Stack, person: dict, method: str, kind: str, scope: str
) -> None:
    private, public = _key(kind)
    client_id = f"node-{uuid.uuid4().hex[:8]}"
    register(
        stack.url, API_KEY, client_id, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [public]}
    )
    rp = subprocess.Popen(
        [str(NODE), str(RP_SCRIPT), stack.url, client_id, CALLBACK],
        cwd=ROOT,
        env={**os.environ, "OIDC_RP_PRIVATE_JWK": json.dumps(private), "OIDC_RP_SCOPE": scope},
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
        browser = Browser(stack.url)
        chosen = None if scope.endswith("smartid") else method  # a family scope leaves one method
        answer = browser.login(person, chosen, **params)
        rp.stdin.write(answer.headers["Location"] + "\n")
        rp.stdin.flush()
        result = json.loads(rp.stdout.readline())
    finally:
        rp.kill()
        rp.wait(timeout=10)
    assert "error" not in result, result
    claims, userinfo = result["claims"], result["userinfo"]
    assert claims["iss"] == stack.url and claims["aud"] == client_id
    if method == "dokobit-mobile-id":
        assert claims["sub"] == "EE60001019906" and claims["amr"] == ["mID"]
        assert userinfo["phone_number"] == "+37200000766"
    else:
        assert claims["sub"] == "EE40504040001" and claims["amr"] == ["smartid"]
    assert userinfo["sub"] == claims["sub"] and userinfo["given_name"] == claims["given_name"]


@pytest.fixture
def apache(stack: Stack) -> Iterator[oidc_apache.Apache]:
    if not oidc_apache.available():
        pytest.skip("apache2 and libapache2-mod-auth-openidc are needed (make deps installs them as root)")
    port = oidc_apache.free_port()
    client_id = f"apache-{uuid.uuid4().hex[:8]}"
    redirect_uri = f"http://127.0.0.1:{port}/protected/redirect_uri"
    client = register(
        stack.url,
        API_KEY,
        client_id,
        redirect_uris=[redirect_uri],
        methods=["dokobit-mobile-id", "dokobit-smart-id"],
    )
    # Not pytest's tmp_path: Apache's unprivileged user must reach the CGI through every parent.
    directory = Path(tempfile.mkdtemp(prefix="eidb-apache-"))
    try:
        server = oidc_apache.start(directory, stack.url, client_id, client["client_secret"], port)
        yield server
        server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


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
