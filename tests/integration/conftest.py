"""The real template and ASL on moto (`mock_aws`), moto's Step Functions interpreter running the
state machine, and Lambda invocations served in-process by the functions' own handlers."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction

from eid_broker import config
from local.emulator.atomic import atomic_items
from local.emulator.cfn import (
    Physical,
    Resolver,
    Template,
    default_physical,
    function_config,
    state_machine_config,
)
from local.sandboxes import CREDENTIALS, SANDBOXES, SandboxSpec
from tests import wiring
from tests.conftest import serve

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-north-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/eid-broker-it"
# The sandboxes' credentials, as `make run` seeds each provider's secret, plus the deployment key.
SECRETS = {**CREDENTIALS, "broker-key": {"hmac_key": "it-deployment-hmac-key"}}
START_FUNCTIONS = wiring.start_functions()
_current = threading.local()  # which function's handler runs on this thread


class Deployed:
    """What the tests need of the provisioned template."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.handlers: dict[str, Any] = {}
        self.settings: dict[str, config.Settings] = {}
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.state_machine_arn = resolver.physical("SessionPollStateMachine").ref

    def handler(self, logical_id: str) -> Any:
        _current.function = function_config(self.resolver, logical_id).name
        return self.handlers[_current.function]

    def api(
        self,
        logical_id: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        key_id: str | None = "it-key-id",
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        raw: str | None = None,
        **path_params: str,
    ) -> dict:
        event = {
            "resource": path,
            "path": path.format(**path_params),
            "httpMethod": method,
            "headers": {"Content-Type": "application/json", **(headers or {})},
            "multiValueHeaders": {
                "Content-Type": ["application/json"],
                **{k: [v] for k, v in (headers or {}).items()},
            },
            "queryStringParameters": query,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": path,
                "httpMethod": method,
                "stage": "it",
                "requestId": "it-request",
                "identity": {
                    "sourceIp": "127.0.0.1",
                    **({"apiKeyId": key_id, "apiKey": f"key-of-{key_id}"} if key_id else {}),
                },
            },
            "body": raw if raw is not None else json.dumps(body) if body is not None else None,
            "isBase64Encoded": False,
        }
        response = self.handler(logical_id).lambda_handler(event, _Context(logical_id))
        return {"status": response["statusCode"], "body": json.loads(response["body"])}

    def start(self, body: dict, method: str = "dokobit-mobile-id", **kwargs: Any) -> dict:
        return self.api(START_FUNCTIONS[method], "POST", f"/v1/sessions/{method}", body, **kwargs)

    def webhook(self, body: bytes, signature: str | None) -> dict:
        """eeID's delivery, as API Gateway hands it to the webhook function."""
        event = {
            "resource": "/eeid/webhooks/identification_requests",
            "path": "/eeid/webhooks/identification_requests",
            "httpMethod": "POST",
            "headers": {
                "Content-Type": "application/json",
                **({"X-HMAC-Signature": signature} if signature else {}),
            },
            "multiValueHeaders": {},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": "/eeid/webhooks/identification_requests",
                "httpMethod": "POST",
                "stage": "it",
                "requestId": "it-webhook",
                "identity": {"sourceIp": "127.0.0.1"},
            },
            "body": body.decode(),
            "isBase64Encoded": False,
        }
        response = self.handler("EeidWebhookFunction").lambda_handler(event, _Context("EeidWebhookFunction"))
        return {"status": response["statusCode"], "body": response.get("body")}

    def session(self, session_id: str) -> dict:
        answer = self.api("SessionGetFunction", "GET", "/v1/sessions/{session_id}", session_id=session_id)
        return answer["body"]

    def execution(
        self, session_id: str, timeout: float = 30, machine: str = "SessionPollStateMachine"
    ) -> dict:
        machine_arn = self.resolver.physical(machine).ref
        arn = f"{machine_arn.replace(':stateMachine:', ':execution:')}:{session_id}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = self.sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                events = self.sfn.get_execution_history(executionArn=arn)["events"]
                return {**described, "events": events}
            time.sleep(0.1)
        raise AssertionError("execution still running")


class _Context:
    def __init__(self, name: str) -> None:
        self.function_name = name
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        self.aws_request_id = "it-request"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "")
    return buffer.getvalue()


