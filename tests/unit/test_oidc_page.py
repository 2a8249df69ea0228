"""The hosted page's texts and language: every text of the templates and of the page's code is in
the Estonian catalogue, the language follows ui_locales then Accept-Language, and autoescaping holds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from eid_broker.oidc import pages
from eid_broker.oidc.i18n import LOCALES, catalogue, choose_locale, read_po

OIDC = Path(pages.__file__).parent


def _texts() -> set[str]:
    """Every text of the page, as Babel's extractors find them in the templates and in the code."""
    method_map = [("templates/**.html", "jinja2.ext:babel_extract"), ("*.py", "python")]
    found = extract_from_dir(str(OIDC), method_map=method_map, keywords={"_": None})
    return {message for _, _, message, _, _ in found}


def test_the_extractor_finds_the_texts_of_templates_and_code() -> None:
    texts = _texts()
    assert len(texts) > 60
    assert {"Try again", "Attempts left: %(left)s", "A wrong code was entered three times."} <= texts


@pytest.mark.parametrize("locale", [lang for lang in LOCALES if lang != "en"])
def test_every_text_has_a_translation_with_the_same_placeholders(locale: str) -> None:
    translated = read_po((OIDC / "locales" / f"{locale}.po").read_text(encoding="utf-8"))
    texts = _texts()
    missing = sorted(text for text in texts if not translated.get(text))
    assert not missing, f"{locale} lacks {missing}"
    assert not set(translated) - texts, f"{locale} translates texts the page no longer has"
    for text in texts:
        assert re.findall(r"%\(\w+\)s", text) == re.findall(r"%\(\w+\)s", translated[text]), text


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
    assert catalogue("ru").gettext("Try again") == "Попробовать снова"
    assert catalogue("en").gettext("Try again") == "Try again"  # English is the source


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
