"""The demo page of `make run` (``/demo``): static files from this folder, and the sandbox personas
as start bodies (``/demo/personas.json``). Local stack only: the template never routes ``/demo``."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from local.sandboxes import SANDBOXES

PREFIX = "/demo"
FOLDER = Path(__file__).resolve().parent
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Same origin only, no inline script or style: everything the page shows from the API is text.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Only the files that are here, by exact name: nothing else (no ``..``, no subfolder, no .py) is served.
FILES = {path.name: path for path in FOLDER.iterdir() if path.suffix in CONTENT_TYPES and path.is_file()}

METHOD_LABELS = {
    "dokobit-mobile-id": "Mobile-ID through Dokobit",
    "marksign-mobile-id": "Mobile-ID through MarkSign",
    "dokobit-smart-id": "Smart-ID through Dokobit",
    "marksign-smart-id": "Smart-ID through MarkSign",
    "eeid": "eeID (a link)",
    "mobbid-face": "MobbID face verification (a link)",
    "mosip-otp": "MOSIP one-time password",
    "mosip-password": "MOSIP password",
}


def _concrete(value: Any) -> bool:
    return isinstance(value, str) and not value.startswith("any ") and "," not in value


def _provider(method: str) -> str:
    return {"mobbid-face": "mobbid"}.get(method, method.split("-")[0])


def personas(built_in: Collection[str]) -> list[dict[str, Any]]:
    """Per method, its sandbox personas as ready start bodies, from the sandboxes' own lists; none for a
    provider whose built-in sandbox is not in use (``built_in``), as the banner shows no test person then."""
    by_provider = {spec.provider: list(spec.personas) for spec in SANDBOXES}
    bodies: dict[str, list[dict[str, Any]]] = {method: [] for method in METHOD_LABELS}
    for provider in ("dokobit", "marksign"):
        for row in by_provider[provider]:
            label = f"{row['persona']}: {row['outcome']}"
            if "phone" in row and _concrete(row["phone"]):
                body = {"phone": row["phone"], "personal_code": row["personal_code"]}
                bodies[f"{provider}-mobile-id"].append({"label": label, "body": body})
            elif "phone" not in row and _concrete(row["country"]):
                body = {"personal_code": row["personal_code"], "country": row["country"]}
                bodies[f"{provider}-smart-id"].append({"label": f"{row['country']} {label}", "body": body})
    for row in by_provider["eeid"]:
        label = f"{row['given_name']} {row['family_name']}: authenticate on the eeID sandbox page"
        bodies["eeid"].append({"label": label, "body": {"subject": row["subject"]}})
    for row in by_provider["mobbid"]:
        # Any other user id waits for the choice on the gateway page: the one to click through.
        user_id = row["user_id"] if _concrete(row["user_id"]) else "demo-person"
        body = {"user_id": user_id, "return_url": "RETURN_URL"}  # the page fills in its own address
        bodies["mobbid-face"].append({"label": f"{user_id}: {row['outcome']}", "body": body})
    for row in by_provider["mosip"]:
        body = {"user_id": row["user_id"], "user_id_type": row["user_id_type"], "channels": row["channels"]}
        channels = " + ".join(row["channels"])
        label = f"{row['name']} ({row['user_id_type']} {row['user_id']}): the OTP by {channels}"
        bodies["mosip-otp"].append({"label": label, "body": body})
        if row["password"]:
            body = {"username": row["user_id"], "password": row["password"]}
            bodies["mosip-password"].append({"label": f"{row['name']}: the right password", "body": body})
    return [
        {
            "method": method,
            "label": label,
            "personas": bodies[method] if _provider(method) in built_in else [],
        }
        for method, label in METHOD_LABELS.items()
    ]


def _answer(body: bytes, status: int, content_type: str, method: str) -> Response:
    response = Response(b"" if method == "HEAD" else body, status, content_type=content_type, headers=HEADERS)
    response.content_length = len(body)
    return response


class DemoApp:
    """WSGI app for every path under ``/demo``."""

    def __init__(self, built_in: Collection[str]) -> None:
        self.personas = json.dumps(personas(built_in), ensure_ascii=False).encode()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.method not in ("GET", "HEAD"):
            response = _answer(b"method not allowed\n", 405, "text/plain; charset=utf-8", "GET")
            response.headers["Allow"] = "GET, HEAD"
            return response(environ, start_response)
        name = request.path.removeprefix(PREFIX).removeprefix("/") or "index.html"
        if name == "personas.json":
            response = _answer(self.personas, 200, "application/json", request.method)
        elif name in FILES:
            body = FILES[name].read_bytes()
            response = _answer(body, 200, CONTENT_TYPES[FILES[name].suffix], request.method)
        else:
            response = _answer(b"not found\n", 404, "text/plain; charset=utf-8", request.method)
        return response(environ, start_response)


def is_demo_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")
