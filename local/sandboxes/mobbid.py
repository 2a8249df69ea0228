"""Local fake of the MobbID (Mobbeel) API v6 gateway for offline runs and tests.

Mount it as a WSGI app (for example under ``/mobbid`` with werkzeug's DispatcherMiddleware); it routes on
PATH_INFO relative to the mount point, and the URLs it hands out include the mount point:

- ``GET /api/v6/authorization`` (headers ``applicationId`` and ``apiKey``) returns an HS256 JWT
- ``POST /api/v6/application/<applicationId>/gateway/process`` (``Authorization: Bearer <JWT>``; JSON
  ``biometricMethod``, ``operation``, ``returnUrl``, ``userId``)
- ``GET /api/v6/application/<applicationId>/gateway/process/<processId>``
- ``GET /api/v6/application/<applicationId>/operation/<operationId>``
- ``GET /gateway/<processId>`` and ``POST /gateway/<processId>/choose`` (the end user's page,
  ``choice=verified|not_same_person|error``), which redirects to the process's ``returnUrl``
- ``POST /_sandbox/choose/<processId>`` (admin, JSON ``choice``), ``GET /_sandbox/stats`` and
  ``POST /_sandbox/reset``

Once started, a process goes STARTED → IN_PROGRESS → PROCESSING → COMPLETED, one step every
``step_seconds``. Who starts it and how it ends depends on the ``userId``, see ``PERSONAS``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import html
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.routing import Rule
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

from local.sandboxes.base import Sandbox, Session, _quiet_handler, json_response

__all__ = ["CHOICES", "PERSONAS", "AlreadyChosenError", "MobbidSandbox", "main"]

VERIFIED = "verified"
NOT_SAME_PERSON = "not_same_person"
ERROR = "error"
CHOICES = (VERIFIED, NOT_SAME_PERSON, ERROR)

CREATED = "CREATED"
STARTED = "STARTED"
IN_PROGRESS = "IN_PROGRESS"
PROCESSING = "PROCESSING"
COMPLETED = "COMPLETED"

OP_PENDING = "PENDING"
OP_PROCESSING = "PROCESSING"
OP_SUCCESS = "SUCCESS"
OP_ERROR = "ERROR"

API_ENDPOINTS = ("authorization", "create", "process", "operation")
SLOW_PROCESSING_STEPS = 10
FACE_NOT_DETECTED = "Face not detected in the sample"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) MobbID-sandbox"
CLIENT_VERSION = "6.0.0-sandbox"

_UNAUTHORIZED = "Unauthorized"
_APPLICATION_NOT_FOUND = "Application not found"
_PROCESS_NOT_FOUND = "Process not found"
_OPERATION_NOT_FOUND = "Operation not found"

# Matched by an API path, so the standalone server's request log shows no ids.
_ID_IN_PATH = re.compile(r"(/(?:gateway|process|operation|choose)/)(?!process$)[^/]+(/choose)?$")


@dataclass(frozen=True)
class _Script:
    """How a scripted persona's process runs: the choice made at creation (None: wait for the page)."""

    choice: str | None
    processing_steps: int = 1
    first_get_fails: bool = False
    banned: bool = False


_SCRIPTS: dict[str, _Script] = {
    "user-verified": _Script(VERIFIED),
    "user-not-same": _Script(NOT_SAME_PERSON),
    "user-error": _Script(ERROR),
    "user-slow": _Script(VERIFIED, processing_steps=SLOW_PROCESSING_STEPS),
    "user-never": _Script(None),
    "user-banned": _Script(None, banned=True),
    "user-flaky": _Script(VERIFIED, first_get_fails=True),
}
_WAITS_FOR_PAGE = _Script(None)

