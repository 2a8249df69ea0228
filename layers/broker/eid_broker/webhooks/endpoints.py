"""The endpoint routes: PUT/GET/DELETE /v1/webhook-endpoint, rotate-secret and test."""

from __future__ import annotations

import secrets

from eid_broker.errors import ActionNotAllowed, EndpointNotFound, InvalidInput
from eid_broker.observability import logger
from eid_broker.sessions.models import iso
from eid_broker.webhooks import targets
from eid_broker.webhooks.base import ROTATION_OVERLAP, WebhookPart, delivery_id, new_secret
from eid_broker.webhooks.models import (
    TEST_EVENT,
    Attempt,
    Deleted,
    DeliveryQueued,
    Endpoint,
    EndpointOut,
    SecretOut,
)

PUT_LOOKUP_SECONDS = 5.0


def refused_url(message: str) -> InvalidInput:
    return InvalidInput(f"Invalid input: url. {message}", errors=[{"field": "url", "message": message}])


class Endpoints(WebhookPart):
    def put_endpoint(self, owner: str, url: str) -> EndpointOut:
        # A lookup at PUT gets a few seconds: the route answers within its function's 15 s.
        lookup = targets.bounded_lookup(min(self._timeout, PUT_LOOKUP_SECONDS), self._resolver)
        try:
            targets.resolve(url, allow_loopback=self._allow_loopback, resolver=lookup)
        except targets.TargetRefused as refused:
            raise refused_url(str(refused)) from None
        except targets.LookupTimedOut:
            raise refused_url("The URL's host did not resolve in time.") from None
        now = iso(self._clock())
        if (changed := self._store.change_url(owner, url, now)) is not None:
            return changed.to_out()
        secret = new_secret()
        endpoint = Endpoint(owner=owner, url=url, created_at=now, updated_at=now, secret=secret)
        if self._store.create_endpoint(endpoint):
            logger.info("webhook endpoint created", extra={"owner": owner})
            return endpoint.to_out(secret)
        changed = self._store.change_url(owner, url, now)  # another PUT created it a moment ago
        if changed is None:
            raise EndpointNotFound("The endpoint was deleted while it was being set; try again.")
        return changed.to_out()

    def endpoint(self, owner: str) -> EndpointOut:
        return self._endpoint(owner).to_out()

    def _endpoint(self, owner: str) -> Endpoint:
        endpoint = self._current(self._store.endpoint(owner))
        if endpoint is None:
            raise EndpointNotFound("This API key has no webhook endpoint.")
        return endpoint

    def delete_endpoint(self, owner: str) -> Deleted:
        if not self._store.delete_endpoint(owner):
            raise EndpointNotFound("This API key has no webhook endpoint.")
        logger.info("webhook endpoint deleted", extra={"owner": owner})
        return Deleted()

    def rotate_secret(self, owner: str) -> SecretOut:
        now = self._clock()
        secret = new_secret()
        until = (now + ROTATION_OVERLAP).timestamp()
        if self._store.rotate_secret(owner, secret, until, iso(now)) is None:
            raise EndpointNotFound("This API key has no webhook endpoint.")
        logger.info("webhook secret rotated", extra={"owner": owner})
        return SecretOut(secret=secret)

    def send_test(self, owner: str) -> DeliveryQueued:
        endpoint = self._endpoint(owner)
        if not endpoint.enabled:
            raise ActionNotAllowed(
                "The endpoint is disabled (it answered 410); PUT its URL to enable it again."
            )
        self._manual_limit(owner)  # after the checks that refuse anyway: a refused call uses no slot
        now = self._clock()
        delivery = self._new_delivery(owner, delivery_id(now, secrets.token_hex(16)), TEST_EVENT, None, now)
        self._store.create_delivery(delivery)
        self._queue.send(Attempt(owner=owner, delivery_id=delivery.delivery_id, attempt=1))
        return DeliveryQueued(delivery_id=delivery.delivery_id)
