"""Generate openapi.json from the code: every API function's own resolver, merged (`make openapi`)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from local.emulator.cfn import Template

ROOT = Path(__file__).resolve().parent.parent


def api_functions(template: Template) -> list[tuple[str, Path]]:
    """(logical id, app.py) of every function that has an Api event."""
    found = []
    for logical_id, resource in template.of_type("AWS::Serverless::Function"):
        events = resource["Properties"].get("Events") or {}
        if any(event.get("Type") == "Api" for event in events.values()):
            found.append((logical_id, ROOT / resource["Properties"]["CodeUri"] / "app.py"))
    return sorted(found)


def _load_app(logical_id: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"_openapi_{logical_id}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "app", None) or module.lambda_handler.app


def open_routes(template: Template) -> set[tuple[str, str]]:
    """(path, method) of the routes the template serves without an API key (eeID's webhook)."""
    return {
        (event["Properties"]["Path"], event["Properties"]["Method"].lower())
        for _, resource in template.of_type("AWS::Serverless::Function")
        for event in (resource["Properties"].get("Events") or {}).values()
        if event.get("Type") == "Api"
        and (event["Properties"].get("Auth") or {}).get("ApiKeyRequired") is False
    }


def build() -> dict[str, Any]:
    document: dict[str, Any] = {}
    template = Template.load(ROOT / "template.yaml")
    for logical_id, path in api_functions(template):
        schema = json.loads(
            _load_app(logical_id, path).get_openapi_json_schema(
                title="eid-broker",
                version="1.0.0",
                summary="One small, stable REST API over Baltic and MOSIP identity providers.",
                description="Sessions establish who a person is through one provider method. "
                "Errors are RFC 9457 problem+json. Send the API key in `x-api-key`.",
            )
        )
        if not document:
            document = {**schema, "paths": {}, "components": {"schemas": {}}}
        for route, operations in schema["paths"].items():
            document["paths"].setdefault(route, {}).update(operations)
        document["components"]["schemas"].update(schema.get("components", {}).get("schemas", {}))
    for route, method in open_routes(template):
        document["paths"][route][method]["security"] = []
    document["components"]["securitySchemes"] = {
        "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}
    }
    document["security"] = [{"apiKey": []}]
    document["servers"] = [{"url": "http://127.0.0.1:3000", "description": "make run"}]
    return document


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
