"""What every API function shares: the resolver, request guards, problem+json, idempotent starts."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel

from eid_broker import aws
from eid_broker.config import get_settings
from eid_broker.errors import (
    BodyTooLarge,
    BrokerError,
    Forbidden,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InternalUnavailable,
    InvalidInput,
    RouteNotFound,
    SessionNotFound,
    StartUncertain,
    UnreadableBody,
    UnsupportedMediaType,
)
from eid_broker.keys import keyed_digest
from eid_broker.observability import logger
from eid_broker.sessions import SessionRecord
from eid_broker.wiring import default_service as session_service

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

PROBLEM = "application/problem+json"
# Any string is accepted as a session id and a malformed one is simply not found (404), so the route
# answers the same for "no such session" and "not a session id".
SessionId = Annotated[
    str,
    Path(description="The session id, a lowercase UUID.", examples=["0b6c8c1e-3f7e-4d7a-9d59-0d8f3c1a2b44"]),
]
_JSON_TYPE = re.compile(r"^application/([a-z0-9.+-]+\+)?json\s*(;.*)?$", re.I)
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of the API is shaped."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, str]] | None = None
    instance: str | None = None  # urn:request:{the X-Request-Id of this answer}


# What any route may answer: API Gateway's own refusals (key, throttling, integration failure or
# timeout) and an AWS service that did not answer.
ANY_ROUTE = (403, 429, 502, 503, 504)
# What any route with a JSON body may answer before a handler reads it (the body guard).
WITH_BODY = (400, 413, 415, 422)


def problem_responses(*statuses: int, body: bool = False) -> dict[int, OpenAPIResponse]:
    codes = sorted({*statuses, *ANY_ROUTE, *(WITH_BODY if body else ())})
    return {
        status: {"description": "Problem details (RFC 9457)", "content": {PROBLEM: {"model": Problem}}}
        for status in codes
    }


def problem_response(error: BrokerError) -> Response:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return Response(
        status_code=error.status, content_type=PROBLEM, body=json.dumps(error.problem()), headers=headers
    )


def responses(
    description: str,
    *problems: int,
    model: type[BaseModel] | None = None,
    body: bool = False,
    status: int = 200,
) -> dict[int, OpenAPIResponse]:
    """A route's documented answers: `status` (with its `model`, if any) and its problem statuses."""
    answer: OpenAPIResponse = {"description": description}
    if model:
        answer["content"] = {"application/json": {"model": model}}
    return {status: answer, **problem_responses(*problems, body=body)}


