"""Outbound webhooks: each function builds only its part (see `base`, and eid_broker.wiring); the whole
service is those parts together, for tests and tools that drive every step in one process."""

from __future__ import annotations

from eid_broker.webhooks.base import Queue as Queue
from eid_broker.webhooks.deliveries import Deliveries
from eid_broker.webhooks.dispatch import Dispatch
from eid_broker.webhooks.endpoints import Endpoints
from eid_broker.webhooks.sending import Sender


class WebhookService(Endpoints, Deliveries, Dispatch, Sender):
    pass
