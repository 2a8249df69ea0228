"""The local stack reads template.yaml itself: loading, Globals, parameters and intrinsic resolution."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from local.emulator.cfn import (
    CONDITION_FUNCTIONS,
    INTRINSICS,
    PSEUDO_PARAMETERS,
    RESOURCE_TYPES,
    CfnError,
    Physical,
    Resolver,
    Template,
    default_physical,
    env_name,
    function_config,
    state_machine_config,
)

REPO = Path(__file__).resolve().parents[2]
REGION = "eu-north-1"
ACCOUNT = "123456789012"
SANDBOX_URL = "http://127.0.0.1:9/dokobit"


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(REPO / "template.yaml")


def resolver_for(template: Template, environ: dict[str, str] | None = None, **kwargs: Any) -> Resolver:
    parameters = template.parameter_values(environ or {}, {"Stage": "local", "DokobitBaseUrl": SANDBOX_URL})
    return Resolver(
        template, parameters, region=REGION, account_id=ACCOUNT, stack_name="eid-broker-local", **kwargs
    )


def write_template(tmp_path: Path, text: str) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return Template.load(path)


# --- the real template -------------------------------------------------------------------------


def test_globals_are_merged_into_every_function(template: Template) -> None:
    # Given the real template, When loaded, Then each function carries the Globals.Function properties
    for _, resource in template.of_type("AWS::Serverless::Function"):
        props = resource["Properties"]
        assert props["Runtime"] == "python3.12"
        assert props["Handler"] == "app.lambda_handler"
        assert props["Layers"] == [{"Ref": "BrokerLayer"}]
        assert "SESSIONS_TABLE" in props["Environment"]["Variables"]


def test_environment_variables_merge_per_key(template: Template) -> None:
    variables = template.resources["DokobitStartFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["STAGE"] == {"Ref": "Stage"}  # from Globals
    assert variables["DOKOBIT_BASE_URL"] == {"Ref": "DokobitBaseUrl"}  # from the function


def test_dokobit_start_function_resolves_against_the_template(template: Template) -> None:
    # Given parameters with the local overrides, When the function is resolved
    config = function_config(resolver_for(template), "DokobitStartFunction")
    # Then every Ref/GetAtt in its environment became a local name or ARN
    env = config.environment
    assert config.name == "eid-broker-local-dokobit-start"
    assert env["SESSIONS_TABLE"] == "eid-broker-local-SessionsTable"
    assert env["IDEMPOTENCY_TABLE"] == "eid-broker-local-IdempotencyTable"
    assert env["STAGE"] == "local"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert env["SESSION_RETENTION_DAYS"] == "30"
    assert env["POLL_INTERVAL_SECONDS"] == ""
    assert env["DOKOBIT_BASE_URL"] == SANDBOX_URL
    assert (
        env["POLL_FUNCTION_ARN"]
        == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:eid-broker-local-dokobit-poll"
    )
    assert env["SESSION_POLL_STATE_MACHINE_ARN"] == (
        f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:eid-broker-local-session-poll"
    )
    assert env["DOKOBIT_SECRET_NAME"].startswith(
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:eid-broker/local/dokobit-"
    )
    assert config.code_dir == REPO / "functions" / "dokobit_start"
    assert config.python_path == (REPO / "layers" / "broker",)
    assert (config.handler, config.timeout, config.memory_size) == ("app.lambda_handler", 15, 256)
    assert config.log_group == "/eid-broker/local/functions"


def test_every_function_of_the_template_resolves(template: Template) -> None:
    resolver = resolver_for(template)
    names = {function_config(resolver, lid).name for lid, _ in template.of_type("AWS::Serverless::Function")}
    assert len(names) == len(template.of_type("AWS::Serverless::Function"))


def test_state_machine_definition_gets_its_substitutions(template: Template) -> None:
    # Given the session poll state machine, When its definition is prepared
    config = state_machine_config(resolver_for(template), "SessionPollStateMachine")
    # Then DefinitionUri was read and ${RecordFailureFunctionArn} became the PollFailedFunction ARN
    definition = json.loads(config.definition)
    record = definition["States"]["RecordFailure"]["Parameters"]["FunctionName"]
    assert record == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:eid-broker-local-poll-failed"
    assert "${" not in config.definition
    assert (config.name, config.type) == ("eid-broker-local-session-poll", "EXPRESS")


def test_environment_variable_beats_override_beats_default(template: Template) -> None:
    values = template.parameter_values(
        {"STAGE": "ci", "LOG_LEVEL": "DEBUG"}, {"Stage": "local", "PollIntervalSeconds": "1"}
    )
    assert values["Stage"] == "ci"
    assert values["LogLevel"] == "DEBUG"
    assert values["PollIntervalSeconds"] == "1"
    assert values["DokobitBaseUrl"] == "https://developers.dokobit.com"


def test_a_parameter_outside_its_allowed_values_is_refused(template: Template) -> None:
    with pytest.raises(CfnError, match="LOG_LEVEL"):
        template.parameter_values({"LOG_LEVEL": "LOUD"})


@pytest.mark.parametrize(
    ("parameter", "variable"),
    [
        ("DokobitBaseUrl", "DOKOBIT_BASE_URL"),
        ("Stage", "STAGE"),
        ("SessionTimeoutSeconds", "SESSION_TIMEOUT_SECONDS"),
        ("ApiURLPrefix", "API_URL_PREFIX"),
        ("Mosip2FaUrl", "MOSIP2_FA_URL"),
    ],
)
def test_parameter_environment_names(parameter: str, variable: str) -> None:
    assert env_name(parameter) == variable


def test_resources_are_provisioned_lazily_in_dependency_order(template: Template) -> None:
    # Given a provisioner that, like the stack's, prepares a state machine's definition and records
    # the order in which resources were created
    created: list[str] = []

    def provision(resolver: Resolver, logical_id: str, resource: dict[str, Any]) -> Physical:
        if resource["Type"] == "AWS::Serverless::StateMachine":
            state_machine_config(resolver, logical_id)
        created.append(logical_id)
        return default_physical(resolver, logical_id, resource)

    # When only the start function's environment is resolved
    function_config(resolver_for(template, provision=provision), "DokobitStartFunction")
    # Then the function the state machine's definition references was created before it
    assert created.index("PollFailedFunction") < created.index("SessionPollStateMachine")
    assert "SessionCancelFunction" not in created


# --- intrinsic functions on small templates ----------------------------------------------------

SMALL = """
AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Equals [!Ref Stage, prod]]
Globals:
  Function:
    Layers: [arn:aws:lambda:eu-north-1:1:layer:global:1]
    Environment: {Variables: {A: global, B: global}}
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties: {TableName: !Sub "t-${Stage}"}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.12
      Layers: [arn:aws:lambda:eu-north-1:1:layer:local:1]
      Environment:
        Variables:
          B: local
          SUB: !Sub "${AWS::Region}/${Table}/${Table.Arn}/${!Literal}"
          IF: !If [IsProd, big, small]
          GONE: !If [NotProd, !Ref AWS::NoValue, kept]
          VERSION: "2012-10-17"
          ATT: !GetAtt Table.Arn
  Loop1:
    Type: AWS::Logs::LogGroup
    Properties: {LogGroupName: !GetAtt Loop2.Arn}
  Loop2:
    Type: AWS::Logs::LogGroup
    Properties: {LogGroupName: !GetAtt Loop1.Arn}
