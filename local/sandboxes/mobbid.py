"""Fake of the MobbID (Mobbeel) API v6 gateway: JWT authorization, processes, their
operations, and the end user's gateway page. A started process goes STARTED → IN_PROGRESS → PROCESSING →
COMPLETED, a step every ``step_seconds``; who starts it and how it ends depends on the ``userId``."""

from __future__ import annotations

import functools
import html
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from local.sandboxes.base import (
    Sandbox,
    html_page,
    iso_millis,
    json_response,
    jwt_decode,
    jwt_encode,
    same,
)
from local.sandboxes.spec import SandboxSpec, env

__all__ = ["CHOICES", "PERSONAS", "AlreadyChosenError", "MobbidSandbox"]

# The secret eid-broker/{stage}/mobbid's keys and the sandbox's defaults (`make run` seeds the secret with
# them unless MOBBID_{KEY} environment variables say otherwise).
CREDENTIALS: dict[str, str] = {"application_id": "sandbox-mobbid-app", "api_key": "sandbox-mobbid-key"}

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
FACE_NOT_DETECTED = "Face not detected in the sample"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) MobbID-sandbox"
CLIENT_VERSION = "6.0.0-sandbox"

_PROCESS_NOT_FOUND = "Process not found"
_OPERATION_NOT_FOUND = "Operation not found"


@dataclass(frozen=True)
class _Script:
    """How a persona's process runs: the choice made at creation (None: wait for the page)."""

    choice: str | None
    outcome: str
    processing_steps: int = 1
    first_get_fails: bool = False
    banned: bool = False


_SCRIPTS: dict[str, _Script] = {
    "user-verified": _Script(VERIFIED, "starts at creation; COMPLETED, operation SUCCESS, result true"),
    "user-not-same": _Script(NOT_SAME_PERSON, "starts at creation; SUCCESS, result false, low MATCHING"),
    "user-error": _Script(ERROR, "starts at creation; operation ERROR, face not detected"),
    "user-slow": _Script(VERIFIED, "starts at creation; PROCESSING for 10 steps, then verified", 10),
    "user-never": _Script(None, "stays CREATED (the page still works)"),
    "user-banned": _Script(None, "creating the process answers 429", banned=True),
    "user-flaky": _Script(
        VERIFIED, "starts at creation; first process GET answers 503", first_get_fails=True
    ),
}
_WAITS_FOR_PAGE = _Script(None, "CREATED until the person chooses on the gateway page")
PERSONAS: list[dict[str, str]] = [
    {"user_id": user_id, "outcome": script.outcome}
    for user_id, script in (*_SCRIPTS.items(), ("any other", _WAITS_FOR_PAGE))
]

_SCORE_TYPES = ("MATCHING", "LIVENESS", "IDENTITY_VERIFICATION")
_SCORES: dict[str, tuple[float, ...]] = {VERIFIED: (0.97, 0.95, 0.96), NOT_SAME_PERSON: (0.12, 0.94, 0.93)}


class AlreadyChosenError(RuntimeError):
    """The process has already started; the person cannot choose again."""


