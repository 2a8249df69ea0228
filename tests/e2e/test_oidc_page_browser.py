"""The hosted login page in headless Chromium, as a person sees it: every step of every method
(chooser, identity forms, a form's problem, waiting with a control code or a provider's link, the OTP
form and a wrong code, the failure page, the error page) checked with axe-core — no serious or
critical violation — in English and Russian, light and dark; usable at 320 px without sideways
scrolling; the focus order of a form; the control code read out digit by digit. UPDATE_SCREENSHOT=1
rewrites the screenshots in docs/oidc-steps/ (desktop and 320 px); a plain run leaves the tree clean."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.e2e import axe_support
from tests.e2e.conftest import API_KEY, ROOT, Stack, launch, stop
from tests.e2e.oidc_support import CALLBACK, MOBILE_ID, register
from tests.e2e.test_mosip_http import printed_otp

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing (requirements-dev.txt)")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="no `chromium` on PATH (make deps)"),
    pytest.mark.skipif(not axe_support.available(), reason="axe-core is missing (npm ci)"),
]
CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SHOTS = ROOT / "docs" / "oidc-steps"
UPDATE = os.environ.get("UPDATE_SCREENSHOT") == "1"
METHODS = ["dokobit-mobile-id", "dokobit-smart-id", "eeid", "mobbid-face", "mosip-otp"]
# MOSIP freezes a user after three wrong codes: one sandbox user (and channel) per language.
MOSIP_USERS = {"en": ("alice", "phone"), "ru": ("2345678901", "email")}


@pytest.fixture(scope="module")
def oidc() -> Iterator[Stack]:
    # Mobile-ID answers after 4 s here, so its waiting page stays put while axe reads it.
    running = launch(DOKOBIT_SANDBOX_OK_AFTER="4", SESSION_TIMEOUT_SECONDS="20")
    yield running
    stop(running)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Steps:
    """One person's tab: each step checked with axe at desktop width and at 320 px."""

    def __init__(self, page: Any, stack: Stack, client_id: str, locale: str) -> None:
        self.page, self.stack, self.client_id, self.locale = page, stack, client_id, locale
        self.checked: list[str] = []

    def authorize(self, **extra: str) -> None:
        params = {
            "client_id": self.client_id,
            "redirect_uri": CALLBACK,
            "response_type": "code",
            "scope": "openid",
            "state": uuid.uuid4().hex,
            "ui_locales": self.locale,
            **extra,
        }
        self.page.goto(f"{self.stack.url}/oidc/authorize?{urlencode(params)}")

    def check(self, step: str) -> None:
        page = self.page
        assert page.locator("html").get_attribute("lang") == self.locale
        for width in (1280, 320):
            page.set_viewport_size({"width": width, "height": 800})
            found = axe_support.blocking(page)
            assert found == [], (step, width, found)
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (step, width, overflow)
            if UPDATE and self.locale == "en":
                SHOTS.mkdir(exist_ok=True)
                name = step if width == 1280 else f"{step}-320"
                page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        page.emulate_media(color_scheme="dark")  # the page follows the system's dark mode
        try:
            assert axe_support.blocking(page) == [], (step, "dark")
        finally:
            page.emulate_media(color_scheme="light")
        self.checked.append(step)

    def choose(self, method: str, **extra: str) -> None:
        self.authorize(login_hint="alice", **extra)
        self.page.locator(f'button[name="method"][value="{method}"]').click()

    def submit(self) -> None:
        self.page.locator('form button[type="submit"].primary').click()


@pytest.fixture(params=["en", "ru"])
def steps(request: Any, oidc: Stack, chromium: Any) -> Iterator[Steps]:
    client_id = f"axe-{uuid.uuid4().hex[:8]}"
    register(oidc.url, API_KEY, client_id, methods=METHODS)
    context = chromium.new_context(locale=request.param)
    yield Steps(context.new_page(), oidc, client_id, request.param)
    context.close()


def test_the_error_page_and_the_chooser(steps: Steps) -> None:
    steps.page.goto(
        f"{steps.stack.url}/oidc/authorize?client_id=nobody&{urlencode({'ui_locales': steps.locale})}"
    )
    assert steps.page.locator("#error").is_visible()
    steps.check("error")
    steps.authorize(login_hint="alice")
    assert steps.page.locator('button[name="method"]').count() == len(METHODS)
    steps.check("chooser")


def test_mobile_id_form_problem_focus_order_and_control_code(steps: Steps) -> None:
    page = steps.page
    steps.choose("dokobit-mobile-id")
    steps.check("form-mobile-id")
    # the keyboard goes through the page in reading order
    page.locator("body").focus()
    order = []
    for _ in range(5):
        page.keyboard.press("Tab")
        order.append(page.evaluate("() => document.activeElement.id || document.activeElement.className"))
    assert order == ["phone", "personal_code", "primary", "link", "cancel"], order
    page.fill("#phone", MOBILE_ID["phone"])
    page.fill("#personal_code", "60001019907")
    steps.submit()
    assert page.locator("#problem").get_attribute("role") == "alert"
    steps.check("form-problem")
    page.fill("#personal_code", MOBILE_ID["personal_code"])
    steps.submit()
    code = page.locator("#control-code")
    sync_api.expect(code).to_have_text(re.compile(r"^\d{4}$"))
    spoken = page.locator('[role="status"] .visually-hidden').inner_text()
    assert spoken.endswith(": " + " ".join(code.inner_text()))  # read digit by digit
    assert code.get_attribute("aria-hidden") == "true"
    steps.check("wait-mobile-id")


@pytest.mark.parametrize("method", ["dokobit-smart-id", "eeid", "mobbid-face"])
def test_the_identity_form_and_the_waiting_page(steps: Steps, method: str) -> None:
    page = steps.page
    steps.choose(method)
    steps.check(f"form-{method}")
    if method != "mobbid-face":
        page.select_option("#country", "EE")
        page.fill("#personal_code", "40504040001" if method == "dokobit-smart-id" else "30303039914")
    steps.submit()
    waiting = "#control-code" if method == "dokobit-smart-id" else "#provider-link"
    sync_api.expect(page.locator(waiting)).to_be_visible()
    if method != "dokobit-smart-id":
        steps.check(f"wait-{method}")


def test_the_otp_form_a_wrong_code_and_the_failure_page(steps: Steps) -> None:
    page = steps.page
    steps.choose("mosip-otp")
    assert page.locator("#user_id").input_value() == "alice"  # from login_hint
    steps.check("form-mosip-otp")
    user, channel = MOSIP_USERS[steps.locale]
    page.fill("#user_id", user)
    page.check(f'input[name="channel"][value="{channel}"]')
    since = len(steps.stack.output)
    steps.submit()
    sync_api.expect(page.locator("#otp")).to_be_visible()
    assert page.locator("#otp").get_attribute("aria-describedby") == "attempts"
    steps.check("otp")
    otp = printed_otp(steps.stack, user, since)
    wrong = "00000000" if otp != "00000000" else "11111111"
    for left in (2, 1):
        page.fill("#otp", wrong)
        steps.submit()
        sync_api.expect(page.locator("#problem")).to_contain_text(str(left))
        if left == 2:
            steps.check("otp-wrong")
    page.fill("#otp", wrong)
    steps.submit()
    sync_api.expect(page.locator("#retry")).to_be_visible()
    assert page.locator("#reason").get_attribute("role") == "alert"
    steps.check("failed")
