"""Run the template's Lambda handlers locally: the moto hook, a worker pool per function, the worker.

moto's Lambda needs Docker to invoke; :meth:`LambdaRuntime.install` replaces its one call site, so
``Invoke`` and Step Functions ``lambda:invoke`` tasks run our handler. Workers are long-lived processes
like Lambda's execution environments: an idle warm one is reused, else one is spawned (a cold start).
A worker (``python -m local.emulator.lambda_runtime <code_dir> <module.handler>``) imports the handler,
answers ``{"ready": ...}``, then reads one JSON request per stdin line and writes one JSON result per
line; what the handler prints or logs goes to stderr, the function's log. Standard library only.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

# Lambda allows 10 s of init; a loaded 2-core machine starting many interpreters at once needs more.
INIT_TIMEOUT_SECONDS = 30.0
MAX_WORKERS_PER_FUNCTION = max(1, int(os.environ.get("LOCAL_LAMBDA_CONCURRENCY", "4")))


@dataclass(frozen=True)
class FunctionConfig:  # one function as the template defines it, resolved
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    environment: dict[str, str] = field(default_factory=dict)
    python_path: tuple[Path, ...] = ()
    log_group: str = ""
    label: str = ""


def offline_aws_env(region: str) -> dict[str, str]:
    """Credentials and settings that keep boto3 on the local emulation, whatever the shell holds."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


class LambdaContext:
    """The part of Lambda's context object that handlers and Powertools use."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        env = os.environ
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = env.get("LOCAL_LAMBDA_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _load_handler(handler_spec: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = handler_spec.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        message = f"Unable to import module '{module_name}': {exc}"
        raise _Failure("Runtime.ImportModuleError", message) from exc
    handler = getattr(module, attribute, None)
    if handler is None:
        raise _Failure("Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'")
    return handler


def worker_main(argv: list[str]) -> int:
    code_dir, handler_spec = argv
    # The protocol owns the real stdout; fd 1 and sys.stdout now go to stderr, so neither a print()
    # nor a library writing to fd 1 can corrupt a result line.
    protocol: IO[str] = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # `-m` put the repo root (our cwd at spawn) on sys.path; a deployed function cannot see it.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    os.chdir(code_dir)

    def send(message: dict[str, Any]) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    started = time.perf_counter()
    try:
        handler = _load_handler(handler_spec)
    except Exception as exc:  # noqa: BLE001 - any init failure is reported to the caller, as Lambda does
        traceback.print_exc()
        error_type, message = exc.args if isinstance(exc, _Failure) else (type(exc).__name__, str(exc))
        send({"ready": False, "errorType": error_type, "errorMessage": message})
        return 1
    send({"ready": True, "init_ms": round((time.perf_counter() - started) * 1000, 3)})

    for line in sys.stdin:
        request = json.loads(line)
        context = LambdaContext(request["request_id"], int(request["deadline_ms"]))
        started = time.perf_counter()
        try:
            result: dict[str, Any] = {"ok": True, "payload": handler(request["event"], context)}
        except Exception as exc:  # noqa: BLE001 - a handler's exception is the invocation's error result
            traceback.print_exc()
            result = {"ok": False, "errorType": type(exc).__name__, "errorMessage": str(exc)}
        result["duration_ms"] = elapsed = round((time.perf_counter() - started) * 1000, 3)
        try:
            send(result)
        except (TypeError, ValueError) as exc:
            error = f"Unable to marshal response: {exc}"
            send(
                {
                    "ok": False,
                    "errorType": "Runtime.MarshalError",
                    "errorMessage": error,
                    "duration_ms": elapsed,
                }
            )
        sys.stderr.flush()
    return 0


LogSink = Callable[[str, str], None]


class _Failure(Exception):
    """The invocation failed in the runtime, as Lambda reports it: ``(error type, message)``."""


class _Worker:
    """One long-lived worker process of one function."""

    def __init__(self, config: FunctionConfig, runtime: LambdaRuntime) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local.emulator.lambda_runtime", str(config.code_dir), config.handler],
            cwd=runtime.repo_root,
            env=runtime.worker_env(config),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        threading.Thread(target=self._read_stdout, daemon=True, name=f"{config.label}-out").start()
        threading.Thread(target=self._read_stderr, args=(config.label, runtime.log), daemon=True).start()

    def _read_stdout(self) -> None:
        with contextlib.suppress(ValueError, OSError):  # the pipe is closed under us when a worker is killed
            for line in self.process.stdout or ():
                self._lines.put(line)
        self._lines.put(None)

    def _read_stderr(self, label: str, log: LogSink) -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in self.process.stderr or ():
                log(label, line.rstrip("\n"))

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next protocol message; ``queue.Empty`` on timeout, ``EOFError`` once the worker ended."""
        line = self._lines.get(timeout=timeout)
        if line is None:
            raise EOFError
        return json.loads(line)

    def send(self, message: dict[str, Any]) -> None:
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except (OSError, ValueError) as exc:
            raise EOFError from exc

    def close(self, grace: float = 0.0) -> None:
        """stdin EOF, then SIGTERM, then SIGKILL, each after ``grace / 2``; always reaped."""
        with contextlib.suppress(OSError):
            if self.process.stdin:
                self.process.stdin.close()
        for escalate in (self.process.terminate, self.process.kill):
            try:
                self.process.wait(timeout=grace / 2)
                break
            except subprocess.TimeoutExpired:
                escalate()
        self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            with contextlib.suppress(OSError):
                if stream:
                    stream.close()


