"""The one place that builds the cached services: this function's settings → AWS clients → services.

Entry points (the functions, `api`, `routes`, `polling`, the OIDC web layer) ask here; the services take
their settings and clients by constructor. Each is built once per settings: tests that host several
functions in one process give each its own."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any, TypeVar

from eid_broker import aws
from eid_broker.config import Settings, get_settings
from eid_broker.errors import InternalUnavailable
from eid_broker.oidc.clients import ClientService
from eid_broker.oidc.jose import KmsSigner
from eid_broker.oidc.store import OidcStore
from eid_broker.sessions.repository import SessionRepository
from eid_broker.sessions.service import SessionService
from eid_broker.wait_slots import WaitSlots
from eid_broker.webhooks.base import Queue, WebhookPart
from eid_broker.webhooks.deliveries import Deliveries
from eid_broker.webhooks.dispatch import Dispatch
from eid_broker.webhooks.endpoints import Endpoints
from eid_broker.webhooks.manual_limit import ManualLimit
from eid_broker.webhooks.sending import Sender
from eid_broker.webhooks.service import WebhookService
from eid_broker.webhooks.store import WebhookStore


def default_service() -> SessionService:
    """This function's session service."""
    return service_for(get_settings())


@lru_cache(maxsize=32)
def service_for(settings: Settings) -> SessionService:
    repo = SessionRepository(
        settings.sessions_table,
        aws.client("dynamodb"),
        settings.session_retention_days,
        settings.personal_data_retention_days,
    )
    slots = None
    if settings.limits_table:
        slots = WaitSlots(settings.limits_table, aws.client("dynamodb"), limit=settings.long_poll_max_per_key)
    return SessionService(
        repo,
        aws.LazyClient("stepfunctions"),
        settings.session_poll_state_machine_arn,
        poll_function=settings.poll_function_arn,
        wait_slots=slots,
    )


def _manual_limit(settings: Settings) -> Any:
    def limit(owner: str) -> None:
        if not settings.webhook_limit_table:
            raise InternalUnavailable("The webhook call limit is not configured.")
        ManualLimit(
            settings.webhook_limit_table, aws.client("dynamodb"), limit=settings.webhook_manual_limit
        )(owner)

    return limit


P = TypeVar("P", bound=WebhookPart)


def _build(part: type[P], settings: Settings) -> P:
    return part(
        WebhookStore(settings.webhooks_table or "", aws.client("dynamodb")),
        Queue(settings.webhook_queue_url, aws.LazyClient("sqs")),
        # Only the sender reads sessions: the other webhook functions never build the session service.
        lambda session_id: service_for(settings).find(session_id),
        schedule=settings.webhook_retry_schedule,
        allow_loopback=settings.webhook_allow_loopback,
        retention_days=settings.session_retention_days,
        timeout=settings.webhook_timeout_seconds,
        manual_limit=_manual_limit(settings),
    )


@lru_cache(maxsize=8)
def webhooks_for(settings: Settings) -> WebhookService:
    return _build(WebhookService, settings)


@lru_cache(maxsize=16)
def _webhook_part(part: type[P], settings: Settings) -> P:
    return _build(part, settings)


def endpoints() -> Endpoints:
    return _webhook_part(Endpoints, get_settings())


def deliveries() -> Deliveries:
    return _webhook_part(Deliveries, get_settings())


def dispatch() -> Dispatch:
    return _webhook_part(Dispatch, get_settings())


def sender() -> Sender:
    return _webhook_part(Sender, get_settings())


def default_store() -> OidcStore:
    table = get_settings().oidc_table
    if not table:
        raise InternalUnavailable("The login service is not configured.")
    return OidcStore(table, aws.client("dynamodb"))


def default_clients() -> ClientService:
    return ClientService(default_store())


@cache
def _signer(key_id: str, next_key_id: str) -> KmsSigner:
    return KmsSigner(aws.client("kms"), key_id, (next_key_id,))


def default_signer() -> KmsSigner:
    settings = get_settings()
    if not settings.oidc_signing_key_id:
        raise InternalUnavailable("The login service has no signing key configured.")
    return _signer(settings.oidc_signing_key_id, settings.oidc_next_signing_key_id or "")
