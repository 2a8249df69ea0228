"""The offline stack: moto (in-process), provider sandboxes, Lambda workers and the API front door,
every table, secret, function and state machine created from ``template.yaml`` (:mod:`local.emulator.cfn`)."""

from __future__ import annotations

import inspect
import io
import json
import os
import re
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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

from local import demo
from local.emulator.atomic import atomic_items
from local.emulator.cfn import CfnError, Template, env_name
from local.emulator.event_sources import EventSources, mappings
from local.emulator.frontdoor import FrontDoor, QuietHandler, Route, api_routes, serve
from local.emulator.lambda_runtime import (
    MAX_WORKERS_PER_FUNCTION,
    FunctionConfig,
    LambdaRuntime,
    offline_aws_env,
)
from local.emulator.provision import SERVICES, generated_secret, local_parameters, provision
from local.sandboxes import SANDBOXES
from local.sandboxes.faults import FaultInjector

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


def isolate_from_aws() -> None:
    """Nothing in this process may reach real AWS, whatever the developer's shell holds."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(offline_aws_env(REGION))


class _QuietMotoHandler(QuietHandler, MotoRequestHandler):
    pass


@dataclass
class _Sandbox:
    spec: Any  # a local.sandboxes.SandboxSpec
    url: str
    app: Any | None  # None when an environment variable points the broker elsewhere


def _variable(provider: str, key: str) -> str:
    """The variable that overrides a secret's key: ``eeid``, ``client_id`` -> ``EEID_CLIENT_ID``."""
    return f"{provider}_{key}".upper().replace("-", "_")


# What only the local stack sets, never the template: webhooks may go to a receiver on this machine.
LOCAL_ONLY_ENVIRONMENT = {"WEBHOOK_ALLOW_LOOPBACK": "true"}

# Who made an AWS call: a function (its workers set AWS_SDK_UA_APP_ID), the stack itself (provisioning,
# the event source pollers, which are AWS's side of a mapping) or anyone else (the bench, a test).
STACK_CALLER = "local-stack"
_APP_ID = re.compile(r"\bapp/(\S+)")
_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
_KEYED = _WRITES | {"GetItem"}


def _service(prefix: str) -> str:
    """An X-Amz-Target's service: ``DynamoDB_20120810`` -> ``dynamodb``, ``AmazonSQS`` -> ``sqs``."""
    return prefix.split("_", 1)[0].lower().removeprefix("amazon").removeprefix("aws")


