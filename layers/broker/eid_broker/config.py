"""Settings, built once per cold start from the function's environment (logic never reads os.environ)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from ipaddress import ip_address
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

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
    # The stage's own namespace (template: eid-broker/<stage>); metrics off only for a bench's noise.
    powertools_metrics_namespace: str = "eid-broker"
    powertools_metrics_disabled: bool = False
    sessions_table: str = "eid-broker-sessions"
    idempotency_table: str | None = None
    session_poll_state_machine_arn: str | None = None
    poll_function_arn: str | None = None
    session_retention_days: int = 30
    # A final session's personal data is erased this long after it ended (0: at the next run).
    personal_data_retention_days: int = Field(default=30, ge=0, le=3650)
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
    # The table of the per-key limits (long-poll slots, password failures): keyed digests only.
    limits_table: str | None = None
    long_poll_max_per_key: int = Field(default=50, ge=1, le=1000)
    password_failure_limit: int = Field(default=5, ge=1, le=100)
    password_failure_window_seconds: int = Field(default=900, ge=60, le=86400)

    tokens_table: str | None = None
    webhooks_table: str | None = None
    webhook_queue_url: str | None = None
    # The contract's 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; WEBHOOK_RETRY_SCHEDULE shortens it for tests.
    webhook_retry_schedule: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    # One attempt in all: name lookup, connect, TLS, sending and reading the whole answer.
    webhook_timeout_seconds: float = Field(default=15.0, ge=1, le=30)
    # `test` and `redeliver` calls together per API key per 60 s; counted in webhook_limit_table.
    webhook_manual_limit: int = Field(default=10, ge=1, le=1000)
    webhook_limit_table: str | None = None
    # Set by the local stack only (never by the template): http to loopback receivers.
    webhook_allow_loopback: bool = False

    # OpenID Provider: the public base URL, the one table of its clients, transactions, codes and
    # tokens, the KMS signing keys (current, and the next one published before it signs), lifetimes.
    oidc_issuer: str | None = None
    oidc_table: str | None = None
    oidc_signing_key_id: str | None = None
    oidc_next_signing_key_id: str | None = None
    oidc_code_ttl_seconds: int = Field(default=60, ge=5, le=600)
    oidc_token_ttl_seconds: int = Field(default=600, ge=30, le=86400)
    # JSON {method: poll function ARN}: the hosted page starts sessions of several methods.
    oidc_poll_functions: str | None = None
    # JSON {method: state machine ARN}, for the methods that do not loop on SESSION_POLL_STATE_MACHINE_ARN.
    oidc_poll_machines: str | None = None

    _environ: dict[str, str] = PrivateAttr(default_factory=dict)
    _providers: dict[type, Any] = PrivateAttr(default_factory=dict)

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = tuple(int(part) for part in value.split(","))
            except ValueError:
                raise ValueError("WEBHOOK_RETRY_SCHEDULE must be comma-separated whole seconds") from None
        if any(seconds < 0 for seconds in value):
            raise ValueError("WEBHOOK_RETRY_SCHEDULE must be comma-separated whole seconds")
        return value

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
        settings = cls.model_validate(_variables(cls, environ, ""))
        settings._environ = dict(environ)
        return settings

    def provider(self, model: type[P]) -> P:
        """A provider's own settings, from its `{PREFIX}_*` variables of the same environment."""
        if model not in self._providers:
            self._providers[model] = model.model_validate(_variables(model, self._environ, model.prefix))
        return self._providers[model]


def _variables(model: type[BaseModel], environ: Mapping[str, str], prefix: str) -> dict[str, str]:
    names = {name: f"{prefix}_{name}".upper() if prefix else name.upper() for name in model.model_fields}
    return {name: environ[variable] for name, variable in names.items() if environ.get(variable)}


class ProviderSettings(BaseModel):
    """One provider's settings: `{PREFIX}_BASE_URL`, `{PREFIX}_SECRET_NAME` and what a subclass adds."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    prefix: ClassVar[str]

    base_url: str | None = None
    secret_name: str | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return check_base_url(value)


P = TypeVar("P", bound=ProviderSettings)


@lru_cache(maxsize=1)
def process_settings() -> Settings:
    return Settings.from_env(os.environ)


def get_settings() -> Settings:
    """This function's settings. Tests that host several functions in one process replace
    `process_settings`, since each function has its own environment."""
    return process_settings()
