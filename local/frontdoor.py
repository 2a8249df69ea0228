"""Local stand-in for API Gateway (REST API, Lambda proxy integration).

Routes, API keys, binary media types and gateway error responses all come from the template:
every ``Api`` event of every function, its ``AWS::Serverless::Api`` (or ``Globals.Api`` for the
implicit API). Each request becomes a REST (v1) proxy event; the function is invoked through an
injected callable (the stack passes moto's Lambda ``Invoke``, so the call is counted and runs in
the same worker pool as Step Functions tasks), and the proxy result becomes the HTTP response.
API Gateway's own errors are rendered from the template's ``GatewayResponses``.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import json
import re
import socket
import sys
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from werkzeug.datastructures import Headers
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local.cfn import Resolver

__all__ = [
    "MAX_BODY_BYTES",
    "ApiConfig",
    "FrontDoor",
    "Route",
    "api_routes",
    "serve",
]

MAX_BODY_BYTES = 10 * 1024 * 1024
RAW_HEADERS_KEY = "eid_broker.raw_headers"

# API Gateway's built-in status, message and x-amzn-ErrorType per gateway response type.
_GATEWAY_DEFAULTS: dict[str, tuple[int, str, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    ),
    "INVALID_API_KEY": (403, "Forbidden", "ForbiddenException"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long", "RequestTooLongException"),
    "DEFAULT_5XX": (502, "Internal server error", "InternalServerErrorException"),
}

InvokeResult = tuple[bytes, str | None]
"""The function's response payload, and its ``FunctionError`` (None when it succeeded)."""
Invoke = Callable[[str, bytes], InvokeResult]


@dataclass(frozen=True)
class ApiConfig:
    logical_id: str
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

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(s for s in self.path.split("/") if s)


# --- routes from the template ---------------------------------------------------------------------

IMPLICIT_API = "ServerlessRestApi"


def _api_config(resolver: Resolver, logical_id: str) -> ApiConfig:
    if logical_id == IMPLICIT_API and logical_id not in resolver.template.resources:
        props = resolver.resolve(resolver.template.globals.get("Api") or {})
        stage = "Prod"
        api_id = hashlib.sha256(f"{resolver.stack_name}/{logical_id}".encode()).hexdigest()[:10]
    else:
        props = resolver.resolve(resolver.template.resources[logical_id]["Properties"])
        stage = str(props.get("StageName", "Prod"))
        api_id = str(resolver.ref(logical_id))
    auth = props.get("Auth") or {}
    return ApiConfig(
        logical_id=logical_id,
        api_id=api_id,
        stage=stage,
        api_key_required=bool(auth.get("ApiKeyRequired", False)),
        # SAM lets `/` be written as `~1` in media types.
        binary_media_types=tuple(str(t).replace("~1", "/") for t in props.get("BinaryMediaTypes") or []),
        gateway_responses=props.get("GatewayResponses") or {},
    )