def json_response(
    body: BaseModel | dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(status_code=status, content_type="application/json", body=body, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _message(error: dict[str, Any]) -> str:
    return str(error.get("msg", "is invalid")).removeprefix("Value error, ")


def make_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(BrokerError)
    def _broker_error(error: BrokerError) -> Response:
        return problem_response(error)

    @app.not_found
    def _no_route(error: Exception) -> Response:
        # A path parameter the route pattern cannot match (control characters, say) lands here.
        return problem_response(RouteNotFound("No such route or session."))

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response:
        details = error.errors()
        if any(item.get("type") == "json_invalid" for item in details):
            return problem_response(UnreadableBody("The body is not valid JSON."))
        fields = [
            {"field": _field(tuple(item.get("loc", ()))), "message": _message(item)} for item in details
        ]
        names = ", ".join(sorted({item["field"] for item in fields}))
        return problem_response(InvalidInput(f"Invalid input: {names}.", errors=fields))

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(error, (BotoCoreError, ClientError)):
            logger.warning("AWS call failed", extra={"reason": type(error).__name__})
            return problem_response(InternalUnavailable("An AWS service did not answer; try again."))
        logger.exception("unhandled error")
        # It is not known what was changed: the session, if one was started, tells.
        return problem_response(BrokerError("The broker failed unexpectedly."))

    return app


def _guard(event: dict[str, Any]) -> BrokerError | None:
    """Refuse what Powertools would turn into a 5xx: non-UTF-8, non-JSON, oversized bodies."""
    body = event.get("body")
    if body is None or event.get("httpMethod") not in ("POST", "PUT", "PATCH"):
        return None
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return UnreadableBody("The body could not be decoded.")
    limit = get_settings().max_body_bytes
    if len(raw) > limit:
        return BodyTooLarge(f"The body must be at most {limit} bytes.")
    if not raw.strip():
        return None
    headers = {key.lower(): value for key, value in (event.get("headers") or {}).items()}
    if not _JSON_TYPE.match(headers.get("content-type", "")):
        return UnsupportedMediaType("Send the body as application/json.")
    try:
        text = raw.decode("utf-8")
        parsed = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return UnreadableBody("The body is not valid UTF-8 JSON.")
    if not isinstance(parsed, dict):
        return InvalidInput(
            "The body must be a JSON object.", errors=[{"field": "body", "message": "must be a JSON object"}]
        )
    event["body"], event["isBase64Encoded"] = text, False
    return None


def resolve(app: APIGatewayRestResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    refusal = _guard(event)
    if refusal is None:
        return app.resolve(event, context)
    response = problem_response(refusal)
    return {
        "statusCode": response.status_code,
        "headers": {
            "Content-Type": PROBLEM,
            **{k: str(v) for k, v in response.headers.items() if k != "Content-Type"},
        },
        "body": response.body,
        "isBase64Encoded": False,
    }


def caller(app: APIGatewayRestResolver) -> str:
    """Sessions belong to the API key that created them; another key sees 404.

    Only API Gateway's key id counts: a request without one (a route deployed without
    ApiKeyRequired, a direct invocation) is refused, never given a shared owner.
    """
    key_id = app.current_event.request_context.identity.api_key_id
    if not key_id:
        raise Forbidden("This route requires an API key.")
    return key_id


@lru_cache(maxsize=1)
def _idempotency() -> tuple[Any, Any]:
    """Powertools Idempotency (store, config), loaded only by requests that carry a key."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

    store = DynamoDBPersistenceLayer(
        table_name=get_settings().idempotency_table or "", boto3_client=aws.client("dynamodb")
    )
    config = IdempotencyConfig(
        event_key_jmespath="key", payload_validation_jmespath="payload", expires_after_seconds=24 * 3600
    )
    return store, config


def fingerprint(body: BaseModel) -> str:
    """What a replay's body is compared by: a keyed digest (bodies hold phones and personal codes,
    which an unkeyed hash would give away), of every field but the write-only ones (a password)."""
    secret = {
        name
        for name, field in type(body).model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("writeOnly")
    }
    canonical = json.dumps(
        body.model_dump(mode="json", exclude=secret), sort_keys=True, separators=(",", ":")
    )
    return keyed_digest("idempotency", canonical)


def idempotent_start(
    key: str | None,
    *,
    owner: str,
    method: str,
    body: BaseModel,
    start: Callable[[], SessionRecord],
    context: Any = None,
) -> tuple[SessionRecord, bool]:
    """Start once per Idempotency-Key; a replay returns the first session as it stands now (and True)."""
    if key is None:
        return start(), False
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidInput(
            "Idempotency-Key must be 1-255 visible ASCII characters.",
            errors=[{"field": "Idempotency-Key", "message": "must be 1-255 visible ASCII characters"}],
        )
    from aws_lambda_powertools.utilities.idempotency import idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    store, config = _idempotency()
    if context is not None:
        config.register_lambda_context(context)
    started: list[SessionRecord] = []

    uncertain: list[StartUncertain] = []

    def start_once(request: dict[str, Any]) -> dict[str, str]:
        try:
            started.append(start())
        except StartUncertain as exc:
            # The provider was asked: keep the key, so that a retry cannot ask it a second time.
            uncertain.append(exc)
            return {"session_id": exc.session_id}
        return {"session_id": started[0].session_id}

    wrapped = idempotent_function(data_keyword_argument="request", persistence_store=store, config=config)(
        start_once
    )
    try:
        result = wrapped(request={"key": f"{owner}:{method}:{key}", "payload": fingerprint(body)})
    except IdempotencyValidationError as exc:
        raise IdempotencyKeyReused("This Idempotency-Key was used with a different body.") from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise IdempotencyInProgress("A request with this Idempotency-Key is still in progress.") from exc
    if uncertain:
        raise uncertain[0]
    if started:
        return started[0], False
    try:
        return session_service().read(result["session_id"], owner), True
    except SessionNotFound as exc:
        raise StartUncertain(
            "The first start with this Idempotency-Key reached the provider but could not be recorded; "
            "start again with a new key.",
            session_id=result["session_id"],
        ) from exc
