"""The built-in provider sandboxes of `make run`: one module per provider, registered here once."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.sandboxes.dokobit import DokobitSandbox
from local.sandboxes.marksign import MarkSignSandbox


@dataclass(frozen=True)
class SandboxSpec:
    provider: str  # secret eid-broker/{stage}/{provider}, mounted at /{provider}
    base_url_parameter: str  # the template parameter the sandbox's URL fills in
    credentials: dict[str, str]  # secret keys -> sandbox defaults ({PROVIDER}_{KEY} env vars override)
    factory: Callable[[], Any]  # the WSGI app, with .stats() and .reset()


def _dokobit() -> DokobitSandbox:
    return DokobitSandbox(
        access_token=os.environ.get("DOKOBIT_ACCESS_TOKEN", "sandbox-dokobit-token"),
        ok_after=float(os.environ.get("DOKOBIT_SANDBOX_OK_AFTER", "7")),
    )


def _marksign() -> MarkSignSandbox:
    return MarkSignSandbox(
        access_token=os.environ.get("MARKSIGN_ACCESS_TOKEN", "sandbox-marksign-token"),
        ok_after=float(os.environ.get("MARKSIGN_SANDBOX_OK_AFTER", "7")),
    )


SANDBOXES: list[SandboxSpec] = [
    SandboxSpec(
        provider="dokobit",
        base_url_parameter="DokobitBaseUrl",
        credentials={"access_token": "sandbox-dokobit-token"},
        factory=_dokobit,
    ),
    SandboxSpec(
        provider="marksign",
        base_url_parameter="MarksignBaseUrl",
        credentials={"access_token": "sandbox-marksign-token"},
        factory=_marksign,
    ),
]
