"""What a built-in sandbox tells the local stack about itself. Each provider module defines one
``SANDBOX = SandboxSpec(...)``; :func:`local.sandboxes.registry` finds them: a new provider edits no list."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SandboxSpec:
    provider: str  # secret eid-broker/{stage}/{provider}, mounted at /{provider}
    base_url_parameter: str  # the template parameter the sandbox's URL fills in
    credentials: dict[str, str]  # secret keys -> sandbox defaults ({PROVIDER}_{KEY} env vars override)
    factory: Callable[..., Any]  # the WSGI app, with .stats() and .reset(); gets the credential keys it names
    port: int  # where `python -m local.sandboxes NAME` serves it alone
    printable: tuple[str, ...] = ()  # keys `make run` may show while they hold the sandbox defaults
    personas: Sequence[Mapping[str, Any]] = field(default=(), compare=False)  # listed by `python -m`


def env(name: str, default: str) -> str:
    """A factory's option from the environment `make run` reads (options given on the command line win)."""
    return os.environ.get(name, default)
