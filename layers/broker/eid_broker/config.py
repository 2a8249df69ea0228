"""Settings, built once per cold start from the function's environment (logic never reads os.environ)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from ipaddress import ip_address
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Express workflows stop at 5 minutes; a polling deadline must leave room for the last poll.
MAX_POLLED_SESSION_SECONDS = 280


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname)):
        return url.rstrip("/")
    raise ValueError("provider base URLs must be https (plain http only for loopback)")


class Settings(BaseModel):
    """Each field is read from the upper-cased environment variable; empty means unset."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    stage: str = "dev"
    sessions_table: str = "eid-broker-sessions"
    idempotency_table: str | None = None
    session_poll_state_machine_arn: str | None = None
    poll_function_arn: str | None = None
    session_retention_days: int = 30
    poll_interval_seconds: float | None = None
    session_timeout_seconds: float | None = None
    max_body_bytes: int = 16 * 1024
    secrets_max_age_seconds: int = 300
    provider_read_timeout_seconds: float = Field(default=10.0, gt=0, le=30)
    broker_key_secret_name: str | None = None
    person_throttle_table: str | None = None
    # 0 turns the person limit off: for local benches and test suites that reuse a few test persons.
    person_start_limit: int = Field(default=3, ge=0)
    person_start_window_seconds: int = Field(default=120, ge=1, le=86400)

    dokobit_base_url: str | None = None
    dokobit_secret_name: str | None = None

    marksign_base_url: str | None = None
    marksign_secret_name: str | None = None
    marksign_locale: Literal["lt", "en"] = "lt"
    marksign_peps_check: bool = True
    marksign_sanctions_check: bool = True

    eeid_base_url: str | None = None
    eeid_secret_name: str | None = None
    tokens_table: str | None = None

    mobbid_base_url: str | None = None
    mobbid_secret_name: str | None = None

    mosip_base_url: str | None = None
    mosip_secret_name: str | None = None
    mosip_app_id: str = "resident"
    mosip_otp_ttl_seconds: float = 120.0

    @field_validator(
        "dokobit_base_url", "marksign_base_url", "eeid_base_url", "mobbid_base_url", "mosip_base_url"
    )
    @classmethod
    def _base_urls(cls, value: str | None) -> str | None:
        return check_base_url(value)

    @field_validator("poll_interval_seconds")
    @classmethod
    def _interval(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= 60:
            raise ValueError("POLL_INTERVAL_SECONDS must be in (0, 60]")
        return value

    @field_validator("session_timeout_seconds")
    @classmethod
    def _timeout(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= MAX_POLLED_SESSION_SECONDS:
            raise ValueError(f"SESSION_TIMEOUT_SECONDS must be in (0, {MAX_POLLED_SESSION_SECONDS}]")
        return value

    def interval_for(self, default: float) -> float:
        return self.poll_interval_seconds if self.poll_interval_seconds is not None else default

    def timeout_for(self, default: float) -> float:
        return self.session_timeout_seconds if self.session_timeout_seconds is not None else default

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        # pydantic-settings would do this, at ~100 ms of import per cold start.
        return cls.model_validate(
            {name: environ[name.upper()] for name in cls.model_fields if environ.get(name.upper())}
        )


@lru_cache(maxsize=1)
def process_settings() -> Settings:
    return Settings.from_env(os.environ)


def get_settings() -> Settings:
    """This function's settings. Tests that host several functions in one process replace
    `process_settings`, since each function has its own environment."""
    return process_settings()
