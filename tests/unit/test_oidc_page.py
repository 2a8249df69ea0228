"""The hosted page's texts and language: every text of the templates and of the page's code is in
the Estonian catalogue, the language follows ui_locales then Accept-Language, and autoescaping holds."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from eid_broker.oidc import pages
from eid_broker.oidc.i18n import catalogue, choose_locale, read_po

OIDC = Path(pages.__file__).parent


def _texts() -> set[str]:
    found = set()
    for template in (OIDC / "templates").glob("*.html"):
        found |= set(re.findall(r'_\("((?:[^"\\]|\\.)*)"', template.read_text(encoding="utf-8")))
    tree = ast.parse((OIDC / "pages.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_" and node.args:
            argument = node.args[0]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                found.add(argument.value)
    return found


def test_every_text_has_an_estonian_translation_with_the_same_placeholders() -> None:
    estonian = read_po((OIDC / "locales" / "et.po").read_text(encoding="utf-8"))
    texts = _texts()
    assert len(texts) > 30
    missing = sorted(text for text in texts if not estonian.get(text))
    assert not missing
    for text in texts:
        assert re.findall(r"%\(\w+\)s", text) == re.findall(r"%\(\w+\)s", estonian[text]), text


@pytest.mark.parametrize(
    ("ui_locales", "accept", "expected"),
    [
        ("et", None, "et"),
        ("de fr-CA et-EE", "en", "et"),
        (None, "de-DE,et;q=0.8,en;q=0.9", "en"),
        (None, "de-DE,et;q=0.9,en;q=0.8", "et"),
        ("de", "fr", "en"),
        (None, None, "en"),
    ],
)
def test_the_language_follows_ui_locales_then_accept_language(ui_locales, accept, expected) -> None:
    assert choose_locale(ui_locales, accept) == expected


def test_a_page_renders_in_estonian_with_its_lang_and_escapes_what_it_shows(monkeypatch) -> None:
    monkeypatch.setattr(pages, "endpoint", lambda path: f"https://id.example{path}")
    html = pages.render(
        "failed.html",
        "et",
        client_name="<b>Bank</b>",
        csrf="t",
        reason="x",
        offers=[],
        method=None,
        fields=(),
    )
    assert '<html lang="et">' in html and "Proovi uuesti" in html and 'id="retry"' in html
    assert "&lt;b&gt;Bank&lt;/b&gt;" in html and "<b>Bank</b>" not in html
    assert catalogue("et").gettext("Try again") == "Proovi uuesti"
    assert catalogue("ru").gettext("Try again") == "Try again"  # no catalogue yet: English


@pytest.mark.parametrize(
    ("issuer", "secure"), [("https://id.example", True), ("http://127.0.0.1:3000", False)]
)
def test_the_login_cookie_is_httponly_lax_and_secure_when_the_issuer_is_https(
    monkeypatch, issuer, secure
) -> None:
    from eid_broker import config
    from eid_broker.oidc import web

    monkeypatch.setenv("OIDC_ISSUER", issuer)
    config.process_settings.cache_clear()
    cookie = web.set_cookie("eidb_login", "v", max_age=600)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=600" in cookie
    assert ("Secure" in cookie) is secure
    headers = web.page_headers("https://bank.example/cb?x=1")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "form-action 'self' https://bank.example;" in headers["Content-Security-Policy"]
