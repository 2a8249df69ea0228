"""The offline stack: moto (in-process), provider sandboxes, Lambda workers and the API front door.

Every table, secret, function and state machine is created from ``template.yaml`` (see
:mod:`local.cfn`); nothing here keeps a second list of them.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import secrets
import sys
import threading
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

from local.cfn import (
    FUNCTION_TYPES,
    STATE_MACHINE_TYPES,
    CfnError,
    Physical,
    Resolver,
    Template,
    default_physical,
    env_name,
    function_config,
    state_machine_config,
)
from local.frontdoor import FrontDoor, Route, api_routes, serve
from local.lambda_runtime import FunctionConfig, LambdaRuntime
from local.sandboxes.faults import FaultInjector

__all__ = ["REGION", "LocalStack", "StartupError"]

APP_NAME = "eid-broker"
REGION = "eu-north-1"
ACCOUNT_ID = DEFAULT_ACCOUNT_ID
HOST = "127.0.0.1"
DEFAULT_API_KEY = "local-dev-key"
DEFAULT_STAGE = "local"

# A test person's example start, shown only while that provider's built-in sandbox is in use.
_EXAMPLES = {
    "dokobit": ("/v1/sessions/dokobit-mobile-id", '{"phone":"+37200000766","personal_code":"60001019906"}'),
}


class StartupError(Exception):
    """The stack cannot start; the message is one line for the operator."""


class _QuietMotoHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _DynamoDBCounter:
    """WSGI middleware in front of moto that counts DynamoDB API calls by operation."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB_"):
            with self._lock:
                self.counts[target.split(".", 1)[-1]] += 1
        return self.app(environ, start_response)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()


@dataclass
class _Sandbox:
    spec: Any
    url: str
    app: Any | None  # None when an environment variable points the broker elsewhere


def registered_sandboxes() -> list[Any]:
    from local import sandboxes

    return list(getattr(sandboxes, "SANDBOXES", []))


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "# the code runs from its CodeUri, see local.lambda_runtime\n")
    return buffer.getvalue()


def short_labels(names: Mapping[str, str]) -> dict[str, str]:
    """Log prefixes: each function name without the ``<app>-<stage>-`` prefix all of them share."""
    split = [name.split("-") for name in names.values()]
    shared = 0
    if len(split) > 1:
        while all(len(parts) > shared + 1 and parts[shared] == split[0][shared] for parts in split):
            shared += 1
    return {key: "-".join(name.split("-")[shared:]) for key, name in names.items()}


