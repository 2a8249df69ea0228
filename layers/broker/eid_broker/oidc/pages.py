"""The hosted page's HTML: Jinja2 templates with autoescaping, every text through the catalogue."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from eid_broker.oidc.i18n import catalogue
from eid_broker.oidc.issuer import endpoint

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {"login.css": "text/css; charset=utf-8", "login.js": "text/javascript; charset=utf-8"}


def _(text: str) -> str:
    """Marks a text for the catalogue; it is translated where it is shown (`translate`)."""
    return text


METHOD_NAMES = {
    "dokobit-mobile-id": _("Mobile-ID"),
    "marksign-mobile-id": _("Mobile-ID"),
    "dokobit-smart-id": _("Smart-ID"),
    "marksign-smart-id": _("Smart-ID"),
    "eeid": _("eeID"),
    "mobbid-face": _("Face verification"),
    "mosip-otp": _("One-time code"),
}
COUNTRIES = (("EE", _("Estonia")), ("LT", _("Lithuania")), ("LV", _("Latvia")))
CHANNEL_NAMES = {"phone": _("Text message"), "email": _("E-mail")}
# The session's error codes in the person's words; never a provider's own message.
REASONS = {
    "USER_CANCELLED": _("The login was cancelled."),
    "TIMEOUT": _("The login was not confirmed in time."),
    "NOT_MOBILE_ID_USER": _("This number and personal code have no Mobile-ID."),
    "NOT_SMART_ID_USER": _("This personal code has no Smart-ID account."),
    "ACCOUNT_UNUSABLE": _("Your Smart-ID account cannot be used: check the Smart-ID app."),
    "PHONE_UNREACHABLE": _("Your phone could not be reached."),
    "IDENTITY_MISMATCH": _("The person who confirmed is not the one asked for."),
    "CLAIMS_MISMATCH": _("The person who confirmed is not the one asked for."),
    "BIOMETRIC_MISMATCH": _("The face did not match the person asked for."),
    "BIOMETRIC_ERROR": _("The face verification could not be completed."),
    "USER_NOT_FOUND": _("No user with this ID can receive a one-time code."),
    "OTP_EXPIRED": _("The one-time code has expired."),
    "OTP_ATTEMPTS_EXHAUSTED": _("A wrong code was entered three times."),
    "PROVIDER_UNAVAILABLE": _("The login service could not be reached. Please try again."),
}
DEFAULT_REASON = _("The login could not be completed.")
PAGE_ERRORS = {
    "unknown_client": _("The site that sent you here is not registered with this login service."),
    "unknown_redirect_uri": _(
        "The site that sent you here gave an address this login service does not know."
    ),
    "no_login": _("There is no login in progress here, or it has expired."),
    "forbidden": _("This form has expired or was not sent from this page."),
    "done": _("This login has already finished."),
}
FORM_PROBLEMS = {
    "rate_limited": _("Too many login attempts for this person. Try again in %(seconds)s s."),
    "unavailable": _("The login service could not be reached. Please try again."),
    "phone": _("Enter a mobile number of Estonia, Latvia or Lithuania, like +37255512345."),
    "personal_code": _("Enter a valid personal code of the chosen country."),
    "country": _("Choose a country."),
    "user_id": _("Enter your user ID: Latin letters, digits and . _ @ + - only."),
    "channel": _("Choose where to send the code."),
    "otp_format": _("Enter the code you received: 4 to 8 digits."),
    "otp_wrong": _("This code is not correct. Attempts left: %(left)s."),
}


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
    )
    return env


def translate(locale: str, text: str, **values: Any) -> str:
    message = catalogue(locale).gettext(text)
    return message % values if values else message


def render(template: str, locale: str, **context: Any) -> str:
    env = environment()
    translations = catalogue(locale)
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    names = {method: translations.gettext(name) for method, name in METHOD_NAMES.items()}
    countries = [(code, translations.gettext(name)) for code, name in COUNTRIES]
    channel_names = {code: translations.gettext(name) for code, name in CHANNEL_NAMES.items()}
    return env.get_template(template).render(
        locale=locale,
        static=endpoint("/oidc/static"),
        action=endpoint("/oidc/login"),
        method_names=names,
        countries=countries,
        channel_names=channel_names,
        **context,
    )


def static_file(name: str) -> tuple[str, str] | None:
    if name not in STATIC_TYPES:
        return None
    return (STATIC / name).read_text(encoding="utf-8"), STATIC_TYPES[name]
