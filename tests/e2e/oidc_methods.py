"""The person's part of an eeID, MobbID or MOSIP OTP login through the hosted page, in plain HTTP
(no JavaScript): the sandbox pages they visit and the codes they type, as the e2e tests reuse them."""

from __future__ import annotations

import re
from html import unescape

import requests

from tests.e2e.conftest import Stack
from tests.e2e.oidc_support import EEID, Browser
from tests.e2e.test_mosip_http import printed_otp

WAITING = 'id="waiting"'
MOSIP_USER = "carol"


def provider_link(page: requests.Response) -> str:
    found = re.search(r'<a href="([^"]+)" id="provider-link"', page.text)
    assert found, page.text
    return unescape(found.group(1))


def login(browser: Browser, stack: Stack, method: str, **params: str) -> requests.Response:
    """The whole login from the authorization request to the broker's final redirect."""
    page = browser.open(**params)
    assert page.status_code == 200, page.text
    if 'name="method"' in page.text:
        page = browser.post(action="choose", method=method)
    if method == "eeid":
        page = browser.post(action="start", **EEID)
        answer = requests.post(f"{provider_link(page)}/authenticate", data={"choice": "match"}, timeout=10)
        assert answer.status_code == 200
        return browser.wait(marker=WAITING)
    if method == "mobbid-face":
        gateway = provider_link(browser.post(action="start"))
        chosen = {"choice": "verified"}
        back = requests.post(f"{gateway}/choose", data=chosen, allow_redirects=False, timeout=10)
        browser.follow(browser.http.get(back.headers["Location"], allow_redirects=False, timeout=30))
        return browser.wait(marker=WAITING)
    assert method == "mosip-otp", method
    since = len(stack.output)
    page = browser.post(action="start", user_id=MOSIP_USER, channel="phone")
    assert 'name="otp"' in page.text, page.text
    return browser.post(action="otp", otp=printed_otp(stack, MOSIP_USER, since))
