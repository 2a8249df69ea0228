"""Local stand-in for API Gateway (REST API, Lambda proxy integration), configured from the template.

A request becomes a REST (v1) proxy event for an injected ``invoke`` (the stack's goes through moto's
Lambda, into the worker pool Step Functions tasks share); the proxy result becomes the HTTP response.
API Gateway's own errors are rendered from the API's ``GatewayResponses``.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import json
import re
import socket
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from werkzeug.datastructures import Headers
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local.emulator.cfn import CfnError, Resolver

MAX_BODY_BYTES = 10 * 1024 * 1024
RAW_HEADERS_KEY = "eid_broker.raw_headers"

# API Gateway's built-in status, message and x-amzn-ErrorType per gateway response type.
_MISSING_TOKEN = (403, "Missing Authentication Token", "MissingAuthenticationTokenException")
_GATEWAY_DEFAULTS: dict[str, tuple[int, str, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": _MISSING_TOKEN,
    "INVALID_API_KEY": (403, "Forbidden", "ForbiddenException"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long", "RequestTooLongException"),
    "DEFAULT_5XX": (502, "Internal server error", "InternalServerErrorException"),
}
_CONTEXT_VARIABLE = re.compile(r"\$context\.([A-Za-z]+(?:\.[A-Za-z]+)*)")
# The identity fields a REST API fills only for IAM or Cognito callers.
_IDENTITY_NULLS = dict.fromkeys(
    [
        "cognitoIdentityPoolId",
        "cognitoIdentityId",
        "cognitoAuthenticationType",
        "cognitoAuthenticationProvider",
        "accessKey",
        "accountId",
        "caller",
        "principalOrgId",
        "userArn",
        "user",
    ]
)

# Invoke a function: its name and payload in, its answer and ``FunctionError`` (None if it succeeded) out.
Invoke = Callable[[str, bytes], tuple[bytes, str | None]]


@dataclass(frozen=True)
class ApiConfig:
    api_id: str
    stage: str
    api_key_required: bool = False
    binary_media_types: tuple[str, ...] = ()
    gateway_responses: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    api: ApiConfig
    path: str
    method: str
    function_name: str
    api_key_required: bool


def _api_config(resolver: Resolver, logical_id: str) -> ApiConfig:
    props = resolver.resolve(resolver.template.resources[logical_id]["Properties"])
    return ApiConfig(
        api_id=str(resolver.ref(logical_id)),
        stage=str(props.get("StageName", "Prod")),
        api_key_required=bool((props.get("Auth") or {}).get("ApiKeyRequired", False)),
        binary_media_types=tuple(props.get("BinaryMediaTypes") or ()),
        gateway_responses=props.get("GatewayResponses") or {},
    )


def api_routes(resolver: Resolver) -> list[Route]:
    """Every ``Type: Api`` event of every function, on the ``AWS::Serverless::Api`` it names."""
    apis: dict[str, ApiConfig] = {}
    routes: list[Route] = []
    for logical_id, resource in resolver.template.of_type("AWS::Serverless::Function"):
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] != "Api":  # streams and queues: local/emulator/event_sources.py
                continue
            props = resolver.resolve(event["Properties"])
            api_id = (event["Properties"].get("RestApiId") or {}).get("Ref")
            if api_id is None:
                raise CfnError(f"{logical_id}: an Api event needs RestApiId: !Ref <an AWS::Serverless::Api>")
            api = apis[api_id] = apis.get(api_id) or _api_config(resolver, api_id)
            auth = props.get("Auth") or {}
            routes.append(
                Route(
                    api=api,
                    path="/" + "/".join(s for s in props["Path"].split("/") if s),
                    method=props["Method"].upper(),
                    function_name=str(resolver.ref(logical_id)),
                    api_key_required=bool(auth.get("ApiKeyRequired", api.api_key_required)),
                )
            )
    return routes


def _match(resource: tuple[str, ...], segments: list[str]) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """How specific the match is (a literal segment ranks before a ``{parameter}``), and the parameters."""
    if len(resource) != len(segments):
        return None
    params: dict[str, str] = {}
    for part, segment in zip(resource, segments, strict=True):
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = segment
        elif part != segment:
            return None
    return tuple(int(part.startswith("{")) for part in resource), params


class MalformedProxyResponse(ValueError):
    """API Gateway would answer 502 to this Lambda proxy result."""


class _GatewayError(Exception):
    """API Gateway answers itself: ``(response type, the route if known)``."""

    def __init__(self, response_type: str, route: Route | None) -> None:
        super().__init__(response_type, route)
        self.response_type, self.route = response_type, route


class FrontDoor:
    """WSGI app: HTTP request -> REST proxy event -> ``invoke`` -> HTTP response."""

    def __init__(
        self,
        routes: Iterable[Route],
        *,
        invoke: Invoke,
        api_key: str | Collection[str],
        account_id: str = "123456789012",
        admin: Mapping[str, Callable[[], Any]] | None = None,
        log: Callable[[str], None] | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.routes = list(routes)
        self.invoke = invoke
        # Several keys, each its own owner, so that isolation between integrators can be tried locally.
        self.api_keys = frozenset([api_key] if isinstance(api_key, str) else api_key)
        self.account_id = account_id
        self.admin = dict(admin or {})
        self.log = log or (lambda line: None)
        self.max_body_bytes = max_body_bytes
        self._resources: dict[tuple[str, ...], dict[str, Route]] = {}
        for route in self.routes:
            self._resources.setdefault(tuple(filter(None, route.path.split("/"))), {})[route.method] = route
        # Gateway errors before a route is known (no such route) use the first API.
        self._default_api = self.routes[0].api if self.routes else ApiConfig("local", "local")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        request = Request(environ)
        response = self.handle(request)
        elapsed = f"{(time.perf_counter() - started) * 1000:.0f} ms"
        # The OIDC routes' queries carry a login_hint (a phone, a personal code): never logged.
        shown = request.path if request.path.startswith("/oidc/") else request.full_path.rstrip("?")
        self.log(f"{request.method} {shown} {response.status_code} ({elapsed})")
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        admin = self.admin.get(f"{request.method} {request.path}")
        if admin is not None:
            return Response(json.dumps(admin()), 200, content_type="application/json")
        if any(key.endswith(f" {request.path}") for key in self.admin):
            return Response('{"message": "method not allowed"}', 405, content_type="application/json")
        request_id = str(uuid.uuid4())
        route: Route | None = None
        try:
            route, path_params = self._route(request)
            body = request.stream.read(self.max_body_bytes + 1)  # chunked bodies carry no length
            if (request.content_length or 0) > self.max_body_bytes or len(body) > self.max_body_bytes:
                raise _GatewayError("REQUEST_TOO_LARGE", route)
            if route.api_key_required and request.headers.get("x-api-key") not in self.api_keys:
                raise _GatewayError("INVALID_API_KEY", route)
            return self._call_function(route, self.build_event(request, route, path_params, body, request_id))
        except _GatewayError as error:
            return self.gateway_response(error.response_type, error.route, request_id)

    def _route(self, request: Request) -> tuple[Route, dict[str, str]]:
        # Match on the raw path, so that an encoded "/" inside a segment stays inside it.
        raw_path = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
        if raw_path.startswith("/"):
            segments = [unquote(s) for s in raw_path.split("?", 1)[0].split("/") if s]
        else:
            segments = [s for s in request.path.split("/") if s]
        matches = [(m[0], res, m[1]) for res in self._resources if (m := _match(res, segments))]
        if not matches:
            raise _GatewayError("MISSING_AUTHENTICATION_TOKEN", None)
        _, resource, params = min(matches, key=lambda m: m[0])
        methods = self._resources[resource]
        route = methods.get(request.method)
        if route is None:
            raise _GatewayError("MISSING_AUTHENTICATION_TOKEN", next(iter(methods.values())))
        return route, params

    def build_event(
        self, request: Request, route: Route, path_params: dict[str, str], body: bytes, request_id: str
    ) -> dict[str, Any]:
        api, now = route.api, time.time()
        source_ip = request.remote_addr or "127.0.0.1"
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.environ.get(RAW_HEADERS_KEY) or request.headers.items():
            multi_headers.setdefault(name, []).append(value)
        present = {name.lower() for name in multi_headers}
        for name, value in (
            ("X-Amzn-Trace-Id", f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}"),
            ("X-Forwarded-For", source_ip),
            ("X-Forwarded-Port", str(request.environ.get("SERVER_PORT", ""))),
            ("X-Forwarded-Proto", request.scheme),
        ):
            if name.lower() not in present:
                multi_headers[name] = [value]
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True):
            multi_query.setdefault(name, []).append(value)
        body_text, is_base64 = _encode_body(body, request.mimetype, api.binary_media_types)
        key = request.headers.get("x-api-key") if route.api_key_required else None
        request_path = "/" + "/".join(s for s in request.path.split("/") if s)
        return {
            "resource": route.path,
            "path": request_path,
            "httpMethod": request.method,
            "headers": {name: values[-1] for name, values in multi_headers.items()},
            "multiValueHeaders": multi_headers,
            "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": _hash(route.path, 6),
                "resourcePath": route.path,
                "httpMethod": request.method,
                "extendedRequestId": base64.b32encode(uuid.uuid4().bytes).decode()[:16],
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "path": f"/{api.stage}{request_path}",
                "accountId": self.account_id,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "stage": api.stage,
                "domainPrefix": request.host.split(".")[0].split(":")[0],
                "requestTimeEpoch": int(now * 1000),
                "requestId": request_id,
                "identity": {
                    **_IDENTITY_NULLS,
                    "sourceIp": source_ip,
                    "userAgent": request.headers.get("User-Agent"),
                    "apiKey": key or None,
                    "apiKeyId": _hash(key, 10) if key else None,
                },
                "domainName": request.host,
                "deploymentId": _hash(api.api_id, 6),
                "apiId": api.api_id,
            },
            "body": body_text,
            "isBase64Encoded": is_base64,
        }

    def _call_function(self, route: Route, event: dict[str, Any]) -> Response:
        request_id = event["requestContext"]["requestId"]
        try:
            payload, function_error = self.invoke(route.function_name, json.dumps(event).encode())
            if function_error:
                raise _GatewayError("DEFAULT_5XX", route)
            return proxy_response(payload, request_id)
        except _GatewayError:
            pass
        except MalformedProxyResponse as exc:
            self.log(f"malformed Lambda proxy response from {route.function_name}: {exc}")
        except Exception as exc:  # noqa: BLE001 - any integration failure is a 5XX, never a trace
            self.log(f"invoking {route.function_name} failed: {type(exc).__name__}")
        return self.gateway_response("DEFAULT_5XX", route, request_id)

    def gateway_response(self, response_type: str, route: Route | None, request_id: str) -> Response:
        api = route.api if route else self._default_api
        status, message, error_type = _GATEWAY_DEFAULTS[response_type]
        fallback = "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"
        spec = api.gateway_responses.get(response_type) or api.gateway_responses.get(fallback) or {}
        template = (spec.get("ResponseTemplates") or {}).get("application/json") or (
            '{"message":$context.error.messageString}'
        )
        context = {
            "error.messageString": json.dumps(message),
            "requestId": request_id,
        }  # what the template uses
        body = _CONTEXT_VARIABLE.sub(lambda m: context.get(m.group(1), m.group(0)), template)
        headers = Headers()
        for name, source in ((spec.get("ResponseParameters") or {}).get("Headers") or {}).items():
            if len(source) >= 2 and source[0] == source[-1] == "'":  # only static values are used
                headers[name] = source[1:-1]
        headers.setdefault("Content-Type", "application/json")
        headers["x-amzn-RequestId"] = request_id
        headers["x-amzn-ErrorType"] = error_type
        return Response(body, status=int(spec.get("StatusCode", status)), headers=headers)


def _hash(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _encode_body(body: bytes, mimetype: str, binary_types: tuple[str, ...]) -> tuple[str | None, bool]:
    if not body:
        return None, False
    if not any(fnmatch.fnmatchcase(mimetype.lower(), t.lower()) for t in binary_types):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def _scalar(value: Any) -> str:
    if isinstance(value, (dict, list)) or value is None:
        raise TypeError("header values must be scalars")
    return str(value).lower() if isinstance(value, bool) else str(value)


def proxy_response(payload: bytes, request_id: str) -> Response:
    """Map a Lambda proxy result to HTTP; ``MalformedProxyResponse`` when API Gateway would answer 502."""
    try:
        result = json.loads(payload)
        status, body = int(result["statusCode"]), result.get("body")
        if not 100 <= status <= 599 or not isinstance(body, (str, type(None))):
            raise ValueError("statusCode out of range, or body not a string")
        encoded = bool(result.get("isBase64Encoded") and body)
        data = base64.b64decode(body, validate=True) if encoded and body else (body or "").encode()
        headers = Headers()
        for name, values in (result.get("multiValueHeaders") or {}).items():
            if not isinstance(values, list):
                raise TypeError("multiValueHeaders values must be lists")
            for value in values:
                headers.add(str(name), _scalar(value))
        for name, value in (result.get("headers") or {}).items():
            if str(name) not in headers:
                headers.add(str(name), _scalar(value))
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
        raise MalformedProxyResponse(f"{type(exc).__name__}: {exc}") from None
    headers.setdefault("Content-Type", "application/json")
    headers["x-amzn-RequestId"] = request_id
    return Response(data, status=status, headers=headers)


class QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _RequestHandler(QuietHandler):
    """Keeps headers as the client spelled them (API Gateway does); the app logs each request."""

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ[RAW_HEADERS_KEY] = list(self.headers.items())
        return environ


def serve(
    host: str, port: int, app: Callable[..., Any], handler: type[WSGIRequestHandler] = _RequestHandler
) -> BaseWSGIServer:
    """A threaded server bound now, so that a taken port fails here with ``OSError`` (werkzeug would
    print two lines and ``sys.exit``); the caller runs ``serve_forever`` when ready."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        return make_server(host, port, app, threaded=True, request_handler=handler, fd=sock.fileno())
    finally:
        sock.close()
