"""Run the template's Lambda handlers locally: moto hook, per-function worker pools, worker entry point.

moto's Lambda needs Docker to invoke; :meth:`LambdaRuntime.install` replaces its single call site
(``LambdaFunction._invoke_lambda``) so that ``Invoke`` and Step Functions ``lambda:invoke`` tasks run
our handler instead. Each function has a pool of long-lived worker processes, like Lambda's execution
environments: an idle warm worker is reused, otherwise a new one is spawned (a cold start).

A worker (``python -m local.lambda_runtime <code_dir> <module.handler>``) imports the handler once,
answers ``{"ready": ...}``, then reads one JSON request per line on stdin and writes one JSON result
per line to the stdout it saved at start; everything the handler prints or logs goes to stderr, which
the parent forwards to the console as the function's "CloudWatch" log.

This module is also the worker's ``__main__``, so it imports nothing outside the standard library.
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["FunctionConfig", "LambdaContext", "LambdaRuntime", "worker_main"]

# Lambda allows 10 s of init; a loaded 2-core machine starting many interpreters at once needs more.
INIT_TIMEOUT_SECONDS = 30.0
MAX_WORKERS_PER_FUNCTION = max(1, int(os.environ.get("LOCAL_LAMBDA_CONCURRENCY", "4")))


@dataclass(frozen=True)
class FunctionConfig:
    """One function as the template defines it, resolved."""

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


# --- worker side -------------------------------------------------------------------------------


class LambdaContext:
    """The subset of Lambda's context object that handlers and Powertools use."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        env = os.environ
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = env.get("LOCAL_LAMBDA_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error_body(exc: BaseException) -> dict[str, str]:
    return {"errorType": type(exc).__name__, "errorMessage": str(exc)}


def _load_handler(handler_spec: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = handler_spec.rpartition(".")
    if not module_name:
        raise ValueError(f"Bad handler '{handler_spec}': not enough values to unpack")
    module = importlib.import_module(module_name)
    handler = getattr(module, attribute, None)
    if handler is None:
        raise AttributeError(f"Handler '{attribute}' missing on module '{module_name}'")
    return handler  # type: ignore[no-any-return]


def _init_error(exc: BaseException, handler_spec: str) -> dict[str, str]:
    module_name = handler_spec.rpartition(".")[0]
    if isinstance(exc, ImportError):
        return {
            "errorType": "Runtime.ImportModuleError",
            "errorMessage": f"Unable to import module '{module_name}': {exc}",
        }
    if isinstance(exc, (AttributeError, ValueError)) and "andler" in str(exc):
        return {"errorType": "Runtime.HandlerNotFound", "errorMessage": str(exc)}
    return _error_body(exc)


def worker_main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m local.lambda_runtime <code_dir> <module.handler>", file=sys.stderr)
        return 2
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
        send({"ready": False, **_init_error(exc, handler_spec)})
        return 1
    send({"ready": True, "init_ms": round((time.perf_counter() - started) * 1000, 3)})

    for line in sys.stdin:
        request = json.loads(line)
        context = LambdaContext(request["request_id"], int(request["deadline_ms"]))
        started = time.perf_counter()
        try:
            result = handler(request["event"], context)
            elapsed = round((time.perf_counter() - started) * 1000, 3)
            try:
                send({"ok": True, "payload": result, "duration_ms": elapsed})
            except (TypeError, ValueError) as exc:
                send(
                    {
                        "ok": False,
                        "errorType": "Runtime.MarshalError",
                        "errorMessage": f"Unable to marshal response: {exc}",
                        "duration_ms": elapsed,
                    }
                )
        except Exception as exc:  # noqa: BLE001 - a handler's exception is the invocation's error result
            elapsed = round((time.perf_counter() - started) * 1000, 3)
            traceback.print_exc()
            send({"ok": False, **_error_body(exc), "duration_ms": elapsed})
        sys.stderr.flush()
    return 0


# --- parent side: workers, pools, the moto hook ---------------------------------------------------

LogSink = Callable[[str, str], None]


class _WorkerDied(Exception):
    pass


class _Worker:
    """One long-lived worker process of one function."""

    def __init__(self, config: FunctionConfig, env: Mapping[str, str], repo_root: Path, log: LogSink) -> None:
        self.config = config
        self._log = log
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._capture: list[str] | None = None
        self._capture_lock = threading.Lock()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local.lambda_runtime", str(config.code_dir), config.handler],
            cwd=repo_root,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        threading.Thread(target=self._read_stdout, daemon=True, name=f"{config.label}-out").start()
        threading.Thread(target=self._read_stderr, daemon=True, name=f"{config.label}-err").start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        with contextlib.suppress(ValueError, OSError):  # the pipe is closed under us when a worker is killed
            for line in self.process.stdout:
                self._lines.put(line)
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        with contextlib.suppress(ValueError, OSError):
            for line in self.process.stderr:
                line = line.rstrip("\n")
                with self._capture_lock:
                    if self._capture is not None:
                        self._capture.append(line)
                self._log(self.config.label, line)

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next protocol message; raises ``queue.Empty`` on timeout, ``_WorkerDied`` on exit."""
        line = self._lines.get(timeout=timeout)
        if line is None:
            raise _WorkerDied
        return json.loads(line)  # type: ignore[no-any-return]

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise _WorkerDied from exc

    def start_capture(self) -> None:
        with self._capture_lock:
            self._capture = []

    def stop_capture(self) -> str:
        with self._capture_lock:
            lines, self._capture = self._capture or [], None
        return "\n".join(lines)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()
        self._close_pipes()

    def close(self, grace: float) -> None:
        """Ask politely (stdin EOF, then SIGTERM), then kill; always reap."""
        try:
            if self.process.stdin:
                self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=grace / 2)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout=grace / 2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass


@dataclass
class _FunctionStats:
    invocations: int = 0
    cold_starts: int = 0
    errors: int = 0
    handler_ms: list[float] = field(default_factory=list)
    init_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "invocations": self.invocations,
            "cold_starts": self.cold_starts,
            "errors": self.errors,
            "handler_ms": list(self.handler_ms),
            "init_ms": list(self.init_ms),
        }


@dataclass(frozen=True)
class Invocation:
    payload: str
    errored: bool
    logs: str


class _FunctionPool:
    def __init__(self, runtime: LambdaRuntime, config: FunctionConfig) -> None:
        self.runtime = runtime
        self.config = config
        self.stats = _FunctionStats()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        # Like reserved concurrency: beyond it invocations queue instead of starting more interpreters,
        # which on a 2-core machine would only starve each other into init timeouts.
        self._slots = threading.BoundedSemaphore(MAX_WORKERS_PER_FUNCTION)

    def _acquire(self) -> tuple[_Worker, bool]:
        with self._lock:
            if self.runtime.closing:
                raise RuntimeError("the local stack is stopping")
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker, False
                self._all.discard(worker)
                worker.kill()
            worker = _Worker(
                self.config, self.runtime.worker_env(self.config), self.runtime.repo_root, self.runtime.log
            )
            self._all.add(worker)
            return worker, True

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            if self.runtime.closing or not worker.alive():
                self._all.discard(worker)
                worker.kill()
            else:
                self._idle.append(worker)

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._all.discard(worker)
        worker.kill()

    def invoke(self, event: Any) -> Invocation:
        with self._slots:
            return self._invoke(event)

    def _invoke(self, event: Any) -> Invocation:
        config = self.config
        request_id = str(uuid.uuid4())
        worker, cold = self._acquire()
        init_ms: float | None = None
        if cold:
            try:
                ready = worker.receive(timeout=max(INIT_TIMEOUT_SECONDS, float(config.timeout)))
            except queue.Empty:
                self._discard(worker)
                return self._record(
                    cold,
                    None,
                    None,
                    _error_payload(
                        "Runtime.InitError", f"Init timed out after {INIT_TIMEOUT_SECONDS:.0f} seconds"
                    ),
                    "",
                )
            except (_WorkerDied, ValueError):
                self._discard(worker)
                return self._record(
                    cold, None, None, _error_payload("Runtime.ExitError", "Runtime exited during init"), ""
                )
            if not ready.get("ready"):
                self._discard(worker)
                return self._record(
                    cold,
                    None,
                    None,
                    _error_payload(
                        str(ready.get("errorType", "Runtime.Unknown")), str(ready.get("errorMessage", ""))
                    ),
                    "",
                )
            init_ms = float(ready.get("init_ms", 0.0))

        deadline = time.time() + config.timeout
        worker.start_capture()
        try:
            worker.send({"event": event, "request_id": request_id, "deadline_ms": int(deadline * 1000)})
            result = worker.receive(timeout=config.timeout)
        except queue.Empty:
            self._discard(worker)
            logs = worker.stop_capture()
            self.runtime.log(config.label, f"{request_id} Task timed out after {config.timeout} seconds")
            return self._record(
                cold,
                init_ms,
                None,
                _error_payload("TimeoutError", f"Task timed out after {config.timeout} seconds"),
                logs,
            )
        except (_WorkerDied, ValueError):
            try:
                code: int | None = worker.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                code = None
            self._discard(worker)
            return self._record(
                cold,
                init_ms,
                None,
                _error_payload(
                    "Runtime.ExitError",
                    f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}",
                ),
                worker.stop_capture(),
            )
        logs = worker.stop_capture()
        self._release(worker)
        duration = float(result.get("duration_ms", 0.0))
        self.runtime.log(
            config.label,
            (
                f"REPORT RequestId: {request_id} Duration: {duration:.2f} ms"
                f" Memory Size: {config.memory_size} MB"
                + (f" Init Duration: {init_ms:.2f} ms" if init_ms is not None else "")
            ),
        )
        if result.get("ok"):
            return self._record(cold, init_ms, duration, (json.dumps(result.get("payload")), False), logs)
        return self._record(
            cold,
            init_ms,
            duration,
            _error_payload(str(result.get("errorType", "Exception")), str(result.get("errorMessage", ""))),
            logs,
        )

    def _record(
        self, cold: bool, init_ms: float | None, duration: float | None, outcome: tuple[str, bool], logs: str
    ) -> Invocation:
        payload, errored = outcome
        with self._lock:
            self.stats.invocations += 1
            self.stats.cold_starts += int(cold)
            self.stats.errors += int(errored)
            if init_ms is not None:
                self.stats.init_ms.append(init_ms)
            if duration is not None:
                self.stats.handler_ms.append(duration)
        return Invocation(payload, errored, logs)

    def reset(self) -> None:
        with self._lock:
            self.stats = _FunctionStats()

    def shutdown(self, grace: float) -> None:
        with self._lock:
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
        threads = [threading.Thread(target=w.close, args=(grace,), daemon=True) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def _error_payload(error_type: str, message: str) -> tuple[str, bool]:
    return json.dumps({"errorMessage": message, "errorType": error_type}), True


def _default_log(label: str, line: str) -> None:
    print(f"[{label}] {line}", file=sys.stderr, flush=True)


class LambdaRuntime:
    """Registry of local functions; runs their invocations in worker pools."""

    BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")

    def __init__(
        self,
        repo_root: Path,
        *,
        endpoint_url: str,
        region: str,
        log: LogSink = _default_log,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        self.repo_root = repo_root.resolve()
        self.endpoint_url = endpoint_url
        self.region = region
        self.log = log
        source = os.environ if base_env is None else base_env
        self._base_env = {k: source[k] for k in self.BASE_ENV_KEYS if k in source}
        self._pools: dict[str, _FunctionPool] = {}
        self._original: Any = None
        self.closing = False

    def register(self, config: FunctionConfig) -> None:
        if not config.label:
            config = FunctionConfig(**{**config.__dict__, "label": config.name})
        self._pools[config.name] = _FunctionPool(self, config)

    @property
    def functions(self) -> dict[str, FunctionConfig]:
        return {name: pool.config for name, pool in self._pools.items()}

    def worker_env(self, config: FunctionConfig) -> dict[str, str]:
        env = dict(self._base_env)
        env.update(config.environment)
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(str(p) for p in (*config.python_path, config.code_dir)),
                "PYTHONUNBUFFERED": "1",
                "PYTHONIOENCODING": "utf-8",
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_LAMBDA_FUNCTION_NAME": config.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
                "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": stream,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
                "LAMBDA_TASK_ROOT": str(config.code_dir),
                "_HANDLER": config.handler,
                "LOCAL_LAMBDA_FUNCTION_ARN": config.arn,
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        return env

    def invoke(self, function_name: str, event: Any) -> Invocation:
        pool = self._pools.get(function_name)
        if pool is None:
            payload, _ = _error_payload("ResourceNotFoundException", f"no local code for {function_name}")
            return Invocation(payload, True, "")
        return pool.invoke(event)

    def _invoke_from_moto(self, function_name: str, event: Any) -> tuple[str, bool, str]:
        # moto hands over the parsed JSON body, or the string "{}" when the body was empty.
        if isinstance(event, (str, bytes)):
            event = json.loads(event or "{}")
        result = self.invoke(function_name, event)
        return result.payload, result.errored, result.logs

    def install(self) -> None:
        from moto.awslambda.models import LambdaFunction

        runtime = self
        self._original = LambdaFunction.__dict__["_invoke_lambda"]

        def _invoke_lambda(fn: Any, event: Any = None) -> tuple[str, bool, str]:
            return runtime._invoke_from_moto(fn.function_name, event)

        LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original is not None:
            from moto.awslambda.models import LambdaFunction

            LambdaFunction._invoke_lambda = self._original  # type: ignore[method-assign]
            self._original = None

    def stats(self) -> dict[str, dict[str, Any]]:
        result = {}
        for name, pool in self._pools.items():
            with pool._lock:
                result[name] = pool.stats.as_dict()
        return result

    def reset(self) -> None:
        for pool in self._pools.values():
            pool.reset()

    def shutdown(self, grace: float = 3.0) -> None:
        self.closing = True
        pools = list(self._pools.values())
        threads = [threading.Thread(target=p.shutdown, args=(grace,), daemon=True) for p in pools]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
