"""The tooling stays in proportion: the bench is a package of modules of at most 400 lines each."""

from __future__ import annotations

from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "local" / "bench"


@pytest.mark.parametrize("module", sorted(BENCH.glob("*.py")), ids=lambda path: path.name)
def test_no_bench_module_is_over_400_lines(module: Path) -> None:
    assert len(module.read_text(encoding="utf-8").splitlines()) <= 400
