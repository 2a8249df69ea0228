"""axe-core (npm, pinned in package.json) run inside a Playwright page: the accessibility rules it
breaks, with their impact. Evaluated through the DevTools protocol, so the page's strict CSP stays on."""

from __future__ import annotations

from functools import cache
from typing import Any

from tests.e2e.conftest import ROOT

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")),
  }));
}"""


def available() -> bool:
    return AXE.is_file()


@cache
def _source() -> str:
    return AXE.read_text(encoding="utf-8")


def violations(page: Any) -> list[dict[str, Any]]:
    """Every violation axe finds on the page as it stands."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_source())
    return list(page.evaluate(RUN))


def blocking(page: Any) -> list[dict[str, Any]]:
    """The serious and critical ones: a page must have none."""
    return [found for found in violations(page) if found["impact"] in BLOCKING]
