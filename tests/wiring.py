"""What the tests need to know about the methods, derived from template.yaml and the method registry
(never kept by hand, so a new method needs no edit here)."""

from __future__ import annotations

import re
from pathlib import Path

from eid_broker.config import ProviderSettings
from eid_broker.methods.base import Method, registry
from local.emulator.cfn import Template

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = Template.load(ROOT / "template.yaml")
FUNCTIONS = TEMPLATE.of_type("AWS::Serverless::Function")
_START_PATH = re.compile(r"/v1/sessions/([a-z0-9-]+)")


def api_events(function: dict) -> list[dict]:
    events = (function["Properties"].get("Events") or {}).values()
    return [event["Properties"] for event in events if event.get("Type") == "Api"]


def start_functions() -> dict[str, str]:
    """Method name → the logical id of the function behind `POST /v1/sessions/{name}`."""
    return {
        match.group(1): logical_id
        for logical_id, function in FUNCTIONS
        for event in api_events(function)
        if event["Method"].upper() == "POST" and (match := _START_PATH.fullmatch(event["Path"]))
    }


def poll_functions() -> dict[str, str]:
    """Start function → the poll function it hands its sessions to."""
    return {
        logical_id: variables["POLL_FUNCTION_ARN"]["Fn::GetAtt"][0]
        for logical_id, function in FUNCTIONS
        if "POLL_FUNCTION_ARN"
        in (variables := function["Properties"].get("Environment", {}).get("Variables", {}))
    }


def methods() -> dict[str, Method]:
    return registry()


def provider_prefixes() -> set[str]:
    """The `{PREFIX}_` of every provider's settings (DOKOBIT, MOSIP, …)."""
    registry()  # importing the methods imports every provider's settings model
    return {model.prefix for model in ProviderSettings.__subclasses__()}


def api_paths() -> set[str]:
    """Every route of the template, in OpenAPI's `{param}` form."""
    return {event["Path"] for _, function in FUNCTIONS for event in api_events(function)}