"""


def test_intrinsics_resolve(tmp_path: Path) -> None:
    template = write_template(tmp_path, SMALL)
    resolver = Resolver(
        template, template.parameter_values({}), region=REGION, account_id=ACCOUNT, stack_name="s"
    )
    config = function_config(resolver, "Fn")
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t-dev"
    assert config.environment == {
        "A": "global",
        "B": "local",
        "SUB": f"{REGION}/t-dev/{table_arn}/${{Literal}}",
        "IF": "small",
        "VERSION": "2012-10-17",
        "ATT": table_arn,
    }
    assert config.code_dir == tmp_path / "fn"
    assert config.name == "s-Fn"
    # Globals lists are concatenated (SAM's rule); an external layer ARN puts nothing on the path
    layers = template.resources["Fn"]["Properties"]["Layers"]
    assert layers == [
        "arn:aws:lambda:eu-north-1:1:layer:global:1",
        "arn:aws:lambda:eu-north-1:1:layer:local:1",
    ]
    assert config.python_path == ()


def test_a_circular_reference_is_reported(tmp_path: Path) -> None:
    template = write_template(tmp_path, SMALL)
    resolver = Resolver(
        template, template.parameter_values({}), region=REGION, account_id=ACCOUNT, stack_name="s"
    )
    with pytest.raises(CfnError, match="circular reference: Loop1 -> Loop2 -> Loop1"):
        resolver.ref("Loop1")


def test_unknown_references_are_errors(tmp_path: Path) -> None:
    template = write_template(tmp_path, SMALL)
    resolver = Resolver(
        template, template.parameter_values({}), region=REGION, account_id=ACCOUNT, stack_name="s"
    )
    with pytest.raises(CfnError, match="Nope"):
        resolver.resolve({"Ref": "Nope"})
    with pytest.raises(CfnError, match="Nope"):
        resolver.resolve({"Fn::Sub": "${Nope}"})
    with pytest.raises(CfnError, match="not known locally"):
        resolver.resolve({"Fn::GetAtt": ["Table", "Bogus"]})


def test_a_file_without_resources_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CfnError, match="not a CloudFormation template"):
        write_template(tmp_path, "Parameters: {}\n")


# --- the resolver covers what the template uses --------------------------------------------------


def _uses(node: Any, where: str, found: dict[str, set[str]]) -> None:
    """Collect the intrinsic functions, pseudo parameters, GetAtt targets and Sub forms under ``node``."""
    if isinstance(node, list):
        for item in node:
            _uses(item, where, found)
        return
    if not isinstance(node, dict):
        return
    if len(node) == 1:
        ((key, arg),) = node.items()
        if key in ("Ref", "Condition") or key.startswith("Fn::"):
            found[where].add(key)
        if key == "Ref" and arg.startswith("AWS::"):
            found["pseudo"].add(arg)
        if key == "Fn::GetAtt":
            found["get_att"].add(".".join(arg))
        if key == "Fn::Sub":
            if not isinstance(arg, str):
                found[where].add("Fn::Sub (list form)")
            for name in re.findall(r"\$\{([^}!]*)\}", arg if isinstance(arg, str) else ""):
                if name.startswith("AWS::") or "." in name:
                    found["pseudo" if name.startswith("AWS::") else "get_att"].add(name)
    for value in node.values():
        _uses(value, where, found)


def test_the_resolver_supports_every_intrinsic_and_resource_type_the_template_uses(
    template: Template,
) -> None:
    # Given everything the local stack resolves: the resources, Globals and Conditions
    document = template.document
    found: dict[str, set[str]] = {k: set() for k in ("resources", "conditions", "pseudo", "get_att")}
    _uses([document["Resources"], document.get("Globals")], "resources", found)
    _uses(document.get("Conditions"), "conditions", found)
    # Then the resolver supports each function, pseudo parameter and resource type used
    assert found["resources"] <= INTRINSICS, "template.yaml uses an intrinsic local/emulator/cfn.py lacks"
    assert found["conditions"] <= CONDITION_FUNCTIONS | {"Ref"}, "a condition function cfn.py lacks"
    assert found["pseudo"] <= PSEUDO_PARAMETERS, "a pseudo parameter local/emulator/cfn.py lacks"
    types = {resource["Type"] for resource in template.resources.values()}
    assert types <= RESOURCE_TYPES, f"resource types local/emulator/cfn.py lacks: {types - RESOURCE_TYPES}"
    events = {
        event["Type"]
        for _, resource in template.of_type("AWS::Serverless::Function")
        for event in (resource["Properties"].get("Events") or {}).values()
    }
    # Api events are served by local/emulator/frontdoor.py, DynamoDB and SQS ones by
    # local/emulator/event_sources.py
    assert events <= {"Api", "DynamoDB", "SQS", "Schedule"}, f"event types the local stack lacks: {events}"
    # And every attribute it reads exists locally, with or without the optional resources
    # (a resource its condition leaves out is read by nothing)
    optional = {"KMS_KEY_ARN": "arn:aws:kms:eu-north-1:123456789012:key/k-1"}
    for environ in ({}, {**optional, "EEID_WEBHOOK_ALLOWED_CIDRS": "192.0.2.0/24,198.51.100.7/32"}):
        resolver = resolver_for(template, environ)
        for name in found["get_att"]:
            logical_id, attribute = name.split(".", 1)
            condition = template.resources[logical_id].get("Condition")
            if condition is None or resolver.condition(condition):
                assert resolver.get_att(logical_id, attribute), name


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Fn::Join": ["-", ["a", "b"]]}, "Fn::Join is not supported locally"),
        ({"Fn::Sub": ["${x}", {"x": "y"}]}, "only the string form of Fn::Sub"),
    ],
)
def test_an_unsupported_intrinsic_is_an_error(template: Template, value: Any, message: str) -> None:
    with pytest.raises(CfnError, match=re.escape(message)):
        resolver_for(template).resolve(value)


def test_an_unsupported_resource_type_is_an_error(tmp_path: Path) -> None:
    template = write_template(tmp_path, "Resources:\n  Q:\n    Type: AWS::EC2::VPC\n")
    resolver = Resolver(template, {}, region=REGION, account_id=ACCOUNT, stack_name="s")
    with pytest.raises(CfnError, match="AWS::EC2::VPC is not supported locally"):
        resolver.ref("Q")


@pytest.mark.parametrize("kms_key", ["", "arn:aws:kms:eu-north-1:123456789012:key/k-1"])
def test_a_resource_with_a_false_condition_is_not_provisioned(template: Template, kms_key: str) -> None:
    created: list[str] = []

    def provision(resolver: Resolver, logical_id: str, resource: dict[str, Any]) -> Physical:
        created.append(logical_id)
        return default_physical(resolver, logical_id, resource)

    resolver = resolver_for(template, {"KMS_KEY_ARN": kms_key}, provision=provision)
    for logical_id in template.resources:
        resolver.physical(logical_id)
    assert ("KmsKeyUsePolicy" in created) is bool(kms_key)
    props = resolver.resolve(template.resources["SessionsTable"]["Properties"])
    assert props["SSESpecification"] == (
        {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": kms_key} if kms_key else {"SSEEnabled": True}
    )
