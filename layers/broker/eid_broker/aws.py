"""AWS clients and provider secrets, created once per container (boto3 clients cost ~200 ms cold)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from eid_broker.config import ProviderSettings, get_settings
from eid_broker.errors import InternalUnavailable
from eid_broker.observability import logger


@cache
def client(service: str) -> Any:
    # boto3 is imported on first use, so a function pays its ~120 ms only on the path that needs AWS.
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client(service, config=config)


def before_snapshot(*steps: Callable[[], object]) -> None:
    """Under Lambda SnapStart, run `steps` (what a first call sets up: clients, pooled sessions, never
    a secret's value) before the snapshot is taken, so a restored environment starts with them done.
    Elsewhere (no snapshot runtime: make run, tests, a function without SnapStart) nothing happens."""
    try:
        from snapshot_restore_py import register_before_snapshot  # only in Lambda's python3.12+ runtimes
    except ImportError:
        return
    for step in steps:
        register_before_snapshot(step)


class LazyClient:
    """A client made on first use: a function that rarely needs a service (the eeID webhook starts an
    execution only when a delivery fails) does not pay for it on every cold start."""

    def __init__(self, service: str) -> None:
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(client(self._service), name)


@cache
def secrets_provider() -> Any:
    """Powertools Parameters over this container's one Secrets Manager client."""
    from aws_lambda_powertools.utilities import parameters

    return parameters.SecretsProvider(boto3_client=client("secretsmanager"))


def provider_secret(name: str | None, *, required: tuple[str, ...], max_age: int) -> dict[str, str]:
    """The provider's credentials (a JSON secret), cached by Powertools Parameters for max_age seconds."""
    try:
        if not name:
            raise KeyError("secret name not configured")
        value = secrets_provider().get(name, transform="json", max_age=max_age)
        if not isinstance(value, dict) or any(not value.get(key) for key in required):
            raise KeyError("secret lacks a required key")
    except Exception as exc:
        logger.error("provider secret unreadable", extra={"secret": name, "reason": type(exc).__name__})
        raise InternalUnavailable("The broker's provider configuration could not be read.") from exc
    return value


def provider_credentials(settings: ProviderSettings, *required: str) -> dict[str, str]:
    """A provider's credentials secret (`{PREFIX}_SECRET_NAME`), which must hold every `required` key."""
    max_age = get_settings().secrets_max_age_seconds
    return provider_secret(settings.secret_name, required=required, max_age=max_age)