def _message(message: str, status: int) -> Response:
    return json_response({"message": message}, status)


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
        kinds = [] if status == OP_PENDING else [(sample_id, "SAMPLE_SOURCE", "mp4")]
        if kinds and self.choice != ERROR:
            kinds.insert(0, (selfie_id, "SELFIE", "jpg"))
        resources = [
            {"id": rid, "type": kind, "url": f"{resource_base}/{rid}", "format": fmt}
            for rid, kind, fmt in kinds
        ]
        completed_at = self.completed_at(now)
        return {
            "id": self.operation_id,
            "transactionId": self.transaction_id,
            "biometricMethod": "FACE",
            "type": "VERIFICATION",
            "status": status,
            "createdAt": iso_millis(self.chosen_at or self.created_at),
            "finishedAt": None if completed_at is None else iso_millis(completed_at),
            "userAgent": USER_AGENT,
            "clientVersion": CLIENT_VERSION,
            "data": {
                "result": finished and self.choice == VERIFIED,
                "userId": self.user_id,
                "liveness": "FACE_PASSIVE_VIDEO",
                "scores": [
                    {"score": score, "scoreType": kind}
                    for score, kind in zip(_SCORES.get(self.choice or ERROR, ()), _SCORE_TYPES, strict=False)
                ]
                if finished
                else [],
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


_html = functools.partial(html_page, "MobbID sandbox — face verification")


class MobbidSandbox(Sandbox):
    api_endpoints = API_ENDPOINTS

    def __init__(
        self,
        application_id: str = CREDENTIALS["application_id"],
        api_key: str = CREDENTIALS["api_key"],
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
        super().__init__(rules, clock)
        self._application_id = application_id
        self._api_key = api_key
        self._token_ttl = token_ttl
        self._step = step_seconds
        # Kept across reset() so a broker's cached token stays valid, as it would against the real API.
        self._signing_key = secrets.token_bytes(32)
        self._processes: dict[str, _Process] = {}
        self._operations: dict[str, str] = {}

    def _state(self) -> dict[str, Any]:
        now = self._clock()
        return {"processes": [p.stats(now) for p in self._processes.values()]}

    def _clear(self) -> None:
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

    def _bearer_ok(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        payload = jwt_decode(self._signing_key, token.strip()) if scheme.lower() == "bearer" else None
        exp = payload.get("exp") if payload else None
        return isinstance(exp, int | float) and self._clock() < exp

    def _handle(self, endpoint: str, request: Request, args: dict[str, Any]) -> Response:
        if "application_id" in args:
            if not self._bearer_ok(request):
                return _message("Unauthorized", 401)
            if not same(args.pop("application_id"), self._application_id):
                return _message("Application not found", 404)
        return super()._handle(endpoint, request, args)

    def _on_authorization(self, request: Request) -> Response:
        application_id = request.headers.get("applicationId")
        api_key = request.headers.get("apiKey")
        if not application_id or not api_key:
            return _message("The applicationId and apiKey headers are required", 400)
        if not same(application_id, self._application_id):
            return _message("The application license is not valid", 401)
        if not same(api_key, self._api_key):
            return _message("The API key is not valid", 403)
        iat = int(self._clock())
        payload = {"sub": self._application_id, "iat": iat, "exp": iat + self._token_ttl}
        return json_response({"authToken": jwt_encode(self._signing_key, payload)})

    def _on_create(self, request: Request) -> Response:
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

    def _on_process(self, request: Request, process_id: str) -> Response:
        with self._lock:
            process = self._processes.get(process_id)
            if process is None:
                return _message(_PROCESS_NOT_FOUND, 404)
            process.gets += 1
            if process.script.first_get_fails and process.gets == 1:
                return _message("Service unavailable", 503)
            body = process.view(self._clock())
        return json_response(body)

    def _on_operation(self, request: Request, operation_id: str) -> Response:
        resource_base = f"{request.base_url}/resource"
        with self._lock:
            process_id = self._operations.get(operation_id)
            if process_id is None:
                return _message(_OPERATION_NOT_FOUND, 404)
            body = self._processes[process_id].operation(self._clock(), resource_base)
        return json_response(body)

    def _on_admin_choose(self, request: Request, process_id: str) -> Response:
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

    def _on_page(self, request: Request, process_id: str) -> Response:
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

    def _on_choose(self, request: Request, process_id: str) -> Response:
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


def _factory(application_id: str, api_key: str, **options: Any) -> MobbidSandbox:
    step_seconds = float(env("MOBBID_SANDBOX_STEP_SECONDS", "1"))
    return MobbidSandbox(application_id, api_key, **{"step_seconds": step_seconds, **options})


SANDBOX = SandboxSpec("mobbid", "MobbidBaseUrl", CREDENTIALS, _factory, 8084, (), PERSONAS)