PERSONAS: list[dict[str, str]] = [
    {"user_id": "user-verified", "outcome": "starts at creation; COMPLETED, operation SUCCESS, result true"},
    {"user_id": "user-not-same", "outcome": "starts at creation; SUCCESS, result false, low MATCHING"},
    {"user_id": "user-error", "outcome": "starts at creation; operation ERROR, face not detected"},
    {
        "user_id": "user-slow",
        "outcome": f"starts at creation; PROCESSING for {SLOW_PROCESSING_STEPS} steps, then verified",
    },
    {"user_id": "user-never", "outcome": "stays CREATED (the page still works)"},
    {"user_id": "user-banned", "outcome": "creating the process answers 429"},
    {"user_id": "user-flaky", "outcome": "starts at creation; first process GET answers 503; verified"},
    {"user_id": "any other", "outcome": "CREATED until the person chooses on the gateway page"},
]

_SCORES: dict[str, list[dict[str, Any]]] = {
    VERIFIED: [
        {"score": 0.97, "scoreType": "MATCHING"},
        {"score": 0.95, "scoreType": "LIVENESS"},
        {"score": 0.96, "scoreType": "IDENTITY_VERIFICATION"},
    ],
    NOT_SAME_PERSON: [
        {"score": 0.12, "scoreType": "MATCHING"},
        {"score": 0.94, "scoreType": "LIVENESS"},
        {"score": 0.93, "scoreType": "IDENTITY_VERIFICATION"},
    ],
    ERROR: [],
}


class AlreadyChosenError(RuntimeError):
    """The process has already started; the person cannot choose again."""


def _message(message: str, status: int) -> Response:
    return json_response({"message": message}, status)


