"""The real template and ASL on moto (`mock_aws`), moto's Step Functions interpreter running the
state machine, and Lambda invocations served in-process by the functions' own handlers."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction

from eid_broker import config
from local.emulator.atomic import atomic_items
from local.emulator.cfn import Resolver, Template, function_config
from local.emulator.lambda_runtime import offline_aws_env
from local.emulator.provision import LOCAL_ONLY_VALUES, SERVICES, local_parameters, provision
from local.sandboxes import CREDENTIALS, SANDBOXES
from tests import wiring
from tests.conftest import SANDBOX_APPS, Served, serve

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


class _Swap:
    """A sandbox's loopback server lives for the module; each test plugs in a fresh sandbox app."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


class _Module:
    """One module's provisioned stack: sandboxes served, the template in moto, every handler loaded."""

    def __init__(self, deployed: Deployed, urls: dict[str, str], swaps: dict[str, _Swap]) -> None:
        self.deployed = deployed
        self.urls = urls
        self.swaps = swaps
        self.settings = dict(deployed.settings)  # as provisioned: a test may change its copy

    def plug(self, provider: str, app: Any) -> Served:
        self.swaps[provider].app = app
        served = Served.__new__(Served)
        served.app, served.url = app, self.urls[provider]
        return served

    def clean(self) -> None:
        """What a test leaves behind goes: running executions, items, queued messages."""
        resolver, sfn = self.deployed.resolver, self.deployed.sfn
        for logical_id, _ in resolver.template.of_type("AWS::Serverless::StateMachine"):
            arn = resolver.physical(logical_id).ref
            for execution in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
                with contextlib.suppress(Exception):  # it may have ended meanwhile; moto then raises
                    sfn.stop_execution(executionArn=execution["executionArn"])
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for logical_id, _ in resolver.template.of_type("AWS::DynamoDB::Table"):
            table = resolver.physical(logical_id).ref
            keys = [
                k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
            ]
            for page in dynamodb.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    dynamodb.delete_item(TableName=table, Key={k: item[k] for k in keys})
        sqs = boto3.client("sqs", region_name=REGION)
        for logical_id, _ in resolver.template.of_type("AWS::SQS::Queue"):
            url = resolver.physical(logical_id).ref  # moto allows one PurgeQueue a minute: drain it instead
            while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
                for message in messages:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _load(code_dir: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"_it_{name}", code_dir / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def _module() -> Iterator[_Module]:
    """Provisioned once per test module, by the same code path as `make run` (local.emulator.provision)."""
    with contextlib.ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        for key, value in offline_aws_env(REGION).items():
            patch.setenv(key, value)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        swaps = {spec.provider: _Swap() for spec in SANDBOXES}
        urls = {}
        for spec in SANDBOXES:
            served = serve(swaps[spec.provider])
            urls[spec.provider] = next(served).url
            stack.callback(next, served, None)
        template = Template.load(ROOT / "template.yaml")
        # Tests reuse the sandboxes' few test persons; the person limit has its own tests. The template
        # allows no 0 (a deployed stage always limits), so it is turned off as the local stack does.
        parameters, local_only = local_parameters(
            template,
            LOCAL_ONLY_VALUES,
            {
                "Stage": "it",
                **{spec.base_url_parameter: urls[spec.provider] for spec in SANDBOXES},
                "PollIntervalSeconds": "1",
                "SessionTimeoutSeconds": "4",
            },
        )
        stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        clients = {service: boto3.client(service, region_name=REGION) for service in SERVICES}
        resolver, provisioner = provision(
            template,
            parameters,
            clients,
            stack_name="eid-broker-it",
            region=REGION,
            account_id=ACCOUNT,
            secret_value=lambda name, generate: SECRETS[name.rsplit("/", 1)[-1]],
            local_environment=local_only,
        )
        deployed = Deployed(resolver)
        # One process hosts every function: each invocation sees its own function's settings.
        for function in provisioner.functions.values():
            deployed.settings[function.name] = config.Settings.from_env(function.environment)
            deployed.handlers[function.name] = _load(function.code_dir, function.name)
        patch.setattr(config, "process_settings", lambda: deployed.settings[_current.function])

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

        patch.setattr(LambdaFunction, "_invoke_lambda", invoke)
        atomic_items(patch.setattr)
        module = _Module(deployed, urls, swaps)
        yield module
        module.clean()  # week-long eeID fallback loops would outlive the module: stop what still runs


def _sandbox_fixture(provider: str) -> Any:
    """The test's own sandbox of that provider: a fresh app behind the module's loopback server."""

    @pytest.fixture(name=provider)
    def fixture(_module: _Module) -> Served:
        return _module.plug(provider, SANDBOX_APPS[provider]())

    return fixture


dokobit, marksign, eeid, mobbid, mosip = (_sandbox_fixture(name) for name in SANDBOX_APPS)


@pytest.fixture
def deployed(request: pytest.FixtureRequest, _module: _Module) -> Iterator[Deployed]:
    """The module's stack, with fresh sandboxes, the provisioned settings and nothing left by another test."""
    for spec in SANDBOXES:
        if spec.provider in SANDBOX_APPS:  # as the tests configure it (faster than `make run`'s defaults)
            request.getfixturevalue(spec.provider)
        else:
            _module.plug(spec.provider, spec.factory(**spec.credentials))
    _module.deployed.settings.update(_module.settings)
    yield _module.deployed
    _module.clean()
