"""Route builders shared by the API functions, so each functions/*/app.py stays a few lines.

No `from __future__ import annotations` here: Powertools reads these signatures at runtime, and the
start body's model is only known when the route is built.
"""

import json
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.logging import correlation_paths

from eid_broker import api
from eid_broker.errors import ProviderBadResponse, ProviderUnavailable
from eid_broker.http import bounded_by
from eid_broker.methods.base import Method
from eid_broker.observability import logger
from eid_broker.sessions import Credentials, SessionOut, SessionRecord, SessionWithCredentials

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def start_handler(method: Method) -> Handler:
    """The Lambda of `POST /v1/sessions/{method}` (its resolver is the handler's `app`, for OpenAPI)."""
    app = api.make_resolver()
    start_session(app, method)
    handler = api_handler(app)
    handler.app = app  # type: ignore[attr-defined]
    return handler


def start_session(app: APIGatewayRestResolver, method: Method) -> None:
    """`POST /v1/sessions/{method}`: validate, start once per Idempotency-Key, answer 201 + session.

    A start that completes the session may also return credentials: they go into this one response
    and nowhere else (a replay never carries them).
    """
    model = SessionWithCredentials if method.hands_credentials else SessionOut

    def start_route(
        body: Annotated[method.body, Body()],  # type: ignore[name-defined]
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> Response[SessionOut]:
        owner = api.caller(app)
        handed: list[Credentials | None] = []

        def run() -> SessionRecord:
            try:
                record, credentials = api.session_service().start(method, body, owner)
            except ProviderBadResponse as exc:
                # Nothing was stored; like an outage, the integrator may try again.
                raise ProviderUnavailable(f"{exc.detail} Nothing was stored; try again.") from exc
            handed.append(credentials)
            return record

        record, replayed = api.idempotent_start(
            idempotency_key,
            owner=owner,
            method=method.name,
            body=body,
            start=run,
            context=app.lambda_context,
        )
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return api.json_response(with_credentials(record, handed[0] if handed else None), 201, headers)

    start_route.__annotations__["return"] = Response[model]  # type: ignore[valid-type]
    app.post(
        f"/v1/sessions/{method.name}",
        summary=method.summary,
        description=method.description,
        tags=["sessions"],
        operation_id=f"start_{method.name.replace('-', '_')}",
        responses={
            201: {
                "description": "Session started (or refused by the provider: status failed)",
                "content": {"application/json": {"model": model}},
            },
            **api.problem_responses(409, body=True),
        },
    )(start_route)


def with_credentials(record: SessionRecord, credentials: Credentials | None) -> SessionOut:
    """The session, plus `credentials` only in the one response that hands them over."""
    if credentials is None:
        return record.to_out()
    return SessionWithCredentials(**record.to_out().model_dump(), credentials=credentials)


def with_request_id(response: dict[str, Any], request_id: str | None) -> dict[str, Any]:
    """Every answer names API Gateway's request id (the logs' correlation id): in `X-Request-Id`, and
    in a problem body as `instance`."""
    if not request_id:
        return response
    headers = response.get("multiValueHeaders")
    if headers is not None:
        headers["X-Request-Id"] = [request_id]
        content_type = (headers.get("Content-Type") or [""])[0]
    else:
        response["headers"] = {**(response.get("headers") or {}), "X-Request-Id": request_id}
        content_type = response["headers"].get("Content-Type", "")
    if content_type == api.PROBLEM and isinstance(response.get("body"), str):
        response["body"] = json.dumps(
            {**json.loads(response["body"]), "instance": f"urn:request:{request_id}"}
        )
    return response


def api_handler(app: APIGatewayRestResolver, *, guard: bool = True) -> Handler:
    """The Lambda of an API function. `guard=False` leaves the body to the route (a signed webhook
    checks its signature on the raw body before anything else)."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with bounded_by(context):
            response = api.resolve(app, event, context) if guard else app.resolve(event, context)
        return with_request_id(response, (event.get("requestContext") or {}).get("requestId"))

    return lambda_handler
