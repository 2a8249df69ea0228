"""Under SnapStart the latency-critical functions set up their clients before the snapshot; elsewhere
(no snapshot runtime) importing them does nothing more than before."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from eid_broker import aws

ROOT = Path(__file__).resolve().parents[2]


def load(function: str) -> None:
    spec = importlib.util.spec_from_file_location(
        f"snapstart_{function}", ROOT / "functions" / function / "app.py"
    )
    assert spec and spec.loader
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


@pytest.mark.parametrize(
    ("function", "steps"),
    [
        ("eeid_webhook", {"default_service", "shared_session", "secrets_provider"}),
        ("webhook_send", {"sender"}),
        ("webhook_dispatch", {"dispatch"}),
    ],
)
def test_a_snapstart_function_registers_its_setup_before_the_snapshot(
    function: str, steps: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    registered: list[object] = []
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_before_snapshot = registered.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    load(function)
    assert {getattr(step, "__name__", "") for step in registered} == steps
    assert all(callable(step) for step in registered)


def test_without_a_snapshot_runtime_nothing_is_registered_nor_run(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails, as off Lambda
    aws.before_snapshot(lambda: ran.append("step"))
    assert ran == []
