"""One requests.Session factory: timeouts on every call, bounded retries only where they are safe."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import eid_broker.observability  # noqa: F401 - every provider call's log lines are masked at the root
from eid_broker.errors import ProviderBadResponse, ProviderUnavailable

CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0
RETRY_STATUSES = frozenset({500, 502, 503, 504})

if TYPE_CHECKING:
    import requests


def make_session(*, retries: int = 3, backoff: float = 0.3) -> requests.Session:
    """Retries cover idempotent methods only (GET/HEAD): a retried POST could push twice to a phone."""
    # Imported here, not at module load: ~50 ms that only the first provider call of a container pays.
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(
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

    kwargs.setdefault("timeout", (CONNECT_TIMEOUT, READ_TIMEOUT))
    kwargs["allow_redirects"] = False
    try:
        response = session.request(method, url, **kwargs)
    except requests.Timeout as exc:
        raise ProviderUnavailable(f"{provider} did not answer in time.") from exc
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"{provider} could not be reached ({type(exc).__name__}).") from exc
    if unavailable_on_5xx and response.status_code in RETRY_STATUSES:
        raise ProviderUnavailable(f"{provider} answered HTTP {response.status_code}.")
    if 300 <= response.status_code < 400:
        raise ProviderBadResponse(f"{provider} answered HTTP {response.status_code}.")
    return response


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
