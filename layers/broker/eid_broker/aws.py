"""AWS clients and provider secrets, created once per container (boto3 clients cost ~200 ms cold)."""

from __future__ import annotations

from functools import cache
from typing import Any

from eid_broker.errors import InternalUnavailable
from eid_broker.observability import logger


@cache
def client(service: str) -> Any:
    # boto3 is imported on first use, so a function pays its ~120 ms only on the path that needs AWS.
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client(service, config=config)


def provider_secret(name: str | None, *, required: tuple[str, ...], max_age: int) -> dict[str, str]:
    """The provider's credentials (a JSON secret), cached by Powertools Parameters for max_age seconds."""
    from aws_lambda_powertools.utilities import parameters

    try:
        if not name:
            raise KeyError("secret name not configured")
        value = parameters.get_secret(name, transform="json", max_age=max_age)
        if not isinstance(value, dict) or any(not value.get(key) for key in required):
            raise KeyError("secret lacks a required key")
    except Exception as exc:
        logger.error("provider secret unreadable", extra={"secret": name, "reason": type(exc).__name__})
        raise InternalUnavailable("The broker's provider configuration could not be read.") from exc
    return value
