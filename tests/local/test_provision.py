"""Local-only values (local.emulator.provision): a value below a parameter's MinValue that only a local run
may use passes the parameters' checks and reaches every function's environment, on the one provisioning
path of `make run`, the bench and the integration tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.emulator.cfn import CfnError, Template, env_name
from local.emulator.lambda_runtime import offline_aws_env
from local.emulator.provision import LOCAL_ONLY_VALUES, SERVICES, local_parameters, provision

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-north-1"
TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  PersonStartLimit:
    Type: Number
    Default: 3
    MinValue: 1
Globals:
  Function:
    Runtime: python3.12
    Handler: app.lambda_handler
Resources:
  Limited:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: limited
      CodeUri: limited/
      Environment:
        Variables:
          PERSON_START_LIMIT: !Ref PersonStartLimit
  Other:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: other
      CodeUri: other/
"""


@pytest.fixture
def template(tmp_path: Path) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE, encoding="utf-8")
    return Template.load(path)


def test_the_real_template_refuses_what_only_a_local_run_may_use() -> None:
    template = Template.load(ROOT / "template.yaml")
    for variable, value in LOCAL_ONLY_VALUES.items():
        with pytest.raises(CfnError, match=variable):
            template.parameter_values({variable: value})
        parameters, local_only = local_parameters(template, {variable: value})
        assert local_only == {variable: value}
        [name] = [name for name in template.parameters if env_name(name) == variable]
        assert parameters[name] == str(template.parameters[name]["Default"])  # the parameter keeps its own


@pytest.mark.parametrize("value", ["-1", "0.5"])
def test_any_other_value_below_the_minimum_is_still_refused(template: Template, value: str) -> None:
    with pytest.raises(CfnError, match="PERSON_START_LIMIT"):
        local_parameters(template, {"PERSON_START_LIMIT": value})


def test_a_value_the_template_allows_is_a_parameter_not_a_local_value(template: Template) -> None:
    parameters, local_only = local_parameters(template, {"PERSON_START_LIMIT": "5"})
    assert parameters["PersonStartLimit"] == "5" and local_only == {}


def test_local_values_reach_every_function_over_the_template(
    template: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in offline_aws_env(REGION).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    parameters, local_only = local_parameters(template, {"PERSON_START_LIMIT": "0"})
    seen: list[str] = []

    def on_function(function: Any) -> Any:
        seen.append(function.name)
        assert function.environment["PERSON_START_LIMIT"] == "0"  # before the stack's workers get it
        return function

    with mock_aws():
        clients = {service: boto3.client(service, region_name=REGION) for service in SERVICES}
        _, provisioner = provision(
            template,
            parameters,
            clients,
            stack_name="t",
            region=REGION,
            account_id="123456789012",
            secret_value=lambda name, generate: {},
            local_environment={**local_only, "WEBHOOK_ALLOW_LOOPBACK": "true"},
            on_function=on_function,
        )
        registered = {
            name: clients["lambda"].get_function_configuration(FunctionName=name)["Environment"]["Variables"]
            for name in ("limited", "other")
        }
    assert sorted(seen) == ["limited", "other"]
    for name, environment in registered.items():
        assert environment == provisioner.functions[name].environment, name
        assert environment["PERSON_START_LIMIT"] == "0" and environment["WEBHOOK_ALLOW_LOOPBACK"] == "true"