class LocalStack:
    def __init__(
        self,
        repo_root: Path,
        *,
        port: int = 3000,
        environ: Mapping[str, str] | None = None,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
    ) -> None:
        self.repo_root = repo_root.resolve()
        self.port = port
        self.environ = dict(os.environ if environ is None else environ)
        # LOCAL_API_KEY may list several comma-separated keys (one owner each); the banner shows the first.
        keys = [key.strip() for key in (self.environ.get("LOCAL_API_KEY") or "").split(",") if key.strip()]
        self.api_keys = keys or [DEFAULT_API_KEY]
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self._lock = threading.Lock()
        self._servers: list[tuple[BaseWSGIServer, threading.Thread]] = []  # the front door first
        self._sandboxes: list[_Sandbox] = []
        self._runtime: LambdaRuntime | None = None
        self._event_sources: EventSources | None = None
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._dynamodb: Counter[str] = Counter()  # DynamoDB API calls by operation
        self._aws: Counter[tuple[str, str, str, str]] = Counter()  # (caller, service, operation, table)
        self._keys: Counter[tuple[str, str, str]] = Counter()  # (table, partition key, read | write)
        self._written: dict[tuple[str, str], float] = {}  # (table, partition key) -> last write's time
        self._hash_keys: dict[str, str] = {}  # table -> its partition key attribute
        self._api_requests = 0
        self._counting = threading.Lock()  # not the console's lock: a slow reader must not stall moto
        self._frontdoor: FrontDoor | None = None
        self._demo: demo.DemoApp | None = None
        self._sfn_baseline: dict[str, int] = {}
        self._clients: dict[str, Any] = {}
        self._secret_notes: list[str] = []
        self._mapped_queues: list[str] = []  # the queues an event source mapping reads
        self.routes: list[Route] = []
        self.moto_url = ""
        self.stage = DEFAULT_STAGE

    def log(self, label: str, line: str) -> None:
        with self._lock:
            print(f"[{label}] {line}", file=self.err, flush=True)

    def say(self, line: str) -> None:
        with self._lock:
            print(line, file=self.out, flush=True)

    def start(self) -> None:
        try:  # first, so that a taken port fails before anything starts
            self.port = self._serve(self.port, self._app).port  # port 0: any free one
        except OSError as exc:
            raise StartupError(f"cannot listen on {HOST}:{self.port}: {exc.strerror or exc}") from exc
        try:
            template = Template.load(self.repo_root / "template.yaml")
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
        self.reset_counters()
        self._banner()

    def _serve(self, port: int, app: Callable[..., Any], **kw: type[WSGIRequestHandler]) -> BaseWSGIServer:
        server = serve(HOST, port, app, **kw)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        thread.start()
        self._servers.append((server, thread))
        return server

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self._demo is not None and demo.is_demo_path(environ.get("PATH_INFO", "")):
            return self._demo(environ, start_response)  # the demo page: local only, never deployed
        if not str(environ.get("PATH_INFO", "")).startswith("/_local/"):
            with self._counting:
                self._api_requests += 1
        if self._frontdoor is None:
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"message": "starting"}']
        return self._frontdoor(environ, start_response)

    def _count_aws(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Count each JSON-protocol AWS call by caller, operation and table (and DynamoDB's by partition
        key, with the time of the last successful write to each), then let moto answer it."""
        prefix, _, operation = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
        if not operation:
            return self._moto(environ, start_response)
        service, found = _service(prefix), _APP_ID.search(environ.get("HTTP_USER_AGENT", ""))
        table = key = ""
        if service == "dynamodb":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            request = json.loads(body or b"{}")
            table = str(request.get("TableName", ""))
            if operation in _KEYED:
                item = request.get("Key") or request.get("Item") or {}
                key = str(next(iter((item.get(self._hash_keys.get(table, "")) or {"": ""}).values())))
        with self._counting:
            if service == "dynamodb":
                self._dynamodb[operation] += 1
            self._aws[(found.group(1) if found else "", service, operation, table)] += 1
            if key:
                self._keys[(table, key, "write" if operation in _WRITES else "read")] += 1
        if not key or operation not in _WRITES:
            return self._moto(environ, start_response)

        def started(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("200"):  # a write whose condition failed answers 400
                with self._counting:
                    self._written[(table, key)] = time.time()
            return start_response(status, headers, exc_info)

        return self._moto(environ, started)

    def _start_moto(self) -> None:
        atomic_items()
        server = self._serve(0, self._count_aws, handler=_QuietMotoHandler)
        self.moto_url = f"http://{HOST}:{server.port}"
        os.environ["MOTO_PORT"] = str(server.port)  # moto's Step Functions interpreter calls back there
        config = {"stepfunctions": {"execute_state_machine": True}}
        requests.post(f"{self.moto_url}/moto-api/config", json=config, timeout=10).raise_for_status()

    def _start_sandboxes(self) -> None:
        mounts: dict[str, Any] = {}
        for spec in SANDBOXES:
            external = self.environ.get(env_name(spec.base_url_parameter))
            sandbox = _Sandbox(spec, external or "", None if external else self._sandbox_app(spec))
            self._sandboxes.append(sandbox)
            if sandbox.app is not None:
                mounts[f"/{spec.provider}"] = sandbox.app
        self._demo = demo.DemoApp({s.spec.provider for s in self._sandboxes if s.app is not None})
        if mounts:
            server = self._serve(0, DispatcherMiddleware(NotFound(), mounts), handler=QuietHandler)
            for sandbox in self._sandboxes:
                if sandbox.app is not None:
                    sandbox.url = f"http://{HOST}:{server.port}/{sandbox.spec.provider}"

    def _sandbox_app(self, spec: Any) -> Any:
        # A sandbox accepts the credentials the secret holds (env overrides included) that it names.
        parameters = inspect.signature(spec.factory).parameters
        app = spec.factory(**{k: v for k, v in self._credentials(spec)[0].items() if k in parameters})
        if hasattr(app, "faults"):
            # Each sandbox draws its own seeded sequence, so one provider's traffic does not shift another's.
            seed = f"{self.environ.get('SANDBOX_FAULT_SEED', '0')}{spec.provider}"
            app.faults = FaultInjector.from_env({**self.environ, "SANDBOX_FAULT_SEED": seed})
        return app

    def _credentials(self, spec: Any) -> tuple[dict[str, str], set[str]]:
        """The secret's value: each key from its environment variable, else the sandbox default."""
        from_env = {key for key in spec.credentials if _variable(spec.provider, key) in self.environ}
        values = {
            key: self.environ[_variable(spec.provider, key)] if key in from_env else default
            for key, default in spec.credentials.items()
        }
        return values, from_env

    def _provision(self, template: Template) -> None:
        # The OpenID Provider's issuer is this stack's own address (OIDC_ISSUER overrides it).
        overrides = {"Stage": DEFAULT_STAGE, "OidcIssuer": f"http://{HOST}:{self.port}"}
        overrides.update({s.spec.base_url_parameter: s.url for s in self._sandboxes if s.app is not None})
        parameters, local_only = local_parameters(template, self.environ, overrides)
        self.stage = parameters["Stage"]
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        functions = template.of_type("AWS::Serverless::Function")
        longest = max(int(resource["Properties"].get("Timeout", 3)) for _, resource in functions)
        config = Config(
            retries={"total_max_attempts": 1}, read_timeout=longest + 30, user_agent_appid=STACK_CALLER
        )
        for service in SERVICES:
            self._clients[service] = session.client(service, endpoint_url=self.moto_url, config=config)
        self._runtime = LambdaRuntime(self.repo_root, endpoint_url=self.moto_url, region=REGION, log=self.log)
        self._runtime.install()
        resolver, provisioner = provision(
            template,
            parameters,
            self._clients,
            stack_name=f"{APP_NAME}-{self.stage}",
            region=REGION,
            account_id=ACCOUNT_ID,
            secret_value=self._secret_value,
            local_environment={**LOCAL_ONLY_ENVIRONMENT, **local_only},
            on_function=self._register,
        )
        self._hash_keys = provisioner.hash_keys
        self.routes = api_routes(resolver)
        self._event_sources = EventSources(
            self._clients,
            self._runtime.invoke,
            lambda line: self.log("events", line),
            region=REGION,
            workers=MAX_WORKERS_PER_FUNCTION,
        )
        schedule = os.environ.get("LOCAL_SCHEDULE_SECONDS")
        found = mappings(resolver, self._queue_url, float(schedule) if schedule else None)
        self._mapped_queues = [mapping.queue_url for mapping in found if mapping.queue_url]
        self._event_sources.start(found)
        self._frontdoor = FrontDoor(
            self.routes,
            invoke=self._invoke,
            api_key=self.api_keys,
            account_id=ACCOUNT_ID,
            admin={
                "GET /_local/stats": self.stats,
                "GET /_local/progress": self.progress,
                "POST /_local/reset": self.reset,
            },
            log=lambda line: self.log("api", line),
        )

    def _register(self, function: FunctionConfig) -> FunctionConfig:
        """A function runs in this stack's workers."""
        assert self._runtime is not None
        self._runtime.register(function)
        return function

    def _secret_value(self, name: str, generate: dict[str, Any] | None) -> dict[str, str]:
        provider = name.rsplit("/", 1)[-1]
        spec = next((s.spec for s in self._sandboxes if s.spec.provider == provider), None)
        if spec is not None:
            value, from_env = self._credentials(spec)
        else:  # the broker's own key: generated, as GenerateSecretString does, unless the environment has one
            assert generate is not None, f"secret {name} has neither a sandbox nor GenerateSecretString"
            key = generate["GenerateStringKey"]
            from_env = {key} if _variable(provider, key) in self.environ else set()
            value = generated_secret(
                generate, self.environ[_variable(provider, key)] if from_env else secrets.token_urlsafe(24)
            )
        # The built-in eeID sandbox's webhook secret is shown (for signing test webhooks); nothing that came
        # from the environment ever is.
        printable = set(spec.printable) if spec is not None else set()
        for key in sorted(value):
            shown = value[key] if key in printable and value[key] else "(built-in sandbox default)"
            shown = "(from the environment)" if key in from_env else shown
            self._secret_notes.append(f"{name}: {key} = {shown}   [{_variable(provider, key)}]")
        return value

    def _queue_url(self, arn: str) -> str:
        return self._clients["sqs"].get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]

    def _invoke(self, function_name: str, payload: bytes) -> tuple[bytes, str | None]:
        answer = self._clients["lambda"].invoke(FunctionName=function_name, Payload=payload)
        return answer["Payload"].read(), answer.get("FunctionError")

    def _executions(self) -> list[tuple[str, int]]:
        """Every execution moto knows, with the states it has entered so far."""
        found = []
        for execution in self._all_executions():
            try:
                events = execution.to_history_output()["events"]
            except Exception:  # noqa: BLE001 - an execution that is just starting has no history yet
                events = []
            entered = sum(1 for e in events if str(e.get("type", "")).endswith("StateEntered"))
            found.append((execution.exec_arn, entered))
        return found

    def _all_executions(self) -> list[Any]:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        machines = list(stepfunctions_parser_backends[ACCOUNT_ID][REGION].state_machines)
        return [execution for machine in machines for execution in list(machine.executions)]

    def progress(self) -> dict[str, Any]:
        """What is still under way, for a test to wait on instead of sleeping: the names of running
        executions (a session's poll loop is named after the session), each stream's completed passes,
        queue batches being handled and the messages still queued for a function (visible, in flight or
        delayed)."""
        running = [
            e.name for e in self._all_executions() if getattr(e.exec_status, "value", None) == "RUNNING"
        ]
        queued = 0
        for url in self._mapped_queues:  # not the dead-letter queue: nothing reads it
            names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            names.append("ApproximateNumberOfMessagesDelayed")
            attributes = self._clients["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=names)
            queued += sum(int(attributes["Attributes"].get(name, 0)) for name in names)
        sources = self._event_sources.progress() if self._event_sources else {}
        return {"running_executions": sorted(running), "queued_messages": queued, **sources}

    def stats(self) -> dict[str, Any]:
        executions = transitions = 0
        for arn, entered in self._executions():
            baseline = self._sfn_baseline.get(arn)
            executions += int(baseline is None)
            transitions += entered - (baseline or 0)
        with self._counting:
            dynamodb, calls, keys = dict(self._dynamodb), dict(self._aws), dict(self._keys)
            written, api_requests = dict(self._written), self._api_requests
        by_key: dict[tuple[str, str], dict[str, Any]] = {}
        for (table, key, kind), n in keys.items():
            row = by_key.setdefault((table, key), {"table": table, "key": key, "reads": 0, "writes": 0})
            row[f"{kind}s"] = n
            row["written_at"] = written.get((table, key))
        return {
            "lambda": self._runtime.stats() if self._runtime else {},
            "dynamodb_requests": dynamodb,
            # (see _count_aws) caller "" is neither a function nor the stack: the bench or a test
            "aws_requests": [
                {"caller": caller, "service": service, "operation": op, "table": table, "count": n}
                for (caller, service, op, table), n in calls.items()
            ],
            "dynamodb_keys": list(by_key.values()),
            "api_requests": api_requests,
            "stepfunctions": {"executions": executions, "state_transitions": transitions},
            "sandboxes": {s.spec.provider: s.app.stats() for s in self._sandboxes if s.app is not None},
        }

    def reset_counters(self) -> None:
        if self._runtime:
            self._runtime.reset()
        with self._counting:
            self._dynamodb.clear()
            self._aws.clear()
            self._keys.clear()
            self._written.clear()
            self._api_requests = 0
        self._sfn_baseline = dict(self._executions())

    def reset(self) -> dict[str, Any]:
        self.reset_counters()
        for sandbox in self._sandboxes:
            if sandbox.app is not None:
                sandbox.app.reset()
        return {"reset": True}

    def set_concurrency(self, function_name: str, workers: int) -> None:
        """How many workers a function may run at once (default ``LOCAL_LAMBDA_CONCURRENCY``)."""
        assert self._runtime is not None
        self._runtime.set_concurrency(function_name, workers)

    def retire_idle(self, function_name: str) -> int:
        """End a function's idle workers, so that its next invocations start cold."""
        assert self._runtime is not None
        return self._runtime.retire_idle(function_name)

    def _banner(self) -> None:
        url, say = f"http://{HOST}:{self.port}", self.say
        moto = f"AWS emulated by moto at {self.moto_url}"
        say(f"{APP_NAME} local stack: stage {self.stage}, region {REGION}, {moto}")
        say(f"  API          {url}")
        say(f"  API key      x-api-key: {self.api_keys[0]}")
        for route in self.routes:
            key = "" if route.api_key_required else "  (no key)"
            say(f"  route        {route.method:<6} {route.path}  ->  {route.function_name}{key}")
        for sandbox in self._sandboxes:
            where = "built in" if sandbox.app else f"from {env_name(sandbox.spec.base_url_parameter)}"
            say(f"  sandbox      {sandbox.spec.provider:<10} {sandbox.url}  ({where})")
        for note in self._secret_notes:
            say(f"  secret       {note}")
        say(f"  demo         {url}/demo   (a page that runs sessions through this API)")
        say(f"  openid       {url}/.well-known/openid-configuration   (OpenID Provider: docs/oidc.md)")
        say(f"  stats        curl -s {url}/_local/stats   (reset: curl -s -X POST {url}/_local/reset)")
        built_in = {sandbox.spec.provider for sandbox in self._sandboxes if sandbox.app is not None}
        for provider, (path, body) in _EXAMPLES.items():
            if provider in built_in and any(route.path == path for route in self.routes):
                say(
                    f"  try          curl -s -X POST {url}{path} -H 'x-api-key: {self.api_keys[0]}' "
                    f"-H 'content-type: application/json' -d '{body}'"
                )
        say(f"{APP_NAME} is ready on {url}")

    def stop(self) -> None:
        """Stop serving, end every worker process, stop moto and the sandboxes. Idempotent."""
        if self._event_sources is not None:
            self._event_sources.stop()
            self._event_sources = None
        servers, self._servers = self._servers, []
        for index, (server, thread) in enumerate(servers):  # the front door first: no new requests
            server.shutdown()
            thread.join(timeout=5)
            server.server_close()
            if index == 0 and self._runtime is not None:
                self._runtime.shutdown()
        if self._runtime is not None:
            self._runtime.shutdown()
            self._runtime.uninstall()
