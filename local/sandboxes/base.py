"""What every provider sandbox shares: werkzeug routing with JSON errors, per-endpoint call counters,
the ``/_sandbox/stats`` (GET) and ``/_sandbox/reset`` (POST) admin routes, fault injection, the
sandbox credentials, and the small JWT and HTML helpers two providers need.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from local.sandboxes.faults import FaultInjector


def json_response(body: Mapping[str, Any], status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, content_type="application/json; charset=utf-8"
    )


def error_response(message: str, status: int, **extra: Any) -> Response:
    return json_response({"status": "error", "message": message, **extra}, status)


def same(given: object, expected: str) -> bool:
    """Constant-time comparison of a secret with what a caller sent (anything but a string is wrong)."""
    return isinstance(given, str) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def iso_millis(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Sandbox:
    """WSGI app: routes, call counters, admin routes and faults; ``_on_<endpoint>`` methods answer."""

    # Set by the local stack from SANDBOX_FAULT_RATE: a share of API answers become faults.
    faults: FaultInjector | None = None
    # The provider API's endpoints, counted in stats and open to faults (never the end user's pages).
    api_endpoints: tuple[str, ...] | None = None  # None: every endpoint

    def __init__(self, rules: Iterable[Rule], clock: Callable[[], float]) -> None:
        rules = list(rules)
        self._clock = clock
        self._lock = threading.Lock()
        self._endpoints = tuple(dict.fromkeys(rule.endpoint for rule in rules))
        self._calls = dict.fromkeys(self._endpoints, 0)
        admin = [
            Rule("/_sandbox/stats", methods=["GET"], endpoint="_stats"),
            Rule("/_sandbox/reset", methods=["POST"], endpoint="_reset"),
        ]
        self._url_map = Map([*rules, *admin])

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self._dispatch(Request(environ))(environ, start_response)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": {name: self._calls[name] for name in self.api_endpoints or self._endpoints},
                **({"faults": self.faults.stats()} if self.faults else {}),
                **self._state(),
            }

    def reset(self) -> None:
        with self._lock:
            self._calls = dict.fromkeys(self._endpoints, 0)
            self._clear()

    def _state(self) -> dict[str, Any]:
        """The provider's part of ``stats()``, without personal data; called holding the lock."""
        return {}

    def _clear(self) -> None:
        """Forget the provider's state; called holding the lock."""
        return None

    def _handle(self, endpoint: str, request: Request, args: dict[str, Any]) -> Response:
        """Answer a call (counted, credentials not checked yet) with ``_on_<endpoint>(request, **args)``."""
        answer: Response = getattr(self, f"_on_{endpoint}")(request, **args)
        return answer

    def _dispatch(self, request: Request) -> Response:
        try:
            endpoint, args = self._url_map.bind_to_environ(request.environ).match()
        except MethodNotAllowed:
            return error_response("Method not allowed", 405)
        except NotFound:
            return error_response("Not found", 404)
        except HTTPException as exc:
            return error_response(exc.name, exc.code or 400)
        if endpoint == "_stats":
            return json_response(self.stats())
        if endpoint == "_reset":
            self.reset()
            return json_response({"status": "ok"})
        with self._lock:
            self._calls[endpoint] += 1
        if self.faults is not None and endpoint in (self.api_endpoints or self._endpoints):
            kind = self.faults.draw()
            if kind is not None:
                return self.faults.respond(kind, request)
        return self._handle(endpoint, request, dict(args))


# HS256 JSON Web Tokens (MobbID and MOSIP)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_encode(key: bytes, payload: Mapping[str, Any]) -> str:
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))
        for part in ({"alg": "HS256", "typ": "JWT"}, payload)
    )
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def jwt_decode(key: bytes, token: str) -> dict[str, Any] | None:
    """The payload of an HS256 token signed with ``key``; None if it is not one. Expiry is not checked."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode("ascii", "replace"), hashlib.sha256).digest()
    try:
        signature = _b64url_decode(parts[2])
        header = json.loads(_b64url_decode(parts[0]))
        payload = json.loads(_b64url_decode(parts[1]))
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(signature, expected) or not isinstance(payload, dict):
        return None
    return payload if isinstance(header, dict) and header.get("alg") == "HS256" else None


# The end user's pages (eeID, MobbID)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}}button{{font-size:1rem;padding:.5rem 1rem;margin:.25rem .5rem .25rem 0}}
.note{{color:#555;font-size:.9rem}}code{{background:#eee;padding:0 .2rem}}</style></head>
<body><h1>{title}</h1>
{body}
</body></html>
"""


def html_page(title: str, body: str, status: int = 200) -> Response:
    return Response(
        _PAGE.format(title=title, body=body), status=status, content_type="text/html; charset=utf-8"
    )
