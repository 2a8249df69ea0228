"""One requests.Session factory: timeouts on every call, bounded retries only where they are safe."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from eid_broker.config import get_settings
from eid_broker.errors import ProviderBadResponse, ProviderUnavailable
from eid_broker.observability import Metric, MetricUnit, emit

CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# Within one call a provider's Retry-After is honoured up to this; longer waits are the next poll's.
MAX_RETRY_AFTER_SECONDS = 2.0
# What an invocation keeps for itself after its last provider call (recording the outcome, answering).
RESERVE_SECONDS = 1.5

if TYPE_CHECKING:
    import requests

# The monotonic time by which this invocation's provider calls must be over (None: no bound).
_deadline: ContextVar[float | None] = ContextVar("provider_deadline", default=None)


@contextmanager
def bounded_by(context: Any) -> Iterator[None]:
    """Bound every provider call made inside by the Lambda invocation's remaining time."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    budget = remaining() / 1000 - RESERVE_SECONDS if callable(remaining) else None
    token = _deadline.set(time.monotonic() + budget if budget is not None else None)
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left() -> float | None:
    """Seconds this invocation may still spend on provider calls, or None when unbounded."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def _bounded_retry() -> type[Any]:
    from urllib3.util.retry import Retry

    class BoundedRetry(Retry):
        """urllib3's retries, stopped when the invocation's time is up, Retry-After capped."""

        def is_exhausted(self) -> bool:
            left = time_left()
            return super().is_exhausted() or (left is not None and left <= 0)

        def get_retry_after(self, response: Any) -> float | None:
            seconds = super().get_retry_after(response)
            return None if seconds is None else min(seconds, MAX_RETRY_AFTER_SECONDS)

        def sleep(self, response: Any = None) -> None:
            left = time_left()
            if left is not None and left <= 0:
                return
            super().sleep(response)

    return BoundedRetry


def make_session(*, retries: int = 3, backoff: float = 0.3) -> requests.Session:
    """Retries cover idempotent methods only (GET/HEAD): a retried POST could push twice to a phone."""
    # Imported here, not at module load: ~50 ms that only the first provider call of a container pays.
    import requests
    from requests.adapters import HTTPAdapter

    retry = _bounded_retry()(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=8)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "eid-broker/1"
    return session


@cache
def shared_session() -> requests.Session:
    """One pooled session per container, reused across invocations."""
    return make_session()


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    provider: str,
    unavailable_on_5xx: bool = True,
    **kwargs: Any,
) -> requests.Response:
    """Send one request. Transport failures and 5xx become ProviderUnavailable, never naming the URL.

    Redirects are never followed (a credential header would go along to wherever they point): a 3xx
    answer is a ProviderBadResponse.
    """
    import requests

    connect, read = kwargs.pop("timeout", (CONNECT_TIMEOUT, READ_TIMEOUT))
    read = min(read, get_settings().provider_read_timeout_seconds)
    left = time_left()
    if left is not None:
        if left < 0.2:
            raise ProviderUnavailable(f"{provider} was not asked: this invocation's time is up.")
        connect, read = min(connect, left), min(read, left)
    kwargs["timeout"] = (connect, read)
    kwargs["allow_redirects"] = False
    began = time.monotonic()
    try:
        response = session.request(method, url, **kwargs)
    except requests.Timeout as exc:
        _measure(provider, began, "timeout")
        raise ProviderUnavailable(f"{provider} did not answer in time.") from exc
    except requests.RequestException as exc:
        _measure(provider, began, "unreachable")
        raise ProviderUnavailable(f"{provider} could not be reached ({type(exc).__name__}).") from exc
    status = response.status_code
    if status == 429 or (unavailable_on_5xx and status in RETRY_STATUSES):
        _measure(provider, began, "throttled" if status == 429 else "http_5xx")
        raise ProviderUnavailable(f"{provider} answered HTTP {status}.")
    if 300 <= status < 400:
        _measure(provider, began, "redirect")
        raise ProviderBadResponse(f"{provider} answered HTTP {status}.")
    _measure(provider, began, None)
    return response


def _measure(provider: str, began: float, error_class: str | None) -> None:
    """One provider call (its retries included): latency, and whether it was an outage-like error."""
    emit(
        {
            Metric.PROVIDER_LATENCY: ((time.monotonic() - began) * 1000, MetricUnit.Milliseconds),
            Metric.PROVIDER_ERRORS: (0 if error_class is None else 1, MetricUnit.Count),
        },
        provider=provider,
        error_class=error_class or "",
    )


def path_segment(value: str, *, provider: str) -> str:
    """A provider-returned id as one escaped URL path segment, never empty nor a dot segment."""
    if value in ("", ".", ".."):
        raise ProviderBadResponse(f"{provider} returned an unusable id.")
    return quote(value, safe="")


def json_body(response: requests.Response, *, provider: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderBadResponse(f"{provider} answered HTTP {response.status_code} without JSON.") from exc
    if not isinstance(body, dict):
        raise ProviderBadResponse(f"{provider} answered HTTP {response.status_code} with unexpected JSON.")
    return body