def _new_stats() -> dict[str, Any]:
    return {"invocations": 0, "cold_starts": 0, "errors": 0, "handler_ms": [], "init_ms": []}


def _error(error_type: str, message: str) -> tuple[str, bool]:
    return json.dumps({"errorMessage": message, "errorType": error_type}), True


class _FunctionPool:
    def __init__(self, runtime: LambdaRuntime, config: FunctionConfig) -> None:
        self.runtime = runtime
        self.config = config
        self.stats = _new_stats()
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.all: set[_Worker] = set()
        # Like reserved concurrency: beyond it invocations queue instead of starting more interpreters,
        # which on a 2-core machine would only starve each other into init timeouts.
        self._slots = threading.BoundedSemaphore(MAX_WORKERS_PER_FUNCTION)

    def set_concurrency(self, workers: int) -> None:
        """A new limit for the invocations that start from now on (those running keep their slot)."""
        self._slots = threading.BoundedSemaphore(max(1, workers))

    def retire_idle(self) -> int:
        """End the idle workers, as Lambda does with environments it has not used for a while."""
        with self.lock:
            idle, self.idle = self.idle, []
            for worker in idle:
                self._discard(worker)
        return len(idle)

    def _acquire(self) -> tuple[_Worker, bool] | None:
        with self.lock:
            if self.runtime.closing:
                return None
            while self.idle:
                worker = self.idle.pop()
                if worker.process.poll() is None:
                    return worker, False
                self._discard(worker)
            worker = _Worker(self.config, self.runtime)
            self.all.add(worker)
            return worker, True

    def _discard(self, worker: _Worker) -> None:
        self.all.discard(worker)
        worker.close()

    def invoke(self, event: Any) -> tuple[str, bool]:
        config, request_id = self.config, str(uuid.uuid4())
        init_ms = duration = None
        with self._slots:
            if (acquired := self._acquire()) is None:  # an answer, not a traceback in moto's server log
                return _error("Runtime.ExitError", "the local stack is stopping")
            worker, cold = acquired
            try:
                if cold:
                    init_ms = self._init(worker)
                result = self._call(worker, event, request_id)
            except _Failure as failure:
                with self.lock:
                    self._discard(worker)
                outcome = _error(*failure.args)
            else:
                with self.lock:
                    if self.runtime.closing or worker.process.poll() is not None:
                        self._discard(worker)
                    else:
                        self.idle.append(worker)
                duration = float(result.get("duration_ms", 0.0))
                init = f" Init Duration: {init_ms:.2f} ms" if init_ms is not None else ""
                report = f"Duration: {duration:.2f} ms Memory Size: {config.memory_size} MB{init}"
                self.runtime.log(config.label, f"REPORT RequestId: {request_id} {report}")
                error = str(result.get("errorType", "Exception")), str(result.get("errorMessage", ""))
                outcome = (json.dumps(result.get("payload")), False) if result.get("ok") else _error(*error)
        with self.lock:
            self.stats["invocations"] += 1
            self.stats["cold_starts"] += int(cold)
            self.stats["errors"] += int(outcome[1])
            self.stats["init_ms"] += [init_ms] if init_ms is not None else []
            self.stats["handler_ms"] += [duration] if duration is not None else []
        return outcome

    def _init(self, worker: _Worker) -> float:
        try:
            ready = worker.receive(timeout=max(INIT_TIMEOUT_SECONDS, float(self.config.timeout)))
        except queue.Empty:
            message = f"Init timed out after {INIT_TIMEOUT_SECONDS:.0f} seconds"
            raise _Failure("Runtime.InitError", message) from None
        except (EOFError, ValueError):
            raise _Failure("Runtime.ExitError", "Runtime exited during init") from None
        if not ready.get("ready"):
            raise _Failure(str(ready.get("errorType", "Runtime.Unknown")), str(ready.get("errorMessage", "")))
        return float(ready.get("init_ms", 0.0))

    def _call(self, worker: _Worker, event: Any, request_id: str) -> dict[str, Any]:
        timeout = self.config.timeout
        try:
            deadline_ms = int((time.time() + timeout) * 1000)
            worker.send({"event": event, "request_id": request_id, "deadline_ms": deadline_ms})
            return worker.receive(timeout=timeout)
        except queue.Empty:
            self.runtime.log(self.config.label, f"{request_id} Task timed out after {timeout} seconds")
            raise _Failure("TimeoutError", f"Task timed out after {timeout} seconds") from None
        except (EOFError, ValueError):
            try:
                code: int | None = worker.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                code = None
            message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}"
            raise _Failure("Runtime.ExitError", message) from None