def api_routes(resolver: Resolver) -> list[Route]:
    """Every ``Type: Api`` event of every ``AWS::Serverless::Function`` in the template."""
    apis: dict[str, ApiConfig] = {}
    routes: list[Route] = []
    for logical_id, resource in resolver.template.of_type("AWS::Serverless::Function"):
        for event in (resource["Properties"].get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            props = event.get("Properties") or {}
            rest_api = props.get("RestApiId")
            if rest_api is None:
                api_logical_id = IMPLICIT_API
            elif isinstance(rest_api, dict) and set(rest_api) == {"Ref"}:
                api_logical_id = str(rest_api["Ref"])
            else:
                continue  # an API from outside the template
            if api_logical_id not in apis:
                apis[api_logical_id] = _api_config(resolver, api_logical_id)
            api = apis[api_logical_id]
            auth = resolver.resolve(props.get("Auth") or {})
            routes.append(
                Route(
                    api=api,
                    path="/" + "/".join(s for s in str(resolver.resolve(props["Path"])).split("/") if s),
                    method=str(resolver.resolve(props["Method"])).upper(),
                    function_name=str(resolver.ref(logical_id)),
                    api_key_required=bool(auth.get("ApiKeyRequired", api.api_key_required)),
                )
            )
    return routes


# --- matching -------------------------------------------------------------------------------------


def _segment_rank(template_segment: str) -> int:
    if template_segment.startswith("{") and template_segment.endswith("+}"):
        return 2
    if template_segment.startswith("{") and template_segment.endswith("}"):
        return 1
    return 0


def _match(resource: tuple[str, ...], segments: list[str]) -> tuple[tuple[int, ...], dict[str, str]] | None:
    params: dict[str, str] = {}
    ranks: list[int] = []
    for index, part in enumerate(resource):
        rank = _segment_rank(part)
        ranks.append(rank)
        if rank == 2:
            rest = segments[index:]
            if not rest:
                return None
            params[part[1:-2]] = "/".join(rest)
            return tuple(ranks), params
        if index >= len(segments):
            return None
        if rank == 1:
            params[part[1:-1]] = segments[index]
        elif part != segments[index]:
            return None
    if len(resource) != len(segments):
        return None
    return tuple(ranks), params


# --- the WSGI app ---------------------------------------------------------------------------------


class MalformedProxyResponse(ValueError):
    """API Gateway would answer 502 to this Lambda proxy result."""


class _GatewayError(Exception):
    def __init__(self, response_type: str, route: Route | None = None) -> None:
        super().__init__(response_type)
        self.response_type = response_type
        self.route = route


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
        self.log = log
        self.max_body_bytes = max_body_bytes
        self._resources: dict[tuple[str, ...], dict[str, Route]] = {}
        for route in self.routes:
            self._resources.setdefault(route.segments, {})[route.method] = route
        apis = {route.api.logical_id: route.api for route in self.routes}
        # Gateway errors before a route is known (no such route) use the only API, or the first.
        self._default_api = next(iter(apis.values()), ApiConfig("none", "local", "local"))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        request = Request(environ)
        response = self.handle(request)
        if self.log:
            elapsed = (time.perf_counter() - started) * 1000
            self.log(
                f"{request.method} {request.full_path.rstrip('?')} {response.status_code} ({elapsed:.0f} ms)"
            )
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        admin = self.admin.get(f"{request.method} {request.path}")
        if admin is not None:
            return Response(json.dumps(admin()), 200, content_type="application/json")
        if any(key.endswith(f" {request.path}") for key in self.admin):
            return Response(
                json.dumps({"message": "method not allowed"}), 405, content_type="application/json"
            )

        request_id = str(uuid.uuid4())
        route: Route | None = None
        try:
            route, path_params = self._route(request)
            if request.content_length is not None and request.content_length > self.max_body_bytes:
                raise _GatewayError("REQUEST_TOO_LARGE", route)
            body = request.stream.read(self.max_body_bytes + 1)  # chunked bodies carry no length
            if len(body) > self.max_body_bytes:
                raise _GatewayError("REQUEST_TOO_LARGE", route)
            if route.api_key_required and request.headers.get("x-api-key") not in self.api_keys:
                raise _GatewayError("INVALID_API_KEY", route)
            event = self.build_event(request, route, path_params, body, request_id)
            return self._call_function(route, event, request_id)
        except _GatewayError as error:
            return self.gateway_response(error.response_type, request, error.route, request_id)

    def _route(self, request: Request) -> tuple[Route, dict[str, str]]:
        raw_path = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
        raw_path = raw_path.split("?", 1)[0]
        if raw_path.startswith("/"):
            segments = [unquote(s) for s in raw_path.split("/") if s]
        else:
            segments = [s for s in request.path.split("/") if s]
        best: tuple[tuple[int, ...], tuple[str, ...], dict[str, str]] | None = None
        for resource in self._resources:
            matched = _match(resource, segments)
            if matched and (best is None or matched[0] < best[0]):
                best = (matched[0], resource, matched[1])
        if best is None:
            raise _GatewayError("MISSING_AUTHENTICATION_TOKEN")
        methods = self._resources[best[1]]
        route = methods.get(request.method) or methods.get("ANY")
        if route is None:
            raise _GatewayError("MISSING_AUTHENTICATION_TOKEN", next(iter(methods.values())))
        return route, best[2]

    # event

    @staticmethod
    def _raw_headers(request: Request) -> list[tuple[str, str]]:
        raw = request.environ.get(RAW_HEADERS_KEY)
        if raw is not None:
            return list(raw)
        return list(request.headers.items())

    def build_event(
        self, request: Request, route: Route, path_params: dict[str, str], body: bytes, request_id: str
    ) -> dict[str, Any]:
        api = route.api
        now = time.time()
        source_ip = request.remote_addr or "127.0.0.1"
        multi_headers: dict[str, list[str]] = {}
        lowered: set[str] = set()
        for name, value in self._raw_headers(request):
            multi_headers.setdefault(name, []).append(value)
            lowered.add(name.lower())
        trace_id = f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}"
        host = request.host
        port = str(request.environ.get("SERVER_PORT", ""))
        for name, value in (
            ("X-Amzn-Trace-Id", trace_id),
            ("X-Forwarded-For", source_ip),
            ("X-Forwarded-Port", port),
            ("X-Forwarded-Proto", request.scheme),
        ):
            if name.lower() not in lowered:
                multi_headers[name] = [value]
        headers = {name: values[-1] for name, values in multi_headers.items()}

        query_pairs = parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True)
        multi_query: dict[str, list[str]] = {}
        for name, value in query_pairs:
            multi_query.setdefault(name, []).append(value)
        query = {name: values[-1] for name, values in multi_query.items()}

        body_text, is_base64 = self._encode_body(body, request.mimetype, api.binary_media_types)
        key_header = request.headers.get("x-api-key")
        api_key_used = key_header if route.api_key_required and key_header else None
        user_agent = request.headers.get("User-Agent")
        request_path = "/" + "/".join(s for s in request.path.split("/") if s)
        return {
            "resource": route.path,
            "path": request_path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": hashlib.sha256(route.path.encode()).hexdigest()[:6],
                "resourcePath": route.path,
                "httpMethod": request.method,
                "extendedRequestId": base64.b32encode(uuid.uuid4().bytes).decode()[:16],
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "path": f"/{api.stage}{request_path}",
                "accountId": self.account_id,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "stage": api.stage,
                "domainPrefix": host.split(".")[0].split(":")[0],
                "requestTimeEpoch": int(now * 1000),
                "requestId": request_id,
                "identity": {
                    "cognitoIdentityPoolId": None,
                    "accountId": None,
                    "cognitoIdentityId": None,
                    "caller": None,
                    "sourceIp": source_ip,
                    "principalOrgId": None,
                    "accessKey": None,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                    "userArn": None,
                    "userAgent": user_agent,
                    "user": None,
                    "apiKey": api_key_used,
                    "apiKeyId": _api_key_id(api_key_used) if api_key_used else None,
                },
                "domainName": host,
                "deploymentId": hashlib.sha256(api.api_id.encode()).hexdigest()[:6],
                "apiId": api.api_id,
            },
            "body": body_text,
            "isBase64Encoded": is_base64,
        }

    @staticmethod
    def _encode_body(body: bytes, mimetype: str, binary_types: tuple[str, ...]) -> tuple[str | None, bool]:
        if not body:
            return None, False
        if mimetype and any(fnmatch.fnmatchcase(mimetype.lower(), t.lower()) for t in binary_types):
            return base64.b64encode(body).decode("ascii"), True
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            return base64.b64encode(body).decode("ascii"), True

    # invocation and response

    def _call_function(self, route: Route, event: dict[str, Any], request_id: str) -> Response:
        try:
            payload, function_error = self.invoke(route.function_name, json.dumps(event).encode("utf-8"))
        except Exception as exc:  # noqa: BLE001 - any integration failure is a 5XX, never a trace
            self._note(f"invoking {route.function_name} failed: {type(exc).__name__}")
            return self._gateway_5xx(route, request_id)
        if function_error:
            return self._gateway_5xx(route, request_id)
        try:
            return self.proxy_response(payload, request_id)
        except MalformedProxyResponse as exc:
            self._note(f"malformed Lambda proxy response from {route.function_name}: {exc}")
            return self._gateway_5xx(route, request_id)

    def _note(self, line: str) -> None:
        if self.log:
            self.log(line)
        else:
            print(line, file=sys.stderr)

    def _gateway_5xx(self, route: Route, request_id: str) -> Response:
        return self.gateway_response("DEFAULT_5XX", None, route, request_id)

    @staticmethod
    def proxy_response(payload: bytes, request_id: str) -> Response:
        """Map a Lambda proxy result to HTTP; ``MalformedProxyResponse`` when API Gateway would answer 502."""
        try:
            result = json.loads(payload)
        except ValueError:
            raise MalformedProxyResponse("not JSON") from None
        if not isinstance(result, dict):
            raise MalformedProxyResponse("not an object")
        try:
            status = int(result["statusCode"])
        except (KeyError, TypeError, ValueError):
            raise MalformedProxyResponse("missing or invalid statusCode") from None
        if not 100 <= status <= 599:
            raise MalformedProxyResponse("statusCode out of range")
        body = result.get("body")
        if body is not None and not isinstance(body, str):
            raise MalformedProxyResponse("body is not a string")
        data = (body or "").encode("utf-8")
        if result.get("isBase64Encoded") and body:
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise MalformedProxyResponse("body is not valid base64") from None
        headers = Headers()
        multi = result.get("multiValueHeaders") or {}
        single = result.get("headers") or {}
        if not isinstance(multi, dict) or not isinstance(single, dict):
            raise MalformedProxyResponse("headers must be objects")
        for name, values in multi.items():
            if not isinstance(values, list):
                raise MalformedProxyResponse("multiValueHeaders values must be lists")
            for value in values:
                headers.add(str(name), _header_value(value))
        for name, value in single.items():
            if str(name) not in headers:
                headers.add(str(name), _header_value(value))
        if "Content-Type" not in headers:
            headers["Content-Type"] = "application/json"
        headers["x-amzn-RequestId"] = request_id
        return Response(data, status=status, headers=headers)

    def gateway_response(
        self, response_type: str, request: Request | None, route: Route | None, request_id: str
    ) -> Response:
        api = route.api if route else self._default_api
        status, message, error_type = _GATEWAY_DEFAULTS.get(
            response_type, (500, "Internal server error", "InternalServerErrorException")
        )
        responses = api.gateway_responses
        spec = (
            responses.get(response_type)
            or responses.get("DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX")
            or {}
        )
        status = int(spec.get("StatusCode", status))
        template = (spec.get("ResponseTemplates") or {}).get("application/json") or (
            '{"message":$context.error.messageString}'
        )
        context = {
            "error.messageString": json.dumps(message),
            "error.message": message,
            "error.responseType": response_type,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "stage": api.stage,
            "apiId": api.api_id,
            "accountId": self.account_id,
            "resourcePath": route.path if route else "",
            "httpMethod": request.method if request else (route.method if route else ""),
        }

        def render(match: re.Match[str]) -> str:
            return context.get(match.group(1) or match.group(2), match.group(0))

        body = _CONTEXT_VARIABLE.sub(render, template)
        headers = Headers()
        for name, source in ((spec.get("ResponseParameters") or {}).get("Headers") or {}).items():
            value = _gateway_header_value(str(source), request)
            if value is not None:
                headers[str(name)] = value
        if "Content-Type" not in headers:
            headers["Content-Type"] = "application/json"
        headers["x-amzn-RequestId"] = request_id
        headers["x-amzn-ErrorType"] = error_type
        return Response(body, status=status, headers=headers)