class LocalStack:
    def __init__(
        self,
        repo_root: Path,
        *,
        port: int = 3000,
        environ: Mapping[str, str] | None = None,
        sandboxes: list[Any] | None = None,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
    ) -> None:
        self.repo_root = repo_root.resolve()
        self.port = port
        self.environ = dict(os.environ if environ is None else environ)
        # LOCAL_API_KEY may list several comma-separated keys (one owner each); the first is shown.
        keys = [key.strip() for key in (self.environ.get("LOCAL_API_KEY") or "").split(",") if key.strip()]
        self.api_keys = keys or [DEFAULT_API_KEY]
        self.api_key = self.api_keys[0]
        self._sandbox_specs = sandboxes
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._log_lock = threading.Lock()
        self._servers: list[tuple[str, BaseWSGIServer, threading.Thread | None]] = []
        self._sandboxes: list[_Sandbox] = []
        self._runtime: LambdaRuntime | None = None
        self._dynamodb: _DynamoDBCounter | None = None
        self._frontdoor: FrontDoor | None = None
        self._sfn_baseline: dict[str, int] = {}
        self._clients: dict[str, Any] = {}
        self._labels: dict[str, str] = {}
        self._role_arn = ""
        self._secret_notes: list[str] = []
        self.routes: list[Route] = []
        self.functions: dict[str, FunctionConfig] = {}
        self.moto_url = ""
        self.stage = DEFAULT_STAGE

    # logging

    def log(self, label: str, line: str) -> None:
        with self._log_lock:
            print(f"[{label}] {line}", file=self.err, flush=True)

    def say(self, line: str = "") -> None:
        with self._log_lock:
            print(line, file=self.out, flush=True)

    # lifecycle

    def start(self) -> None:
        try:
            template = Template.load(self.repo_root / "template.yaml")
        except CfnError as exc:
            raise StartupError(str(exc)) from exc
        try:
            front = serve(HOST, self.port, self._frontdoor_app)
        except OSError as exc:
            raise StartupError(f"cannot listen on {HOST}:{self.port}: {exc.strerror or exc}") from exc
        self._servers.append(("api", front, None))
        try:
            self._start_moto()
            # Sandboxes that call the broker back (eeID's webhook) need its address.
            os.environ["LOCAL_BROKER_URL"] = f"http://{HOST}:{self.port}"
            self._start_sandboxes()
            self._provision(template)
        except CfnError as exc:
            self.stop()
            raise StartupError(f"template.yaml: {exc}") from exc
        except (BotoCoreError, ClientError, requests.RequestException) as exc:
            self.stop()
            raise StartupError(f"local AWS emulation refused a resource: {exc}") from exc
        except BaseException:
            self.stop()
            raise
        self._reset_counters()
        self._run(front, "api")
        self._banner()

    def _run(self, server: BaseWSGIServer, name: str) -> None:
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=f"{name}-server", daemon=True
        )
        thread.start()
        self._servers = [(n, s, thread if s is server else t) for n, s, t in self._servers]

    def _start_moto(self) -> None:
        self._dynamodb = _DynamoDBCounter(DomainDispatcherApplication(create_backend_app))
        server = serve(HOST, 0, self._dynamodb, _QuietMotoHandler)
        self._servers.append(("moto", server, None))
        self.moto_url = f"http://{HOST}:{server.port}"
        # moto's Step Functions interpreter calls back to http://localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(server.port)
        self._run(server, "moto")
        answer = requests.post(
            f"{self.moto_url}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=10,
        )
        answer.raise_for_status()

    def _start_sandboxes(self) -> None:
        specs = registered_sandboxes() if self._sandbox_specs is None else self._sandbox_specs
        mounts: dict[str, Any] = {}
        pending: list[_Sandbox] = []
        for spec in specs:
            external = self.environ.get(env_name(spec.base_url_parameter))
            if external:
                self._sandboxes.append(_Sandbox(spec, external, None))
                continue
            app = self._make_sandbox_app(spec)
            mounts[f"/{spec.provider}"] = app
            pending.append(_Sandbox(spec, "", app))
        if not mounts:
            return
        server = serve(HOST, 0, DispatcherMiddleware(NotFound(), mounts), _QuietHandler)
        self._servers.append(("sandboxes", server, None))
        for sandbox in pending:
            sandbox.url = f"http://{HOST}:{server.port}/{sandbox.spec.provider}"
            self._sandboxes.append(sandbox)
        self._run(server, "sandboxes")

    def _make_sandbox_app(self, spec: Any) -> Any:
        credentials = self._credentials(spec)[0]
        try:
            parameters = inspect.signature(spec.factory).parameters
        except (TypeError, ValueError):
            parameters = {}
        accepts_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        # A sandbox must accept the credentials the secret holds (env overrides included), if it can.
        usable = {k: v for k, v in credentials.items() if accepts_all or k in parameters}
        app = spec.factory(**usable)
        if hasattr(app, "faults"):
            # Each sandbox draws its own seeded sequence, so one provider's traffic does not shift another's.
            seeded = {
                **self.environ,
                "SANDBOX_FAULT_SEED": f"{self.environ.get('SANDBOX_FAULT_SEED', '0')}{spec.provider}",
            }
            app.faults = FaultInjector.from_env(seeded)
        return app

    def _credentials(self, spec: Any) -> tuple[dict[str, str], set[str]]:
        values: dict[str, str] = {}
        from_env: set[str] = set()
        for key, default in spec.credentials.items():
            variable = f"{spec.provider}_{key}".upper().replace("-", "_")
            if variable in self.environ:
                values[key] = self.environ[variable]
                from_env.add(key)
            else:
                values[key] = default
        return values, from_env

    # provisioning from the template

    def _provision(self, template: Template) -> None:
        overrides: dict[str, str] = {"Stage": DEFAULT_STAGE}
        for sandbox in self._sandboxes:
            if sandbox.app is not None:
                overrides[sandbox.spec.base_url_parameter] = sandbox.url
        parameters = template.parameter_values(self.environ, overrides)
        self.stage = parameters.get("Stage", DEFAULT_STAGE)

        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        longest = max(
            [int(r["Properties"].get("Timeout", 3) or 3) for _, r in template.of_type(*FUNCTION_TYPES)] + [3]
        )
        config = Config(retries={"total_max_attempts": 1}, read_timeout=longest + 30)

        def client(service: str) -> Any:
            return session.client(service, endpoint_url=self.moto_url, config=config)  # type: ignore[call-overload]

        self._clients = {
            s: client(s) for s in ("dynamodb", "secretsmanager", "lambda", "stepfunctions", "iam")
        }
        role = self._clients["iam"].create_role(
            RoleName=f"{APP_NAME}-{self.stage}-local-role",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        self._role_arn = role

        self._runtime = LambdaRuntime(self.repo_root, endpoint_url=self.moto_url, region=REGION, log=self.log)
        self._runtime.install()

        resolver = Resolver(
            template,
            parameters,
            region=REGION,
            account_id=ACCOUNT_ID,
            stack_name=f"{APP_NAME}-{self.stage}",
            provision=self._create,
        )
        self._labels = short_labels(
            {
                lid: str(resolver.resolve(r["Properties"].get("FunctionName") or lid))
                for lid, r in template.of_type("AWS::Serverless::Function")
            }
        )
        for logical_id in template.resources:
            resolver.physical(logical_id)
        self.routes = api_routes(resolver)
        self._frontdoor = FrontDoor(
            self.routes,
            invoke=self._invoke,
            api_key=self.api_keys,
            account_id=ACCOUNT_ID,
            admin={"GET /_local/stats": self.stats, "POST /_local/reset": self.reset},
            log=lambda line: self.log("api", line),
        )

    def _create(self, resolver: Resolver, logical_id: str, resource: dict[str, Any]) -> Physical:
        rtype = resource["Type"]
        if rtype == "AWS::DynamoDB::Table":
            return self._create_table(resolver, logical_id, resource)
        if rtype == "AWS::SecretsManager::Secret":
            return self._create_secret(resolver, logical_id, resource)
        if rtype == "AWS::Serverless::Function":
            return self._create_function(resolver, logical_id)
        if rtype in STATE_MACHINE_TYPES:
            return self._create_state_machine(resolver, logical_id)
        return default_physical(resolver, logical_id, resource)

    def _create_table(self, resolver: Resolver, logical_id: str, resource: dict[str, Any]) -> Physical:
        physical = default_physical(resolver, logical_id, resource)
        props = resolver.resolve(resource["Properties"])
        billing = props.get("BillingMode", "PROVISIONED")

        def throughput(spec: Mapping[str, Any] | None) -> dict[str, int]:
            spec = spec or {}
            return {
                "ReadCapacityUnits": int(spec.get("ReadCapacityUnits", 5)),
                "WriteCapacityUnits": int(spec.get("WriteCapacityUnits", 5)),
            }

        kwargs: dict[str, Any] = {
            "TableName": physical.ref,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": billing,
        }
        if billing == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = throughput(props.get("ProvisionedThroughput"))
        gsis = []
        for index in props.get("GlobalSecondaryIndexes") or []:
            gsi = {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
            if billing == "PROVISIONED":
                gsi["ProvisionedThroughput"] = throughput(index.get("ProvisionedThroughput"))
            gsis.append(gsi)
        if gsis:
            kwargs["GlobalSecondaryIndexes"] = gsis
        lsis = [
            {k: i[k] for k in ("IndexName", "KeySchema", "Projection")}
            for i in props.get("LocalSecondaryIndexes") or []
        ]
        if lsis:
            kwargs["LocalSecondaryIndexes"] = lsis
        stream = props.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        description = self._clients["dynamodb"].create_table(**kwargs)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled")).lower() == "true":
            self._clients["dynamodb"].update_time_to_live(
                TableName=physical.ref,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        arn = description["TableArn"]
        return Physical(physical.ref, {"Arn": arn, "StreamArn": description.get("LatestStreamArn", "")})

    def _create_secret(self, resolver: Resolver, logical_id: str, resource: dict[str, Any]) -> Physical:
        props = resource["Properties"]
        name = str(resolver.resolve(props.get("Name") or f"{resolver.stack_name}-{logical_id}"))
        provider = name.rstrip("/").rsplit("/", 1)[-1]
        spec = next((s for s in self._all_specs() if s.provider == provider), None)
        if spec is not None:
            value, from_env = self._credentials(spec)
        elif "SecretString" in props:
            value, from_env = {"SecretString": resolver.resolve(props["SecretString"])}, set()
        else:
            generate = resolver.resolve(props.get("GenerateSecretString") or {})
            value = json.loads(generate.get("SecretStringTemplate") or "{}")
            from_env = set()
            key = generate.get("GenerateStringKey")
            if key:
                variable = f"{provider}_{key}".upper().replace("-", "_")
                if variable in self.environ:
                    value[key], from_env = self.environ[variable], {key}
                else:
                    value[key] = secrets.token_urlsafe(24)
        text = value["SecretString"] if set(value) == {"SecretString"} else json.dumps(value)
        arn = self._clients["secretsmanager"].create_secret(Name=name, SecretString=text)["ARN"]
        # API.md: the built-in eeID sandbox's webhook secret is shown (for signing test webhooks);
        # nothing that came from the environment ever is.
        printable = set(getattr(spec, "printable", ()))
        for key in sorted(value):
            variable = f"{provider}_{key}".upper().replace("-", "_")
            if key in from_env:
                shown = "(from the environment)"
            elif key in printable and value[key]:
                shown = value[key]
            else:
                shown = "(built-in sandbox default)"
            self._secret_notes.append(f"{name}: {key} = {shown}   [{variable}]")
        return Physical(arn, {"Id": arn})

    def _all_specs(self) -> list[Any]:
        return [s.spec for s in self._sandboxes]

    def _create_function(self, resolver: Resolver, logical_id: str) -> Physical:
        config = function_config(resolver, logical_id)
        config = replace(config, label=self._labels.get(logical_id, config.name))
        self.functions[logical_id] = config
        assert self._runtime is not None
        self._runtime.register(config)
        answer = self._clients["lambda"].create_function(
            FunctionName=config.name,
            Runtime=config.runtime,
            Role=self._role_arn,
            Handler=config.handler,
            Code={"ZipFile": _dummy_zip()},
            Timeout=config.timeout,
            MemorySize=config.memory_size,
            Environment={"Variables": config.environment},
        )
        return Physical(config.name, {"Arn": answer["FunctionArn"]})

    def _create_state_machine(self, resolver: Resolver, logical_id: str) -> Physical:
        config = state_machine_config(resolver, logical_id)
        answer = self._clients["stepfunctions"].create_state_machine(
            name=config.name, definition=config.definition, roleArn=self._role_arn, type=config.type
        )
        arn = answer["stateMachineArn"]
        return Physical(arn, {"Arn": arn, "Name": config.name})

    # the front door's view of Lambda

    def _frontdoor_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self._frontdoor is None:
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"message": "starting"}']
        return self._frontdoor(environ, start_response)

    def _invoke(self, function_name: str, payload: bytes) -> tuple[bytes, str | None]:
        answer = self._clients["lambda"].invoke(FunctionName=function_name, Payload=payload)
        return answer["Payload"].read(), answer.get("FunctionError")

    # counters

    def _executions(self) -> list[tuple[str, int]]:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        backend = stepfunctions_parser_backends[ACCOUNT_ID][REGION]
        found = []
        for machine in list(backend.state_machines):
            for execution in list(machine.executions):
                try:
                    events = execution.to_history_output()["events"]
                except Exception:  # noqa: BLE001 - an execution that is just starting has no history yet
                    events = []
                entered = sum(1 for e in events if str(e.get("type", "")).endswith("StateEntered"))
                found.append((execution.exec_arn, entered))
        return found

    def stats(self) -> dict[str, Any]:
        executions = transitions = 0
        for arn, entered in self._executions():
            baseline = self._sfn_baseline.get(arn)
            executions += int(baseline is None)
            transitions += entered - (baseline or 0)
        sandboxes = {}
        for sandbox in self._sandboxes:
            if sandbox.app is not None and hasattr(sandbox.app, "stats"):
                sandboxes[sandbox.spec.provider] = sandbox.app.stats()
        return {
            "lambda": self._runtime.stats() if self._runtime else {},
            "dynamodb_requests": self._dynamodb.snapshot() if self._dynamodb else {},
            "stepfunctions": {"executions": executions, "state_transitions": transitions},
            "sandboxes": sandboxes,
        }

    def _reset_counters(self) -> None:
        if self._runtime:
            self._runtime.reset()
        if self._dynamodb:
            self._dynamodb.reset()
        self._sfn_baseline = dict(self._executions())

    def reset(self) -> dict[str, Any]:
        self._reset_counters()
        for sandbox in self._sandboxes:
            if sandbox.app is not None and hasattr(sandbox.app, "reset"):
                sandbox.app.reset()
        return {"reset": True}

    # console

    def _banner(self) -> None:
        url = f"http://{HOST}:{self.port}"
        say = self.say
        say(
            f"{APP_NAME} local stack: stage {self.stage}, region {REGION},"
            f" AWS emulated by moto at {self.moto_url}"
        )
        say(f"  API          {url}")
        say(f"  API key      x-api-key: {self.api_key}")
        for route in self.routes:
            key = "" if route.api_key_required else "  (no key)"
            say(f"  route        {route.method:<6} {route.path}  ->  {route.function_name}{key}")
        for sandbox in self._sandboxes:
            where = (
                "built in" if sandbox.app is not None else f"from {env_name(sandbox.spec.base_url_parameter)}"
            )
            say(f"  sandbox      {sandbox.spec.provider:<10} {sandbox.url}  ({where})")
        for note in self._secret_notes:
            say(f"  secret       {note}")
        say(f"  stats        curl -s {url}/_local/stats   (reset: curl -s -X POST {url}/_local/reset)")
        built_in = {sandbox.spec.provider for sandbox in self._sandboxes if sandbox.app is not None}
        for provider, (path, body) in _EXAMPLES.items():
            if provider in built_in and any(route.path == path for route in self.routes):
                say(
                    f"  try          curl -s -X POST {url}{path} -H 'x-api-key: {self.api_key}' "
                    f"-H 'content-type: application/json' -d '{body}'"
                )
        say(f"{APP_NAME} is ready on {url}")

    def stop(self) -> None:
        """Stop serving, end every worker process, stop moto and the sandboxes. Idempotent."""
        servers, self._servers = self._servers, []
        servers.sort(key=lambda item: item[0] != "api")  # no new requests first
        for index, (_, server, thread) in enumerate(servers):
            if index == 1 and self._runtime is not None:
                self._runtime.shutdown()
            if thread is not None:
                server.shutdown()
                thread.join(timeout=5)
            server.server_close()
        if self._runtime is not None:
            self._runtime.shutdown()
            self._runtime.uninstall()