class LambdaRuntime:
    """Registry of local functions; runs their invocations in worker pools."""

    def __init__(self, repo_root: Path, *, endpoint_url: str, region: str, log: LogSink) -> None:
        self.repo_root = repo_root.resolve()
        self.endpoint_url = endpoint_url
        self.region = region
        self.log = log
        self._base_env = {
            k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ
        }
        self._pools: dict[str, _FunctionPool] = {}
        self._patch: Any = None
        self.closing = False

    def register(self, config: FunctionConfig) -> None:
        self._pools[config.name] = _FunctionPool(self, config)

    def worker_env(self, config: FunctionConfig) -> dict[str, str]:
        return {
            **self._base_env,
            **config.environment,
            "PYTHONPATH": os.pathsep.join(str(p) for p in (*config.python_path, config.code_dir)),
            "PYTHONUNBUFFERED": "1",
            "PYTHONIOENCODING": "utf-8",
            **offline_aws_env(self.region),
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
            "LAMBDA_TASK_ROOT": str(config.code_dir),
            "_HANDLER": config.handler,
            "LOCAL_LAMBDA_FUNCTION_ARN": config.arn,
            # boto3 appends it to its User-Agent: the local stack counts each function's AWS calls.
            "AWS_SDK_UA_APP_ID": config.name,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }

    def invoke(self, function_name: str, event: Any) -> tuple[str, bool]:
        pool = self._pools.get(function_name)
        if pool is None:
            return _error("ResourceNotFoundException", f"no local code for {function_name}")
        return pool.invoke(event)

    def install(self) -> None:
        from unittest import mock

        from moto.awslambda.models import LambdaFunction

        def _invoke_lambda(fn: Any, event: Any = None) -> tuple[str, bool, str]:
            # moto hands over the parsed JSON body, or the string "{}" when the body was empty.
            if isinstance(event, (str, bytes)):
                event = json.loads(event or "{}")
            payload, errored = self.invoke(fn.function_name, event)
            return payload, errored, ""  # no log tail: nothing here asks for LogType=Tail

        self._patch = mock.patch.object(LambdaFunction, "_invoke_lambda", _invoke_lambda)
        self._patch.start()

    def uninstall(self) -> None:
        if self._patch is not None:
            self._patch.stop()
            self._patch = None

    def set_concurrency(self, function_name: str, workers: int) -> None:
        self._pools[function_name].set_concurrency(workers)

    def retire_idle(self, function_name: str) -> int:
        """End a function's idle workers: its next invocations are cold starts. How many ended."""
        return self._pools[function_name].retire_idle()

    def stats(self) -> dict[str, dict[str, Any]]:
        found = {}
        for name, pool in self._pools.items():
            with pool.lock:
                found[name] = copy.deepcopy(pool.stats)
        return found

    def reset(self) -> None:
        for pool in self._pools.values():
            with pool.lock:
                pool.stats = _new_stats()

    def shutdown(self, grace: float = 3.0) -> None:
        """End every worker in parallel: stdin EOF first, so that each can finish what it is doing."""
        self.closing = True
        workers: list[_Worker] = []
        for pool in self._pools.values():
            with pool.lock:
                workers += pool.all
                pool.all, pool.idle = set(), []
        threads = [threading.Thread(target=worker.close, args=(grace,), daemon=True) for worker in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
