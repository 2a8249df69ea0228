"""Unit tests open no network socket: pytest-socket refuses every socket but unix ones (which the in-process
transport of tests/transport.py uses), here under `make test` as under `make unit`."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent
# Provider-client tests that still talk to a sandbox on a loopback port (owned elsewhere, to be moved onto
# tests/transport.py); until then they keep their sockets.
LOOPBACK = frozenset(
    {
        "test_dokobit_client.py",
        "test_marksign_client.py",
        "test_mobbid_client.py",
        "test_mosip_client.py",
        "test_smart_id_clients.py",
    }
)
# The webhook transport's own tests: its deadlines must hold on a real TCP connection (a trickling or silent
# receiver, a TLS handshake that never ends, a closed port), so they serve one on loopback by design.
REAL_SOCKETS = frozenset({"test_webhook_transport.py"})
# A thousand seeded race interleavings against moto: one test of about a minute, run by `make test` and
# left out of the fast loop (`make unit` deselects the `slow` mark).
SLOW = frozenset(
    {"test_races.py::test_a_thousand_interleavings_never_flip_a_final_state_nor_lose_an_outcome"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.path))
        if path.parent != HERE:
            continue
        if path.name in LOOPBACK | REAL_SOCKETS:
            item.add_marker(pytest.mark.enable_socket)
        else:
            item.add_marker(pytest.mark.disable_socket)
        if f"{path.name}::{item.name}" in SLOW:
            item.add_marker(pytest.mark.slow)
