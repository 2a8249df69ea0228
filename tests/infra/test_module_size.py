"""Modules by use case: no product module (the broker layer's package, the functions' entry points) is over
300 lines. A module that grows past it holds more than one use case: split it along the use cases."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 300
PRODUCT = sorted(
    [*(ROOT / "layers" / "broker" / "eid_broker").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
)


def test_the_product_modules_are_found() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in PRODUCT}
    assert "layers/broker/eid_broker/config.py" in names
    assert "functions/session_get/app.py" in names


@pytest.mark.parametrize("module", PRODUCT, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_no_product_module_is_over_300_lines(module: Path) -> None:
    lines = len(module.read_text(encoding="utf-8").splitlines())
    assert lines <= LIMIT, f"{module.relative_to(ROOT)} has {lines} lines (at most {LIMIT})"
