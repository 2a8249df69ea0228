"""The demo page (`/demo`) in headless Chromium, clicked through as a newcomer would, against the
real `make run` stack. Skipped where Debian's `chromium` is not installed (`make test` installs it
where the machine allows)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import API_KEY, ROOT, Stack

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing (requirements-dev.txt)")
expect = sync_api.expect

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no `chromium` on PATH: the browser tests need Debian's chromium (apt-get install chromium)",
    ),
]
# Without the background-networking flags Chromium dials out, and the closed network refuses it.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# The README's screenshot, rewritten only with UPDATE_SCREENSHOT=1 (a test run leaves the tree clean).
SCREENSHOT = ROOT / "docs" / "demo.png"


class DemoPage:
    """One tab on /demo that records console errors and every request it makes."""

    def __init__(self, page: Any, stack: Stack) -> None:
        self.page, self.stack = page, stack
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", lambda request: self.requests.append(request.url))
        page.goto(f"{stack.url}/demo")
        page.fill("#api-key", API_KEY)

    def choose(self, method: str, persona: str) -> None:
        """Pick a method, and the persona whose label starts with ``persona``."""
        self.page.select_option("#method", method)
        option = self.page.locator("#persona option", has_text=re.compile("^" + re.escape(persona)))
        self.page.select_option("#persona", option.first.get_attribute("value"))

    def body(self) -> dict[str, Any]:
        return json.loads(self.page.input_value("#body"))

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def demo(browser: Any, stack: Stack) -> Iterator[DemoPage]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield DemoPage(context.new_page(), stack)
    context.close()


def printed_otp(stack: Stack, user: str, since: int) -> str:
    """The OTP the MOSIP sandbox printed to the console for ``user``, after line ``since``."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in stack.output[since:]:
            if match := re.search(rf"MOSIP sandbox OTP for user {user} \(.*\): (\d+)", line):
                return match.group(1)
        time.sleep(0.1)
    raise AssertionError("no OTP printed")


def test_a_mobile_id_login_shows_the_control_code_then_the_identity(demo: DemoPage) -> None:
    page = demo.page
    assert page.locator("#method").input_value() == "dokobit-mobile-id"
    assert demo.body() == {"phone": "+37200000766", "personal_code": "60001019906"}
    page.fill("#body", json.dumps({**demo.body(), "reference": "order-17"}, indent=2))

    page.click("#start")

    expect(page.locator("#control-code")).to_have_text(re.compile(r"^\d{4}$"))
    expect(page.locator("#status")).to_have_text("pending")
    expect(page.locator("#status")).to_have_text("completed", timeout=20_000)
    identity = demo.text("#identity")
    assert "60001019906" in identity and "MARY ÄNN" in identity and "PNOEE-60001019906" in identity
    expect(page.locator("#control-code-box")).to_be_hidden()
    expect(page.locator("#reference")).to_have_text("order-17")
    calls = page.locator("#log .call")
    expect(calls.first).to_contain_text("POST /v1/sessions/dokobit-mobile-id")
    expect(calls.first).to_contain_text("201")
    expect(calls.last).to_contain_text("?wait=25")
    expect(calls.last).to_contain_text("200")
    # Only the page's own files and the public API, same origin, with the normal key header.
    api = [url for url in demo.requests if not url.startswith(f"{demo.stack.url}/demo")]
    assert api and all(url.startswith(f"{demo.stack.url}/v1/sessions/") for url in api)
    assert "x-api-key: " + API_KEY in demo.text("#log")
    shot = page.screenshot(path=str(SCREENSHOT) if os.environ.get("UPDATE_SCREENSHOT") == "1" else None)
    assert shot.startswith(b"\x89PNG")
    assert demo.errors == []


def test_a_mosip_otp_typed_into_the_form_completes(demo: DemoPage) -> None:
    page = demo.page
    demo.choose("mosip-otp", "Bob Test")
    assert demo.body() == {"user_id": "2345678901", "user_id_type": "UIN", "channels": ["email"]}
    since = len(demo.stack.output)

    page.click("#start")

    expect(page.locator("#otp-form")).to_be_visible()
    expect(page.locator("#attempts-left")).to_have_text("3")
    otp = printed_otp(demo.stack, "2345678901", since)
    page.fill("#otp", "00000000" if otp != "00000000" else "11111111")
    page.click("#otp-submit")
    expect(page.locator("#attempts-left")).to_have_text("2")
    page.fill("#otp", otp)
    page.click("#otp-submit")
    expect(page.locator("#status")).to_have_text("completed")
    expect(page.locator("#otp-form")).to_be_hidden()
    assert "2345678901" in demo.text("#identity")
    expect(page.locator("#credentials")).to_contain_text("mosip_auth_token")
    assert demo.errors == []


def test_a_refused_persona_shows_its_error_code(demo: DemoPage) -> None:
    page = demo.page
    demo.choose("dokobit-smart-id", "EE sid-refused")
    assert demo.body() == {"personal_code": "30403039917", "country": "EE"}
    # The reference comes back in every answer and is rendered: as text, never as markup.
    markup = '<img id="injected" src="/demo/favicon.svg">'
    page.fill("#body", json.dumps({**demo.body(), "reference": markup}))

    page.click("#start")

    expect(page.locator("#control-code")).to_have_text(re.compile(r"^\d{4}$"))
    expect(page.locator("#status")).to_have_text("failed", timeout=20_000)
    expect(page.locator("#error-code")).to_have_text("USER_CANCELLED")
    expect(page.locator("#error-message")).to_contain_text("dokobit")
    expect(page.locator("#identity-box")).to_be_hidden()
    expect(page.locator("#reference")).to_have_text(markup)
    assert page.locator("#injected").count() == 0
    assert demo.errors == []


def test_the_eeid_link_opens_the_sandbox_page_and_its_webhook_completes_the_session(demo: DemoPage) -> None:
    page = demo.page
    demo.choose("eeid", "OK TESTNUMBER")

    page.click("#start")

    link = page.locator("#redirect-link")
    expect(link).to_have_attribute("href", re.compile(r"^http://127\.0\.0\.1:\d+/eeid/ident/"))
    with page.context.expect_page() as opened:
        link.click()
    opened.value.click("button[value=match]")
    expect(page.locator("#status")).to_have_text("completed", timeout=20_000)
    assert "EE30303039914" in demo.text("#identity") and "TESTNUMBER" in demo.text("#identity")
    assert demo.errors == []


def test_the_page_has_no_console_errors_for_any_method_or_persona(demo: DemoPage) -> None:
    page = demo.page
    methods = page.locator("#method option").evaluate_all("options => options.map(o => o.value)")
    assert len(methods) == 8
    for method in methods:
        page.select_option("#method", method)
        for value in page.locator("#persona option").evaluate_all("options => options.map(o => o.value)"):
            page.select_option("#persona", value)
            body = demo.body()
            assert body, (method, value)
            if method == "mobbid-face":
                assert body["return_url"] == f"{demo.stack.url}/demo/"
    assert demo.errors == []