def _provision(resolver: Resolver, logical_id: str, resource: dict[str, Any]) -> Physical:
    kind, props = resource["Type"], resolver.resolve(resource.get("Properties") or {})
    if kind == "AWS::DynamoDB::Table":
        default = default_physical(resolver, logical_id, resource)
        keys = {
            k: props[k]
            for k in ("KeySchema", "AttributeDefinitions", "BillingMode", "GlobalSecondaryIndexes")
            if k in props
        }
        arn = boto3.client("dynamodb", region_name=REGION).create_table(TableName=default.ref, **keys)
        # No stream here: these tests call the functions themselves (the e2e suite runs the stream).
        return Physical(default.ref, {**default.attrs, "Arn": arn["TableDescription"]["TableArn"]})
    if kind == "AWS::SecretsManager::Secret":
        secret = json.dumps(SECRETS[props["Name"].rsplit("/", 1)[-1]])
        arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name=props["Name"], SecretString=secret
        )
        return Physical(arn["ARN"], {"Id": arn["ARN"]})
    if kind == "AWS::Serverless::Function":
        config = function_config(resolver, logical_id)
        created = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName=config.name,
            Runtime=config.runtime,
            Role=ROLE,
            Handler=config.handler,
            Code={"ZipFile": _zip()},
        )
        return Physical(config.name, {"Arn": created["FunctionArn"]})
    if kind == "AWS::Serverless::StateMachine":
        config = state_machine_config(resolver, logical_id)
        arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name=config.name, definition=config.definition, roleArn=ROLE, type=config.type
        )["stateMachineArn"]
        return Physical(arn, {"Arn": arn, "Name": config.name})
    return default_physical(resolver, logical_id, resource)


def _load(code_dir: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"_it_{name}", code_dir / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sandbox_url(request: pytest.FixtureRequest, spec: SandboxSpec) -> str:
    """The provider's sandbox: the test's own fixture of that name if there is one, else the default."""
    try:
        return request.getfixturevalue(spec.provider).url
    except pytest.FixtureLookupError:
        served = serve(spec.factory(**spec.credentials))
        request.addfinalizer(lambda: next(served, None))
        return next(served).url


@pytest.fixture
def deployed(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    template = Template.load(ROOT / "template.yaml")
    parameters = template.parameter_values(
        {},
        {
            "Stage": "it",
            **{spec.base_url_parameter: _sandbox_url(request, spec) for spec in SANDBOXES},
            "PollIntervalSeconds": "1",
            "SessionTimeoutSeconds": "4",
            # Tests reuse the sandboxes' few test persons; the person limit has its own tests.
            "PersonStartLimit": "0",
        },
    )
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        boto3.client("iam", region_name=REGION).create_role(
            RoleName="eid-broker-it", AssumeRolePolicyDocument="{}"
        )
        resolver = Resolver(
            template,
            parameters,
            region=REGION,
            account_id=ACCOUNT,
            stack_name="eid-broker-it",
            provision=_provision,
        )
        for logical_id in template.resources:
            resolver.physical(logical_id)
        deployed = Deployed(resolver)
        # One process hosts every function: each invocation sees its own function's settings.
        for logical_id, _ in template.of_type("AWS::Serverless::Function"):
            function = function_config(resolver, logical_id)
            deployed.settings[function.name] = config.Settings.from_env(function.environment)
            deployed.handlers[function.name] = _load(function.code_dir, function.name)
        monkeypatch.setattr(config, "process_settings", lambda: deployed.settings[_current.function])

        def invoke(function: Any, event: Any = None) -> tuple[str, bool, str]:
            payload = json.loads(event) if isinstance(event, (str, bytes)) else event
            _current.function = function.function_name
            try:
                answer = deployed.handlers[function.function_name].lambda_handler(
                    payload, _Context(function.function_name)
                )
            except Exception as exc:  # noqa: BLE001 - becomes Lambda's error payload, as in AWS
                return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), True, ""
            return json.dumps(answer), False, ""

        monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke)
        atomic_items(monkeypatch.setattr)
        yield deployed
        # Week-long eeID fallback loops would outlive the test: stop what still runs.
        for machine in ("SessionPollStateMachine", "EeidFallbackStateMachine"):
            arn = resolver.physical(machine).ref
            for execution in deployed.sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")[
                "executions"
            ]:
                with contextlib.suppress(Exception):  # it may have ended meanwhile; moto then raises
                    deployed.sfn.stop_execution(executionArn=execution["executionArn"])
