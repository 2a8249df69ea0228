"""The hosted page's texts: English in the templates, other languages in gettext `.po` catalogues
(`locales/{lang}.po`), chosen from `ui_locales`, else the browser's `Accept-Language`, else English."""

from __future__ import annotations

import ast
import gettext
from functools import cache
from pathlib import Path

LOCALES = ("et", "en", "ru", "lt", "lv")
_DIR = Path(__file__).parent / "locales"


class Catalogue(gettext.NullTranslations):
    """A `.po` file read as it stands (msgid/msgstr pairs; an empty msgstr falls back to English)."""

    def __init__(self, messages: dict[str, str]) -> None:
        super().__init__()
        self._messages = messages

    def gettext(self, message: str) -> str:
        return self._messages.get(message) or message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.gettext(singular if n == 1 else plural)


def read_po(text: str) -> dict[str, str]:
    messages: dict[str, str] = {}
    current: dict[str, str] = {}
    field = ""
    for raw in [*text.splitlines(), ""]:
        line = raw.strip()
        if line.startswith(("msgid ", "msgstr ")):
            field, _, value = line.partition(" ")
            if field == "msgid" and "msgstr" in current:
                messages[current["msgid"]] = current["msgstr"]
                current = {}
            current[field] = ast.literal_eval(value)
        elif line.startswith('"') and field:
            current[field] += ast.literal_eval(line)
        elif not line and "msgstr" in current:
            messages[current["msgid"]] = current["msgstr"]
            current, field = {}, ""
    messages.pop("", None)  # the header
    return messages


@cache
def catalogue(locale: str) -> Catalogue:
    path = _DIR / f"{locale}.po"
    return Catalogue(read_po(path.read_text(encoding="utf-8")) if path.is_file() else {})


def choose_locale(ui_locales: str | None, accept_language: str | None) -> str:
    for tag in (ui_locales or "").split():
        if tag.split("-")[0].lower() in LOCALES:
            return tag.split("-")[0].lower()
    ranked = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, tag.split("-")[0].strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag in LOCALES:
            return tag
    return "en"