def _iso(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return urlunsplit(parts._replace(query=query))


def _is_url(value: object) -> TypeGuard[str]:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@dataclass(kw_only=True)
class _Process:
    id: str
    user_id: str
    return_url: str
    created_at: float
    step: float
    script: _Script
    transaction_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    resource_ids: tuple[str, str] = field(
        default_factory=lambda: (secrets.token_hex(12), secrets.token_hex(12))
    )
    choice: str | None = None
    chosen_at: float | None = None
    operation_id: str | None = None
    gets: int = 0

    def start(self, choice: str, now: float) -> str:
        self.choice = choice
        self.chosen_at = now
        self.operation_id = str(uuid.uuid4())
        return self.operation_id

    def finishes_at(self) -> float | None:
        if self.chosen_at is None:
            return None
        return self.chosen_at + (2 + self.script.processing_steps) * self.step

    def status_at(self, now: float) -> str:
        finishes_at = self.finishes_at()
        if self.chosen_at is None or finishes_at is None:
            return CREATED
        if now >= finishes_at:
            return COMPLETED
        if now >= self.chosen_at + 2 * self.step:
            return PROCESSING
        if now >= self.chosen_at + self.step:
            return IN_PROGRESS
        return STARTED

    def operation_status_at(self, now: float) -> str | None:
        status = self.status_at(now)
        if status == CREATED:
            return None
        if status == COMPLETED:
            return OP_ERROR if self.choice == ERROR else OP_SUCCESS
        return OP_PROCESSING if status == PROCESSING else OP_PENDING

    def completed_at(self, now: float) -> float | None:
        finishes_at = self.finishes_at()
        return finishes_at if finishes_at is not None and now >= finishes_at else None

    def view(self, now: float) -> dict[str, Any]:
        return {"id": self.id, "status": self.status_at(now), "operationId": self.operation_id}

    def operation(self, now: float, resource_base: str) -> dict[str, Any]:
        status = self.operation_status_at(now)
        finished = status in (OP_SUCCESS, OP_ERROR)
        selfie_id, sample_id = self.resource_ids
        resources = []
        if status != OP_PENDING:
            if self.choice != ERROR:
                resources.append(
                    {
                        "id": selfie_id,
                        "type": "SELFIE",
                        "url": f"{resource_base}/{selfie_id}",
                        "format": "jpg",
                    }
                )
            resources.append(
                {
                    "id": sample_id,
                    "type": "SAMPLE_SOURCE",
                    "url": f"{resource_base}/{sample_id}",
                    "format": "mp4",
                }
            )
        completed_at = self.completed_at(now)
        return {
            "id": self.operation_id,
            "transactionId": self.transaction_id,
            "biometricMethod": "FACE",
            "type": "VERIFICATION",
            "status": status,
            "createdAt": _iso(self.chosen_at or self.created_at),
            "finishedAt": None if completed_at is None else _iso(completed_at),
            "userAgent": USER_AGENT,
            "clientVersion": CLIENT_VERSION,
            "data": {
                "result": finished and self.choice == VERIFIED,
                "userId": self.user_id,
                "liveness": "FACE_PASSIVE_VIDEO",
                "scores": [dict(s) for s in _SCORES[self.choice or ERROR]] if finished else [],
                "error": FACE_NOT_DETECTED if finished and self.choice == ERROR else None,
            },
            "resources": resources,
        }

    def stats(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status_at(now),
            "operation_status": self.operation_status_at(now),
            "chosen_at": self.chosen_at,
            "completed_at": self.completed_at(now),
        }


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MobbID sandbox — face verification</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}}button{{font-size:1rem;padding:.5rem 1rem;margin:.25rem .5rem .25rem 0}}
.note{{color:#555;font-size:.9rem}}code{{background:#eee;padding:0 .2rem}}</style></head>
<body><h1>MobbID sandbox — face verification</h1>
{body}
</body></html>
"""


def _html(body: str, status: int = 200) -> Response:
    return Response(_PAGE.format(body=body), status=status, content_type="text/html; charset=utf-8")


class MobbidSandbox(Sandbox[Session[Any]]):
    """WSGI fake of MobbID's gateway API v6: JWT authorization, processes, operations and the gateway page."""

    fault_endpoints = API_ENDPOINTS

    def __init__(
        self,
        application_id: str = "sandbox-mobbid-app",
        api_key: str = "sandbox-mobbid-key",
        token_ttl: int = 1800,
        step_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        app = "/api/v6/application/<application_id>"
        rules = [
            Rule("/api/v6/authorization", methods=["GET"], endpoint="authorization"),
            Rule(f"{app}/gateway/process", methods=["POST"], endpoint="create"),
            Rule(f"{app}/gateway/process/<process_id>", methods=["GET"], endpoint="process"),
            Rule(f"{app}/operation/<operation_id>", methods=["GET"], endpoint="operation"),
            Rule("/gateway/<process_id>", methods=["GET"], endpoint="page"),
            Rule("/gateway/<process_id>/choose", methods=["POST"], endpoint="choose"),
            Rule("/_sandbox/choose/<process_id>", methods=["POST"], endpoint="admin_choose"),
        ]
        super().__init__(
            access_token=api_key,
            ok_after=0.0,
            session_ttl=float(token_ttl),
            clock=clock,
            session_type=Session,
            endpoints=(*API_ENDPOINTS, "page", "choose", "admin_choose"),
            rules=rules,
        )
        self._application_id = application_id
        self._api_key = api_key
        self._token_ttl = token_ttl
        self._step = step_seconds
        # Kept across reset() so a broker's cached token stays valid, as it would against the real API.
        self._signing_key = secrets.token_bytes(32)
        self._processes: dict[str, _Process] = {}
        self._operations: dict[str, str] = {}

    # Public

    def stats(self) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            return {
                "calls": {name: self._calls[name] for name in API_ENDPOINTS},
                **({"faults": self.faults.stats()} if self.faults else {}),
                "processes": [p.stats(now) for p in self._processes.values()],
            }

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._processes.clear()
            self._operations.clear()

    def choose(self, process_id: str, choice: str) -> None:
        """Make the person's choice, which starts the process.

        KeyError for an unknown process, ValueError for an unknown choice, AlreadyChosenError if it started.
        """
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {', '.join(CHOICES)}")
        with self._lock:
            process = self._processes[process_id]
            if process.chosen_at is not None:
                raise AlreadyChosenError(process_id)
            self._operations[process.start(choice, self._clock())] = process_id

    # JWT

    def _issue_jwt(self, now: float) -> str:
        header = {"alg": "HS256", "typ": "JWT"}
        iat = int(now)
        payload = {"sub": self._application_id, "iat": iat, "exp": iat + self._token_ttl}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode("utf-8")) for part in (header, payload)
        )
        signature = hmac.new(self._signing_key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{_b64url(signature)}"

    def _bearer_ok(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        parts = token.strip().split(".")
        if scheme.lower() != "bearer" or len(parts) != 3:
            return False
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        expected = hmac.new(self._signing_key, signing_input, hashlib.sha256).digest()
        try:
            signature = _b64url_decode(parts[2])
            header = json.loads(_b64url_decode(parts[0]))
            payload = json.loads(_b64url_decode(parts[1]))
        except (binascii.Error, ValueError):
            return False
        if not hmac.compare_digest(signature, expected):
            return False
        if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(payload, dict):
            return False
        exp = payload.get("exp")
        return isinstance(exp, int | float) and self._clock() < exp

    # HTTP

    def _handle(self, endpoint: str, request: Request, args: dict[str, Any]) -> Response:
        if endpoint == "authorization":
            return self._authorize(request)
        if endpoint == "page":
            return self._page(request, args["process_id"])
        if endpoint == "choose":
            return self._page_choose(request, args["process_id"])
        if endpoint == "admin_choose":
            return self._admin_choose(request, args["process_id"])
        if not self._bearer_ok(request):
            return _message(_UNAUTHORIZED, 401)
        if not hmac.compare_digest(
            args["application_id"].encode("utf-8"), self._application_id.encode("utf-8")
        ):
            return _message(_APPLICATION_NOT_FOUND, 404)
        if endpoint == "create":
            return self._create(request)
        if endpoint == "process":
            return self._get_process(args["process_id"])
        return self._get_operation(request, args["operation_id"])

    def _authorize(self, request: Request) -> Response:
        application_id = request.headers.get("applicationId")
        api_key = request.headers.get("apiKey")
        if not application_id or not api_key:
            return _message("The applicationId and apiKey headers are required", 400)
        if not hmac.compare_digest(application_id.encode("utf-8"), self._application_id.encode("utf-8")):
            return _message("The application license is not valid", 401)
        if not hmac.compare_digest(api_key.encode("utf-8"), self._api_key.encode("utf-8")):
            return _message("The API key is not valid", 403)
        return json_response({"authToken": self._issue_jwt(self._clock())})

    def _create(self, request: Request) -> Response:
        payload = request.get_json(force=True, silent=True)
        if not isinstance(payload, dict):
            return _message("The request body must be a JSON object", 400)
        method, operation = payload.get("biometricMethod"), payload.get("operation")
        if not isinstance(method, str) or not isinstance(operation, str):
            return _message("biometricMethod and operation are required", 400)
        if method != "FACE":
            return json_response({"errorCode": "GATEWAY_BIOMETRIC_METHOD_NOT_AVAILABLE"}, 422)
        if operation != "VERIFICATION":
            return json_response({"errorCode": "GATEWAY_BIOMETRIC_OPERATION_NOT_AVAILABLE"}, 422)
        return_url, user_id = payload.get("returnUrl"), payload.get("userId")
        if not _is_url(return_url):
            return _message("returnUrl must be an http(s) URL", 400)
        if not isinstance(user_id, str) or not user_id.strip():
            return _message("userId is required for a VERIFICATION operation", 400)
        script = _SCRIPTS.get(user_id, _WAITS_FOR_PAGE)
        if script.banned:
            return _message("Too many requests", 429)
        process_id = str(uuid.uuid4())
        with self._lock:
            now = self._clock()
            process = _Process(
                id=process_id,
                user_id=user_id,
                return_url=return_url,
                created_at=now,
                step=self._step,
                script=script,
            )
            if script.choice is not None:
                self._operations[process.start(script.choice, now)] = process_id
            self._processes[process_id] = process
        return json_response(
            {"processId": process_id, "gatewayUrl": f"{request.root_url}gateway/{process_id}"}, 201
        )

    def _get_process(self, process_id: str) -> Response:
        with self._lock:
            process = self._processes.get(process_id)
            if process is None:
                return _message(_PROCESS_NOT_FOUND, 404)
            process.gets += 1
            if process.script.first_get_fails and process.gets == 1:
                return _message("Service unavailable", 503)
            body = process.view(self._clock())
        return json_response(body)

    def _get_operation(self, request: Request, operation_id: str) -> Response:
        resource_base = f"{request.base_url}/resource"
        with self._lock:
            process_id = self._operations.get(operation_id)
            if process_id is None:
                return _message(_OPERATION_NOT_FOUND, 404)
            body = self._processes[process_id].operation(self._clock(), resource_base)
        return json_response(body)

    def _admin_choose(self, request: Request, process_id: str) -> Response:
        payload = request.get_json(force=True, silent=True)
        choice = payload.get("choice") if isinstance(payload, dict) else None
        if choice not in CHOICES:
            return _message(f"choice must be one of {', '.join(CHOICES)}", 400)
        try:
            self.choose(process_id, choice)
        except KeyError:
            return _message(_PROCESS_NOT_FOUND, 404)
        except AlreadyChosenError:
            return _message("The process has already started", 409)
        with self._lock:
            status = self._processes[process_id].status_at(self._clock())
        return json_response({"status": status})

    # The end user's page

    def _page(self, request: Request, process_id: str) -> Response:
        with self._lock:
            process = self._processes.get(process_id)
            started = process is not None and process.chosen_at is not None
        if process is None:
            return _html("<p>Unknown verification process.</p>", 404)
        if started:
            return _html("<p>This verification has already been performed.</p>")
        action = html.escape(f"{request.script_root}/gateway/{process_id}/choose")
        body = f"""<p>A service asks you to verify your identity with your face.</p>
<form method="post" action="{action}">
<button type="submit" name="choice" value="{VERIFIED}">Verify as the enrolled person</button>
<button type="submit" name="choice" value="{NOT_SAME_PERSON}">Verify as someone else</button>
<button type="submit" name="choice" value="{ERROR}">Fail: no face in the video</button>
</form>
<p class="note"><b>Enrolled person</b>: the operation ends <code>SUCCESS</code>,
<code>result</code> true.<br><b>Someone else</b>: <code>SUCCESS</code>, <code>result</code> false,
a low <code>MATCHING</code> score.<br>
<b>No face</b>: the operation ends <code>ERROR</code>.<br>
Either way you return to the service, which then asks MobbID for the outcome.</p>"""
        return _html(body)

    def _page_choose(self, request: Request, process_id: str) -> Response:
        choice = request.form.get("choice")
        if choice not in CHOICES:
            return _html("<p>Choose one of the three buttons.</p>", 400)
        try:
            self.choose(process_id, choice)
        except KeyError:
            return _html("<p>Unknown verification process.</p>", 404)
        except AlreadyChosenError:
            return _html("<p>This verification has already been performed.</p>", 409)
        with self._lock:
            return_url = self._processes[process_id].return_url
        params = {"processId": process_id}
        if choice == ERROR:
            params["error"] = "BiometricError"
        return Response(status=302, headers={"Location": _with_query(return_url, **params)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the MobbID API v6 gateway sandbox alone.")
    parser.add_argument("--port", type=int, default=8084)
    parser.add_argument("--application-id", default="sandbox-mobbid-app")
    parser.add_argument("--api-key", default="sandbox-mobbid-key")
    parser.add_argument("--token-ttl", type=int, default=1800)
    parser.add_argument("--step-seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    app = MobbidSandbox(
        application_id=args.application_id,
        api_key=args.api_key,
        token_ttl=args.token_ttl,
        step_seconds=args.step_seconds,
    )
    print(f"MobbID sandbox on http://127.0.0.1:{args.port}/api/v6/authorization")
    print(f"  applicationId {args.application_id}; personas by userId:")
    for p in PERSONAS:
        print(f"  {p['user_id']:<14} {p['outcome']}")
    run_simple("127.0.0.1", args.port, app, threaded=True, request_handler=_quiet_handler(_ID_IN_PATH))


if __name__ == "__main__":
    main()
