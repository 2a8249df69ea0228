"""The deployment's HMAC key: every digest the broker stores or sends is keyed, never a bare hash.

A bare SHA-256 of a personal code or phone is brute-forced in seconds (the space is small); an
HMAC under a generated secret (template: BrokerKeySecret) is not.
"""

from __future__ import annotations

import hashlib
import hmac

from eid_broker import aws
from eid_broker.config import get_settings


def deployment_key() -> bytes:
    settings = get_settings()
    secret = aws.provider_secret(
        settings.broker_key_secret_name, required=("hmac_key",), max_age=settings.secrets_max_age_seconds
    )
    return secret["hmac_key"].encode("utf-8")


def keyed_digest(purpose: str, *parts: str) -> str:
    """Hex HMAC-SHA256 of the parts, separated so that ("a:b", "c") and ("a", "b:c") differ."""
    message = "\x1f".join((purpose, *parts)).encode("utf-8")
    return hmac.new(deployment_key(), message, hashlib.sha256).hexdigest()
