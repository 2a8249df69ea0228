"""One browser-less OIDC login, as a relying party's backend and a person's browser do it in plain HTTP:
authorize, the hosted page's forms, the waiting page's long-poll (the path a browser with JavaScript
takes), the redirect to the relying party, the token exchange and userinfo; the ID token verified."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from eid_broker.oidc.catalog import OFFERS
from local.bench.common import PERSON, Barriers, BenchError, SessionRun

CALLBACK = "http://127.0.0.1:9/cb"  # never fetched: the client reads the Location header
OIDC_METHOD = "dokobit-mobile-id"
STATUS_TIMEOUT = 90.0  # a login still waiting after this long broke the run


@dataclass
class LoginRun(SessionRun):
    """One login. ``created_at``: the browser opened /oidc/authorize; ``finished_at``: it got the 303 to
    redirect_uri; ``ref``: the control code the page showed (pairs it with the sandbox's session)."""

    authorize_ms: float = 0.0  # GET /oidc/authorize → its 303, as the browser saw it
    token_ms: float = 0.0  # POST /oidc/token, as the relying party saw it
    userinfo_ms: float = 0.0
    status_polls: int = 0  # GET /oidc/login/status long-polls until the session was final


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def field_value(html: str, name: str) -> str | None:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    return unescape(found.group(1)) if found else None


def control_code(html: str) -> str:
    found = re.search(r'id="control-code"[^>]*>([^<]+)<', html)
    return unescape(found.group(1)).strip() if found else ""


def check_claims(claims: dict[str, Any], expected: dict[str, Any], now: float) -> list[str]:
    """What is wrong with an ID token's claims (nothing: an empty list). ``expected`` holds iss, aud,
    nonce, acr and amr; ``sub`` must be present and equal userinfo's when ``expected`` has it."""
    problems = [
        f"{name} is {claims.get(name)!r}, expected {want!r}"
        for name, want in expected.items()
        if name != "sub" and claims.get(name) != want
    ]
    if not claims.get("sub"):
        problems.append("no sub")
    elif "sub" in expected and claims["sub"] != expected["sub"]:
        problems.append("sub differs from userinfo's")
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
        problems.append("exp missing or past")
    return problems


def verify_id_token(id_token: str, jwks: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The ID token's claims once its RS256 signature matches the provider's JWKS and its claims are
    what the login asked for; else BenchError."""
    try:
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        claims = dict(jwt.decode(id_token, keys, algorithms=["RS256"]).claims)
    except (JoseError, ValueError) as exc:
        raise BenchError(f"ID token signature not verified: {exc}") from exc
    if problems := check_claims(claims, expected, time.time()):
        raise BenchError("ID token claims wrong: " + "; ".join(problems))
    return claims


def _follow(http: requests.Session, url: str, answer: requests.Response) -> requests.Response:
    while answer.status_code in (302, 303) and answer.headers["Location"].startswith(url):
        answer = http.get(answer.headers["Location"], allow_redirects=False, timeout=60)
    return answer


def _post(http: requests.Session, url: str, page: requests.Response, **fields: str) -> requests.Response:
    csrf = field_value(page.text, "csrf")
    if not csrf:
        raise BenchError(f"the page has no anti-forgery token ({page.status_code}): {page.text[:200]}")
    answer = http.post(f"{url}/oidc/login", data={"csrf": csrf, **fields}, allow_redirects=False, timeout=60)
    return _follow(http, url, answer)


def oidc_login(
    url: str,
    client_id: str,
    secret: str,
    jwks: dict[str, Any],
    stagger: float,
    barriers: Barriers,
    abort: threading.Event,
) -> LoginRun:
    """One login; with ``stagger`` the wave's logins spread evenly over that many seconds."""
    index = barriers[0].wait(timeout=60)
    time.sleep(stagger * index / barriers[0].parties)
    browser, rp = requests.Session(), requests.Session()
    verifier, challenge = pkce()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params = {
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "openid",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    opened = time.time()
    answer = browser.get(f"{url}/oidc/authorize?{urlencode(params)}", allow_redirects=False, timeout=60)
    authorize_ms = (time.time() - opened) * 1000
    page = _follow(browser, url, answer)
    if page.status_code != 200:
        raise BenchError(f"authorize led to {page.status_code}: {page.text[:300]}")
    if 'value="choose"' in page.text:
        page = _post(browser, url, page, action="choose", method=OIDC_METHOD)
    page = _post(browser, url, page, action="start", **PERSON)
    code_shown = control_code(page.text)
    status_url = re.search(r'data-status="([^"]+)"', page.text)
    if not code_shown or not status_url:
        raise BenchError(f"no waiting page after the identity form ({page.status_code}): {page.text[:300]}")
    polls, deadline = 0, time.monotonic() + STATUS_TIMEOUT
    while True:  # login.js: long-poll the status; anything but pending (or starting) reloads the page
        answer = browser.get(unescape(status_url.group(1)), timeout=60)
        polls += 1
        status = answer.json().get("status") if answer.ok else "error"
        if status not in ("pending", "starting"):
            break
        if time.monotonic() > deadline or abort.is_set():
            raise BenchError("a login still waiting after its deadline, or aborted")
        if status == "starting":
            time.sleep(1)
    answer = browser.get(f"{url}/oidc/login", allow_redirects=False, timeout=60)
    redirected = time.time()
    location = answer.headers.get("Location", "")
    if answer.status_code != 303 or not location.startswith(CALLBACK + "?"):
        raise BenchError(f"the login ended {status!r} with {answer.status_code} to {location[:80]!r}")
    back = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    if back.get("state") != state or back.get("iss") != url or "code" not in back:
        raise BenchError(f"the redirect to the relying party lacks code, state or iss: {sorted(back)}")
    body = {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": CALLBACK}
    asked = time.time()
    token = rp.post(
        f"{url}/oidc/token", data={**body, "code_verifier": verifier}, auth=(client_id, secret), timeout=60
    )
    token_ms = (time.time() - asked) * 1000
    if token.status_code != 200:
        raise BenchError(f"/oidc/token answered {token.status_code}: {token.text[:300]}")
    tokens = token.json()
    asked = time.time()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    info = rp.get(f"{url}/oidc/userinfo", headers=headers, timeout=60)
    userinfo_ms = (time.time() - asked) * 1000
    if info.status_code != 200:
        raise BenchError(f"/oidc/userinfo answered {info.status_code}: {info.text[:300]}")
    offer = OFFERS[OIDC_METHOD]
    expected = {"iss": url, "aud": client_id, "nonce": nonce, "acr": offer.acr, "amr": [offer.amr]}
    verify_id_token(tokens["id_token"], jwks, {**expected, "sub": info.json().get("sub")})
    run = LoginRun("", opened, "completed", redirected, 0, 0, time.time(), code_shown)
    run.authorize_ms, run.token_ms, run.userinfo_ms, run.status_polls = (
        authorize_ms,
        token_ms,
        userinfo_ms,
        polls,
    )
    return run
