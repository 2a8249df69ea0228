"""Outbound webhooks: each function builds only its part (see `base`); the
whole service is those parts together, for tests and tools that drive every step in one process."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeVar

from eid_broker import aws
from eid_broker.config import Settings, get_settings
from eid_broker.errors import InternalUnavailable
from eid_broker.sessions.service import service_for
from eid_broker.webhooks.base import Queue as Queue
from eid_broker.webhooks.base import WebhookPart
from eid_broker.webhooks.deliveries import Deliveries
from eid_broker.webhooks.dispatch import Dispatch
from eid_broker.webhooks.endpoints import Endpoints
from eid_broker.webhooks.manual_limit import ManualLimit
from eid_broker.webhooks.sending import Sender
from eid_broker.webhooks.store import WebhookStore


class WebhookService(Endpoints, Deliveries, Dispatch, Sender):
    pass


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


def endpoints() -> Endpoints:
    return _cached(Endpoints, get_settings())


def deliveries() -> Deliveries:
    return _cached(Deliveries, get_settings())


def dispatch() -> Dispatch:
    return _cached(Dispatch, get_settings())


def sender() -> Sender:
    return _cached(Sender, get_settings())


@lru_cache(maxsize=16)
def _cached(part: type[WebhookPart], settings: Settings) -> Any:
    return _build(part, settings)
