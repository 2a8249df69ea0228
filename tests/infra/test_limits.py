"""The template's limits that keep one caller from hurting the others: the sender's timing chain and
concurrency cap, concurrency reserved for the poll and record functions, stage-wide and per-route
throttles, and each webhook function's rights on the webhooks table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from eid_broker.config import Settings
from eid_broker.webhooks import sending
from local.emulator.cfn import Template
from tests import wiring

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Template.load(ROOT / "template.yaml")
FUNCTIONS = dict(TEMPLATE.of_type("AWS::Serverless::Function"))
# What must never be starved: every poll task, the catch that records a failed poll, eeID's webhook.
CORE = {*wiring.poll_functions().values(), "PollFailedFunction", "EeidWebhookFunction"}
SECRETS = {"secret", "previous_secret"}


def parameter(name: str) -> dict[str, Any]:
    return TEMPLATE.parameters[name]


def table_statements(logical_id: str, table: str) -> list[dict[str, Any]]:
    found = []
    for policy in FUNCTIONS[logical_id]["Properties"].get("Policies") or []:
        for statement in (policy.get("Statement") or []) if isinstance(policy, dict) else []:
            if statement.get("Resource") == {"Fn::GetAtt": [table, "Arn"]}:
                found.append(statement)
    return found


def actions(logical_id: str, table: str = "WebhooksTable") -> set[str]:
    return {action for s in table_statements(logical_id, table) for action in s["Action"]}


def test_an_attempt_its_function_its_lease_and_its_queue_fit_together() -> None:
    timeout = parameter("WebhookTimeoutSeconds")
    assert (timeout["Default"], timeout["MinValue"], timeout["MaxValue"]) == (15, 1, 30)
    assert timeout["MaxValue"] == sending.MAX_TIMEOUT_SECONDS
    sender = FUNCTIONS["WebhookSendFunction"]["Properties"]
    assert sender["Timeout"] == sending.SENDER_TIMEOUT_SECONDS >= sending.MAX_TIMEOUT_SECONDS + 10
    assert sender["Environment"]["Variables"]["WEBHOOK_TIMEOUT_SECONDS"] == {"Ref": "WebhookTimeoutSeconds"}
    # A claim outlives the function that holds it; the message of a stopped function comes back after both.
    assert sender["Timeout"] < sending.LEASE_SECONDS
    visibility = TEMPLATE.resources["WebhookQueue"]["Properties"]["VisibilityTimeout"]
    assert visibility == sending.VISIBILITY_SECONDS >= 6 * sender["Timeout"]
    assert visibility > sending.LEASE_SECONDS


def test_the_sender_has_a_concurrency_cap_of_its_own() -> None:
    [event] = FUNCTIONS["WebhookSendFunction"]["Properties"]["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["ScalingConfig"] == {
        "MaximumConcurrency": {"Ref": "WebhookSenderMaxConcurrency"}
    }
    cap = parameter("WebhookSenderMaxConcurrency")
    assert cap["MinValue"] == 2 and cap["Default"] <= 100  # SQS event sources allow 2 at the least
    [stream] = FUNCTIONS["WebhookDispatchFunction"]["Properties"]["Events"].values()
    assert stream["Properties"]["ParallelizationFactor"] == 1


def test_poll_and_record_functions_reserve_concurrency_of_their_own() -> None:
    assert len(CORE) == 9  # six pollers, the OTP expiry watch, the poll-failure recorder, eeID webhook
    core = parameter("CoreReservedConcurrency")
    assert core["Default"] not in ("", "0")  # on by default; empty only for a small account
    for logical_id, function in FUNCTIONS.items():
        reserved = function["Properties"]["ReservedConcurrentExecutions"]
        assert (reserved["Fn::If"][0] == "HasCoreReservedConcurrency") == (logical_id in CORE), logical_id


def test_stage_wide_throttles_are_well_above_one_keys_and_the_eeid_webhook_has_its_own() -> None:
    api = TEMPLATE.resources["BrokerApi"]["Properties"]
    settings = {s["ResourcePath"]: s for s in api["MethodSettings"]}
    stage = settings["/*"]
    assert stage["ThrottlingRateLimit"] == {"Ref": "ApiStageRateLimit"}
    assert stage["ThrottlingBurstLimit"] == {"Ref": "ApiStageBurstLimit"}
    plan = api["Auth"]["UsagePlan"]["Throttle"]
    assert plan == {"RateLimit": {"Ref": "ApiRateLimit"}, "BurstLimit": {"Ref": "ApiBurstLimit"}}
    assert parameter("ApiStageRateLimit")["Default"] >= 10 * parameter("ApiRateLimit")["Default"]
    assert parameter("ApiStageBurstLimit")["Default"] >= 10 * parameter("ApiBurstLimit")["Default"]
    eeid = settings["/~1eeid~1webhooks~1identification_requests"]
    assert eeid["HttpMethod"] == "POST"
    assert eeid["ThrottlingRateLimit"] == {"Ref": "EeidWebhookRateLimit"}
    assert eeid["ThrottlingBurstLimit"] == {"Ref": "EeidWebhookBurstLimit"}
    [route] = [
        e["Properties"]
        for e in FUNCTIONS["EeidWebhookFunction"]["Properties"]["Events"].values()
        if e["Type"] == "Api"
    ]
    assert "/" + route["Path"].replace("/", "~1") == eeid["ResourcePath"]  # how API Gateway names a path


def test_each_webhook_function_has_only_the_table_actions_it_makes() -> None:
    assert actions("WebhookEndpointFunction") == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }
    assert actions("WebhookDeliveriesFunction") == {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
    }
    assert actions("WebhookDispatchFunction") == {"dynamodb:GetItem", "dynamodb:PutItem"}
    assert actions("WebhookSendFunction") == {"dynamodb:GetItem", "dynamodb:UpdateItem"}


@pytest.mark.parametrize("logical_id", ["WebhookDispatchFunction", "WebhookDeliveriesFunction"])
def test_dispatch_and_the_deliveries_function_can_read_no_signing_secret(logical_id: str) -> None:
    from eid_broker.webhooks.models import Delivery

    [statement] = table_statements(logical_id, "WebhooksTable")
    condition = statement["Condition"]
    allowed = set(condition["ForAllValues:StringEquals"]["dynamodb:Attributes"])
    assert not allowed & SECRETS and {"owner", "item"} <= allowed
    assert set(Delivery.model_fields) <= allowed  # every attribute a delivery item holds
    assert ("enabled" in allowed) == (logical_id == "WebhookDispatchFunction")
    assert condition["StringEqualsIfExists"] == {
        "dynamodb:Select": "SPECIFIC_ATTRIBUTES",
        "dynamodb:ReturnValues": "NONE",
    }


def test_the_manual_call_counters_are_the_only_items_the_webhook_routes_reach_in_the_counter_table() -> None:
    for logical_id in ("WebhookEndpointFunction", "WebhookDeliveriesFunction"):
        variables = FUNCTIONS[logical_id]["Properties"]["Environment"]["Variables"]
        assert variables["WEBHOOK_LIMIT_TABLE"] == {"Ref": "PersonThrottleTable"}
        assert variables["WEBHOOK_MANUAL_LIMIT"] == {"Ref": "WebhookManualLimit"}
        [statement] = table_statements(logical_id, "PersonThrottleTable")
        assert set(statement["Action"]) == {"dynamodb:GetItem", "dynamodb:PutItem"}
        assert statement["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["webhook-manual#*"]}
        }
    limit = parameter("WebhookManualLimit")
    assert (limit["Default"], limit["MinValue"], limit["MaxValue"]) == (10, 1, 1000)


@pytest.mark.parametrize(
    ("variable", "good", "bad"),
    [
        ("WEBHOOK_TIMEOUT_SECONDS", ("1", "30"), ("0", "31")),
        ("WEBHOOK_MANUAL_LIMIT", ("1", "1000"), ("0", "1001")),
    ],
)
def test_settings_accept_the_contracts_range_and_nothing_else(
    variable: str, good: tuple[str, ...], bad: tuple[str, ...]
) -> None:
    for value in good:
        Settings.from_env({variable: value})
    for value in bad:
        with pytest.raises(ValidationError):
            Settings.from_env({variable: value})