_CONTEXT_VARIABLE = re.compile(r"\$\{context\.([A-Za-z.]+)\}|\$context\.([A-Za-z]+(?:\.[A-Za-z]+)*)")


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)) or value is None:
        raise MalformedProxyResponse("header values must be scalars")
    return str(value)


def _gateway_header_value(source: str, request: Request | None) -> str | None:
    if len(source) >= 2 and source[0] == source[-1] == "'":
        return source[1:-1]
    prefix = "method.request.header."
    if request is not None and source.startswith(prefix):
        return request.headers.get(source[len(prefix) :])
    return None


def _api_key_id(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:10]


# --- serving --------------------------------------------------------------------------------------


class _RequestHandler(WSGIRequestHandler):
    """Keeps headers as the client spelled them (API Gateway does) and leaves logging to the app."""

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ[RAW_HEADERS_KEY] = list(self.headers.items())
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def serve(
    host: str, port: int, app: Callable[..., Any], handler: type[WSGIRequestHandler] = _RequestHandler
) -> BaseWSGIServer:
    """A threaded server bound now, so that a taken port fails here with ``OSError`` (werkzeug itself
    would print two lines and ``sys.exit``); the caller runs ``serve_forever`` when ready."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        return make_server(host, port, app, threaded=True, request_handler=handler, fd=sock.fileno())
    finally:
        sock.close()
