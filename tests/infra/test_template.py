"""Assertions on template.yaml and the ASL that the linters cannot make."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.emulator.cfn import Template
from tests import wiring

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Template.load(ROOT / "template.yaml")
MACHINES = TEMPLATE.of_type("AWS::Serverless::StateMachine")
FUNCTIONS = TEMPLATE.of_type("AWS::Serverless::Function")


def definition(machine: dict) -> dict:
    return json.loads((ROOT / machine["Properties"]["DefinitionUri"]).read_text())


def tasks(machine: dict) -> dict[str, dict]:
    return {name: state for name, state in definition(machine)["States"].items() if state["Type"] == "Task"}


@pytest.mark.parametrize(("logical_id", "machine"), MACHINES)
def test_every_substitution_is_defined_and_used(logical_id: str, machine: dict) -> None:
    used = set(re.findall(r"\$\{(\w+)\}", (ROOT / machine["Properties"]["DefinitionUri"]).read_text()))
    assert used == set(machine["Properties"]["DefinitionSubstitutions"])


@pytest.mark.parametrize(("logical_id", "machine"), MACHINES)
def test_every_task_retries_and_every_poll_failure_is_recorded(logical_id: str, machine: dict) -> None:
    states = definition(machine)["States"]
    for name, state in tasks(machine).items():
        assert state.get("Retry"), f"{name} has no Retry"
        if name != "RecordFailure":
            (catch,) = state["Catch"]
            assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "RecordFailure", name
    assert states["RecordFailure"]["Next"] == "Final?"  # before the deadline it polls again


@pytest.mark.parametrize(("logical_id", "machine"), MACHINES)
def test_each_machine_may_invoke_exactly_the_poll_functions_started_on_it(
    logical_id: str, machine: dict
) -> None:
    invokable = {
        policy["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for policy in machine["Properties"]["Policies"]
        if isinstance(policy, dict) and "LambdaInvokePolicy" in policy
    }
    pollers: set[str] = set()
    for _, fn in FUNCTIONS:
        variables = fn["Properties"]["Environment"]["Variables"]
        default = variables.get("SESSION_POLL_STATE_MACHINE_ARN") == {"Ref": logical_id}
        if default and "POLL_FUNCTION_ARN" in variables:
            pollers.add(variables["POLL_FUNCTION_ARN"]["Fn::GetAtt"][0])
        # the hosted OIDC login page starts several methods: one poll function and loop each
        oidc = json.loads((variables.get("OIDC_POLL_FUNCTIONS") or {}).get("Fn::Sub", "{}"))
        machines = json.loads((variables.get("OIDC_POLL_MACHINES") or {}).get("Fn::Sub", "{}"))
        for method, function in oidc.items():
            machine = machines.get(method)
            if machine == f"${{{logical_id}}}" or (machine is None and default):
                pollers.update(re.findall(r"\$\{(\w+)\.Arn\}", function))
    assert pollers and invokable == pollers | {"PollFailedFunction"}


def test_short_sessions_poll_on_express_and_week_long_eeid_links_on_standard() -> None:
    types = {logical_id: machine["Properties"]["Type"] for logical_id, machine in MACHINES}
    assert types == {"SessionPollStateMachine": "EXPRESS", "EeidFallbackStateMachine": "STANDARD"}
    # one loop: both deploy the same definition file
    assert len({machine["Properties"]["DefinitionUri"] for _, machine in MACHINES}) == 1


def test_execution_input_carries_identifiers_and_timing_only() -> None:
    for _, machine in MACHINES:
        text = json.dumps(definition(machine))
        for forbidden in ("phone", "personal_code", "token", "secret", "password"):
            assert forbidden not in text.lower()


@pytest.mark.parametrize(("logical_id", "function"), FUNCTIONS)
def test_functions_have_explicit_limits_and_the_shared_layer(logical_id: str, function: dict) -> None:
    props = function["Properties"]
    # API Gateway waits 29 s at most; only the hourly retention run and the webhook sender (an attempt
    # of up to 30 s and its bookkeeping: tests/infra/test_limits.py) take longer.
    longest = {"RetentionEraseFunction": 300, "WebhookSendFunction": 45}
    assert props["Timeout"] <= longest.get(logical_id, 29)
    assert props["MemorySize"] >= 128
    assert props["Runtime"] == "python3.12"
    assert props["Layers"] == [{"Ref": "BrokerLayer"}]
    assert (ROOT / props["CodeUri"] / "app.py").is_file()
    for event in (props.get("Events") or {}).values():
        if event["Type"] == "Api":
            assert event["Properties"]["RestApiId"] == {"Ref": "BrokerApi"}
        else:  # the outbound webhooks (the sessions stream, the delivery queue) and the retention run
            assert (logical_id, event["Type"]) in {
                ("WebhookDispatchFunction", "DynamoDB"),
                ("WebhookSendFunction", "SQS"),
                ("RetentionEraseFunction", "Schedule"),
            }


def test_sessions_table_is_on_demand_with_ttl_pitr_and_encryption() -> None:
    props = TEMPLATE.resources["SessionsTable"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_one_secret_per_provider_named_by_stage() -> None:
    names = [res["Properties"]["Name"] for _, res in TEMPLATE.of_type("AWS::SecretsManager::Secret")]
    assert names and all(re.fullmatch(r"eid-broker/\$\{Stage\}/[a-z-]+", n["Fn::Sub"]) for n in names)


def test_the_api_requires_keys_and_answers_its_own_errors_as_problem_json() -> None:
    api = TEMPLATE.resources["BrokerApi"]["Properties"]
    assert api["Auth"]["ApiKeyRequired"] is True
    assert set(api["Auth"]["UsagePlan"]["Throttle"]) == {"RateLimit", "BurstLimit"}
    for name, response in api["GatewayResponses"].items():
        assert response["ResponseParameters"]["Headers"]["Content-Type"] == "'application/problem+json'", name


def _secret_refs(function: dict) -> set[str]:
    policies = function["Properties"].get("Policies") or []
    return {
        policy["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"]["Ref"]
        for policy in policies
        if isinstance(policy, dict) and "AWSSecretsManagerGetSecretValuePolicy" in policy
    }


# Functions that key a digest (idempotency fingerprints, expected-person checks, throttle counters,
# OTP-manager namespaces) read the deployment key; nothing else may.
KEYED = {
    *wiring.start_functions().values(),
    # every poll function checks who answered, but the OTP expiry watch asks no provider
    *(poll for poll in wiring.poll_functions().values() if poll != "MosipOtpExpireFunction"),
    "EeidWebhookFunction",
    "MosipOtpFunction",
    # The manual webhook call limit's counter key and the listing's cursor MAC.
    "WebhookEndpointFunction",
    "WebhookDeliveriesFunction",
    "SessionGetFunction",  # the per-key long-poll slots
    # OIDC codes, tokens and login transactions are stored as keyed digests; so are client secrets.
    "OidcClientsFunction",
    "OidcLoginFunction",
    "OidcTokenFunction",
}
# Starts that push to a person: the methods with a throttle family.
PUSHING = {
    wiring.start_functions()[name] for name, method in wiring.methods().items() if method.throttle_family
} | {"OidcLoginFunction"}  # the hosted login page starts sessions as the /v1 starts do


def test_every_registered_method_has_its_start_function_and_polling_methods_their_poll_function() -> None:
    starts = wiring.start_functions()
    assert set(starts) == set(wiring.methods())
    polled = {
        starts[name] for name, method in wiring.methods().items() if method.interval_seconds is not None
    }
    assert set(wiring.poll_functions()) & set(starts.values()) == polled


@pytest.mark.parametrize(("logical_id", "function"), FUNCTIONS)
def test_only_the_functions_that_key_digests_read_the_deployment_key(logical_id: str, function: dict) -> None:
    assert ("BrokerKeySecret" in _secret_refs(function)) == (logical_id in KEYED)


@pytest.mark.parametrize(("logical_id", "function"), FUNCTIONS)
def test_every_start_that_pushes_to_a_person_is_throttled(logical_id: str, function: dict) -> None:
    variables = (function["Properties"].get("Environment") or {}).get("Variables") or {}
    assert ("PERSON_THROTTLE_TABLE" in variables) == (logical_id in PUSHING)


def test_marksign_screening_is_on_by_default() -> None:
    for name in ("MarksignPepsCheck", "MarksignSanctionsCheck"):
        assert TEMPLATE.parameters[name]["Default"] == "true"


ALARMS = TEMPLATE.of_type("AWS::CloudWatch::Alarm")


@pytest.mark.parametrize(("logical_id", "alarm"), ALARMS)
def test_every_alarm_notifies_the_optional_topic_and_ignores_quiet_periods(
    logical_id: str, alarm: dict
) -> None:
    props = alarm["Properties"]
    optional_topic = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert props["AlarmActions"] == props["OKActions"] == optional_topic
    assert props["TreatMissingData"] == "notBreaching" and props["AlarmDescription"]


def test_the_alarms_cover_what_an_operator_must_hear_about() -> None:
    watched = set()
    for _, alarm in ALARMS:
        props = alarm["Properties"]
        stats = [q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q]
        watched |= {metric["MetricName"] for metric in stats or [props]}
    assert watched == {
        "5XXError",  # API
        "ExecutionsFailed",  # both state machines
        "PollFailures",  # the catch-all
        "ProviderErrors",  # per provider
        "EeidWebhookRejected",
        "ApproximateNumberOfMessagesVisible",  # the webhook dead-letter queue
        "PersonThrottled",
        "Throttles",  # Lambda
    }


def test_the_dashboard_has_one_row_per_registered_method() -> None:
    ((_, dashboard),) = TEMPLATE.of_type("AWS::CloudWatch::Dashboard")
    body = json.loads(dashboard["Properties"]["DashboardBody"]["Fn::Sub"])
    rows: dict[int, list[dict]] = {}
    for widget in body["widgets"]:
        rows.setdefault(widget["y"], []).append(widget)
    titles = [[w["properties"]["title"] for w in row] for row in rows.values()]
    method_rows = [row[0].split(":")[0] for row in titles if ":" in row[0]]
    assert sorted(method_rows) == sorted(wiring.methods())  # each once
    for row in rows.values():
        assert sum(w["width"] for w in row) == 24  # a full row each


SNAPSTART = sorted(logical_id for logical_id, function in FUNCTIONS if "SnapStart" in function["Properties"])


@pytest.fixture(scope="module")
def transformed(monkeypatch_module: pytest.MonkeyPatch) -> dict:
    """The template as `sam deploy` hands it to CloudFormation (SAM's own transform, offline)."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    monkeypatch_module.setenv("AWS_DEFAULT_REGION", "eu-north-1")
    document = yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8"))
    for resource in document["Resources"].values():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if key in props:
                props[key] = "s3://artifacts/code.zip"
        if "DefinitionUri" in props:
            props["DefinitionUri"] = {"Bucket": "artifacts", "Key": "definition.asl.json"}

    class NoManagedPolicies:
        def load(self) -> dict:
            return {}

    return transform(document, {}, NoManagedPolicies())["Resources"]


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_latency_critical_event_functions_use_snapstart() -> None:
    assert SNAPSTART == ["EeidWebhookFunction", "WebhookDispatchFunction", "WebhookSendFunction"]
    for logical_id in SNAPSTART:
        props = TEMPLATE.resources[logical_id]["Properties"]
        assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"} and props["AutoPublishAlias"] == "live"


def test_everything_that_invokes_a_snapstart_function_targets_its_alias(transformed: dict) -> None:
    """An unqualified ARN runs $LATEST, which SnapStart never applies to."""
    mappings = [
        r["Properties"]["FunctionName"]
        for r in transformed.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    api = json.dumps(transformed["BrokerApi"]["Properties"]["Body"])
    for logical_id in SNAPSTART:
        assert transformed[f"{logical_id}Aliaslive"]["Type"] == "AWS::Lambda::Alias"
        for other, resource in transformed.items():
            if other == logical_id or resource["Type"] in ("AWS::Lambda::Version", "AWS::Lambda::Alias"):
                continue
            text = json.dumps(resource)
            assert f'"{logical_id}"' not in text and f"{logical_id}.Arn" not in text, other
    assert {m["Ref"] for m in mappings} == {
        "WebhookDispatchFunctionAliaslive",
        "WebhookSendFunctionAliaslive",
    }
    assert "EeidWebhookFunctionAliaslive" in api and "EeidWebhookFunction.Arn" not in api


def test_a_deployed_stage_always_limits_and_the_new_limits_keep_their_documented_ranges() -> None:
    ranges = {
        "PersonStartLimit": (1, 100, 3),
        "LongPollMaxPerKey": (1, 1000, 50),
        "PasswordFailureLimit": (1, 100, 5),
        "PasswordFailureWindowSeconds": (60, 86400, 900),
    }
    for name, (low, high, default) in ranges.items():
        spec = TEMPLATE.parameters[name]
        assert (spec["MinValue"], spec["MaxValue"], spec["Default"]) == (low, high, default), name
