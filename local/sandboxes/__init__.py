"""The built-in provider sandboxes of `make run`: one module per provider, each registering itself with a
module-level ``SANDBOX`` (:class:`local.sandboxes.spec.SandboxSpec`), as the broker's methods do."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from local.sandboxes.spec import SandboxSpec


@cache
def registry() -> tuple[SandboxSpec, ...]:
    """Every sandbox found in this package's modules, in provider order."""
    found: dict[str, SandboxSpec] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_"):
            continue
        spec = getattr(importlib.import_module(f"{__name__}.{module.name}"), "SANDBOX", None)
        if isinstance(spec, SandboxSpec):
            found[spec.provider] = spec
    return tuple(sorted(found.values(), key=lambda spec: spec.port))


SANDBOXES = registry()
# The secrets' keys and their sandbox defaults, as `make run` seeds each provider's secret.
CREDENTIALS: dict[str, dict[str, str]] = {spec.provider: dict(spec.credentials) for spec in SANDBOXES}

__all__ = ["CREDENTIALS", "SANDBOXES", "SandboxSpec", "registry"]
