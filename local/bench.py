"""``python -m local.bench`` (``make bench``): concurrent Mobile-ID sessions through the local stack.

Measures what one session costs (provider calls, state transitions, Lambda invocations, DynamoDB requests),
how late the broker notices the provider's answer, warm handler time and import time per function, and
prices it at us-east-1 list prices beside two Standard-workflow designs. Counts are exact; durations are
medians, because the machine is shared and noisy. Exit code 0 even when a target fails; 1 when the run broke.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import boto3
import requests

from local.sandboxes.eeid import EeidSandbox

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
METHOD = "dokobit-mobile-id"
START_PATH = f"/v1/sessions/{METHOD}"
GET_PATH = "/v1/sessions/{session_id}"
PERSON = {"phone": "+37200000766", "personal_code": "60001019906"}  # sandbox persona ok-ee
CLIENT_POLL_SECONDS = 0.5
DEFAULT_INTERVAL_SECONDS = 3.0
READY_TIMEOUT_SECONDS = 120.0
GET_PROBES = 10
START_PROBES = 5

LATENCY_SLACK_SECONDS = 0.3
IMPORT_TARGET_MS = 250.0
IMPORT_RUNS = 3
COST_TARGET_USD = 0.0003
LONG_SESSION_SECONDS = 120.0

# us-east-1 list prices, USD
SFN_STANDARD_PER_TRANSITION = 0.025 / 1_000
SFN_EXPRESS_PER_REQUEST = 1.00 / 1_000_000
SFN_EXPRESS_PER_GB_SECOND = 0.00001667
SFN_EXPRESS_GB = 64 / 1024
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_PER_GB_SECOND = 0.0000166667
DDB_PER_WRITE = 0.625 / 1_000_000
DDB_PER_READ = 0.125 / 1_000_000
APIGW_PER_REQUEST = 3.50 / 1_000_000
SECRETS_PER_CALL = 0.05 / 10_000

# eeID phase (figures from layers/broker/eid_broker/methods/eeid.py and local/sandboxes/eeid.py)
EEID_METHOD = "eeid"
EEID_START_PATH = f"/v1/sessions/{EEID_METHOD}"
EEID_SUBJECT = "EE30303039914"  # sandbox person OK TESTNUMBER
EEID_CLIENT_POLL_SECONDS = 0.25
EEID_COMPLETE_TIMEOUT_SECONDS = 60.0
EEID_FIRST_WAIT_SECONDS = 60.0  # FALLBACK_FIRST_WAIT_SECONDS; POLL_INTERVAL_SECONDS overrides it
EEID_MAX_WAIT_SECONDS = 6 * 3600.0  # FALLBACK_MAX_WAIT_SECONDS
EEID_LINK_SECONDS = 7 * 24 * 3600.0  # LINK_LIFETIME
EEID_POLL_MS = 100.0  # assumed billed time of one fallback poll
EEID_TOKEN_TTL_SECONDS = 120.0
# The sandbox stamps webhook_sent_at when the broker has answered; a delivery leaves completed_at + this.
EEID_WEBHOOK_DELAY = float(inspect.signature(EeidSandbox).parameters["webhook_delay"].default)

WRITE_OPS = ("PutItem", "UpdateItem", "DeleteItem")
READ_OPS = ("GetItem", "Query")


class BenchError(Exception):
    """The run itself broke, so its figures cannot be trusted."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def median(values: Iterable[float]) -> float | None:
    return percentile(values, 50)


def percentile(values: Iterable[float], q: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def short(function_name: str) -> str:
    """``eid-broker-<stage>-dokobit-poll`` → ``dokobit-poll``."""
    parts = function_name.split("-", 3)
    return parts[3] if len(parts) == 4 and parts[:2] == ["eid", "broker"] else function_name


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --- the stack ------------------------------------------------------------------------------------------


class Stack:
    """``python -m local`` in its own process group, started and stopped as tests/e2e/conftest.py does."""

    def __init__(self, port: int, ok_after: float) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.ok_after = ok_after
        self.banner: list[str] = []
        self.tail: deque[str] = deque(maxlen=200)
        handle, name = tempfile.mkstemp(prefix="eid-broker-bench-", suffix=".log")
        self.log = os.fdopen(handle, "w", encoding="utf-8")
        self.log_path = Path(name)
        self.process: subprocess.Popen[str] | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        env = {
            **os.environ,
            "LOCAL_API_KEY": API_KEY,
            "DOKOBIT_SANDBOX_OK_AFTER": str(self.ok_after),
            "PYTHONUNBUFFERED": "1",
            # Every bench session is the same test person: the per-person limit (3) is off for the bench.
            "PERSON_START_LIMIT": "0",
        }
        # The template's defaults are what is measured, whatever the caller's shell holds.
        for name in ("POLL_INTERVAL_SECONDS", "SESSION_TIMEOUT_SECONDS", "DOKOBIT_BASE_URL"):
            env.pop(name, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        threading.Thread(target=self._pump, daemon=True, name="stack-output").start()
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self._ready.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise BenchError("local stack did not start:\n" + "\n".join(list(self.tail)[-40:]))

    def _pump(self) -> None:
        process = self.process
        assert process is not None and process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip("\n")
            self.tail.append(line)
            self.log.write(raw)
            if not self._ready.is_set():
                self.banner.append(line)
                if "eid-broker is ready on" in line:
                    self._ready.set()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.log.flush()

    def forget_log(self) -> None:
        self.log.close()
        self.log_path.unlink(missing_ok=True)

    def _from_banner(self, pattern: str) -> str | None:
        regex = re.compile(pattern)
        return next((m.group(1) for line in self.banner if (m := regex.search(line))), None)

    def route_function(self, method: str, path: str) -> str | None:
        return self._from_banner(rf"route\s+{method}\s+{re.escape(path)}\s+->\s+(\S+)")

    def moto_url(self) -> str | None:
        return self._from_banner(r"emulated by moto at (http://\S+)")

    def stats(self) -> dict[str, Any]:
        answer = requests.get(f"{self.url}/_local/stats", timeout=30)
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]

    def reset(self) -> None:
        requests.post(f"{self.url}/_local/reset", timeout=30).raise_for_status()


# --- the client's side of a session ---------------------------------------------------------------------


@dataclass
class SessionRun:
    session_id: str
    control_code: str
    created_at: float
    status: str
    finished_at: float | None  # broker updated_at of the final record
    gets: int
    get_errors: int


def client(url: str) -> requests.Session:
    http = requests.Session()
    http.headers["x-api-key"] = API_KEY
    http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=4))
    return http


def start_session(http: requests.Session, url: str) -> dict[str, Any]:
    answer = http.post(f"{url}{START_PATH}", json=PERSON, timeout=60)
    if answer.status_code != 201:
        raise BenchError(f"start answered {answer.status_code}: {answer.text[:300]}")
    return answer.json()  # type: ignore[no-any-return]


def run_session(
    url: str, barrier: threading.Barrier, give_up_after: float, abort: threading.Event
) -> SessionRun:
    http = client(url)
    barrier.wait(timeout=60)
    started = start_session(http, url)
    session_id = started["session_id"]
    deadline = time.monotonic() + give_up_after
    gets = get_errors = 0
    while True:
        time.sleep(CLIENT_POLL_SECONDS)
        answer = http.get(f"{url}/v1/sessions/{session_id}", timeout=60)
        gets += 1
        # A 5xx is the stack straining under load, as a client would see it: counted, then read again.
        if answer.status_code >= 500:
            get_errors += 1
        elif answer.status_code != 200:
            raise BenchError(f"GET session answered {answer.status_code}: {answer.text[:300]}")
        elif (session := answer.json())["status"] != "pending":
            break
        if time.monotonic() > deadline:
            raise BenchError(f"session {session_id} still pending after {give_up_after:.0f} s")
        if abort.is_set():
            raise BenchError("aborted: another session broke")
    return SessionRun(
        session_id=session_id,
        control_code=str((started.get("next_action") or {}).get("control_code", "")),
        created_at=epoch(started["created_at"]),
        status=session["status"],
        finished_at=epoch(session["updated_at"]) if session["status"] == "completed" else None,
        gets=gets,
        get_errors=get_errors,
    )


# --- Step Functions executions, read from moto ----------------------------------------------------------


@dataclass
class Execution:
    status: str
    seconds: float | None
    interval: float | None


def executions(moto_url: str | None, names: set[str]) -> dict[str, Execution]:
    """Executions named after the given sessions (the broker names each execution by session id)."""
    if not moto_url:
        return {}
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=moto_url,
        region_name="eu-north-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    found: dict[str, Execution] = {}
    for machine in sfn.list_state_machines()["stateMachines"]:
        paginator = sfn.get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=machine["stateMachineArn"]):
            for item in page["executions"]:
                if item["name"] not in names:
                    continue
                described = sfn.describe_execution(executionArn=item["executionArn"])
                stop = described.get("stopDate")
                seconds = (stop - described["startDate"]).total_seconds() if stop else None
                interval = json.loads(described.get("input") or "{}").get("interval_seconds")
                found[item["name"]] = Execution(described["status"], seconds, interval)
    return found


def wait_for_executions(moto_url: str | None, names: set[str], timeout: float) -> dict[str, Execution]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = executions(moto_url, names)
        except Exception as exc:  # noqa: BLE001 - durations then fall back to the session timestamps
            print(f"note: could not read executions from moto ({exc}); using session timestamps")
            return {}
        if all(e.status != "RUNNING" for e in found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


# --- stats arithmetic -----------------------------------------------------------------------------------


def diff_stats(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Counters of ``after`` minus ``before`` (both from /_local/stats, counters only ever grow)."""
    lambdas = {}
    for name, now in after["lambda"].items():
        then = before["lambda"].get(name, {})
        lambdas[name] = {
            "invocations": now["invocations"] - then.get("invocations", 0),
            "cold_starts": now["cold_starts"] - then.get("cold_starts", 0),
            "errors": now.get("errors", 0) - then.get("errors", 0),
            "handler_ms": now["handler_ms"][len(then.get("handler_ms", [])) :],
            "init_ms": now.get("init_ms", [])[len(then.get("init_ms", [])) :],
        }
    ddb_before = before["dynamodb_requests"]
    ddb = {op: n - ddb_before.get(op, 0) for op, n in after["dynamodb_requests"].items()}
    sfn_b, sfn_a = before["stepfunctions"], after["stepfunctions"]
    return {
        "lambda": lambdas,
        "dynamodb_requests": {op: n for op, n in ddb.items() if n},
        "stepfunctions": {k: sfn_a[k] - sfn_b.get(k, 0) for k in sfn_a},
    }


def warm_samples(entry: dict[str, Any]) -> list[float]:
    # Stats do not mark which sample was a worker's first; cold ones are recorded first in practice.
    return list(entry["handler_ms"][entry["cold_starts"] :])


def pair_sessions(
    runs: list[SessionRun], sandbox_sessions: list[dict[str, Any]]
) -> tuple[list[tuple[SessionRun, dict[str, Any]]], int]:
    """Each broker session with its sandbox session: by control code, then by creation order among equals."""
    broker: dict[str, list[SessionRun]] = defaultdict(list)
    provider: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        broker[run.control_code].append(run)
    for session in sandbox_sessions:
        provider[str(session.get("control_code", ""))].append(session)
    pairs = []
    by_order = 0
    for code, group in broker.items():
        candidates = sorted(provider.get(code, []), key=lambda s: s["created_at"])
        if len(group) > 1 or len(candidates) > 1:
            by_order += len(group)
        pairs += zip(sorted(group, key=lambda r: r.created_at), candidates, strict=False)
    return pairs, by_order


# --- import time ----------------------------------------------------------------------------------------


def import_ms(function_dir: Path) -> float | None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "broker"), str(function_dir)]),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    best: float | None = None
    for _ in range(IMPORT_RUNS):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import app"],
            cwd=function_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        for line in done.stderr.splitlines():
            parts = line.split("|")
            # Only the top-level line has exactly one space before the module name.
            if len(parts) == 3 and parts[2] == " app" and parts[1].strip().isdigit():
                micros = int(parts[1].strip())
                best = micros / 1000 if best is None else min(best, micros / 1000)
    return best


# --- cost -----------------------------------------------------------------------------------------------


def lambda_cost(invocations: float, ms: float, memory_mb: int) -> float:
    return invocations * (LAMBDA_PER_REQUEST + memory_mb / 1024 * math.ceil(ms) / 1000 * LAMBDA_PER_GB_SECOND)


def express_cost(seconds: float) -> float:
    billed = math.ceil(round(seconds * 10, 6)) / 10
    return SFN_EXPRESS_PER_REQUEST + SFN_EXPRESS_GB * billed * SFN_EXPRESS_PER_GB_SECOND


def template_memory_mb() -> int:
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    found = re.search(r"^\s+MemorySize:\s*(\d+)", text, re.MULTILINE)
    return int(found.group(1)) if found else 128


@dataclass
class SessionShape:
    """What one session uses, from which every design's cost follows."""

    polls: float
    execution_seconds: float
    lambdas: dict[str, list[tuple[float, float]]]  # function -> [(invocations, billed ms each)]
    writes: float
    reads: float


def cost_table(shape: SessionShape, memory_mb: int) -> dict[str, dict[str, float]]:
    shared = {
        "Lambda": sum(lambda_cost(k, ms, memory_mb) for parts in shape.lambdas.values() for k, ms in parts),
        "DynamoDB": shape.writes * DDB_PER_WRITE + shape.reads * DDB_PER_READ,
        "API Gateway (start)": APIGW_PER_REQUEST,
    }
    designs = {
        "Express (this)": express_cost(shape.execution_seconds),
        "Std Wait/Task/Choice": (3 * shape.polls + 2) * SFN_STANDARD_PER_TRANSITION,
        "Std Retry-polling": (shape.polls + 2) * SFN_STANDARD_PER_TRANSITION,
    }
    table = {}
    for design, orchestration in designs.items():
        rows = {"Step Functions": orchestration, **shared}
        rows["total"] = sum(rows.values())
        table[design] = rows
    return table


def print_cost_table(title: str, table: dict[str, dict[str, float]]) -> None:
    designs = list(table)
    print(f"  {title:<22}" + "".join(f"{d:>22}" for d in designs))
    for row in table[designs[0]]:
        print(f"  {row:<22}" + "".join(f"{'$' + format(table[d][row], '.8f'):>22}" for d in designs))


# --- the run --------------------------------------------------------------------------------------------


def wave(
    stack: Stack, n: int, ok_after: float, *, tolerant: bool = False
) -> tuple[list[SessionRun], float, int]:
    """N sessions started together, each read until final: the runs, the wall time, how many broke.

    Only a tolerant wave survives a session that broke; the others stop at the first one.
    """
    barrier = threading.Barrier(n)
    abort = threading.Event()
    began = time.monotonic()
    runs: list[SessionRun] = []
    broke = 0
    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(run_session, stack.url, barrier, ok_after + 90, abort) for _ in range(n)]
        for future in futures:
            try:
                runs.append(future.result())
            except (BenchError, requests.RequestException) as exc:
                if not tolerant:
                    abort.set()
                    barrier.abort()
                    raise BenchError(str(exc)) from exc
                broke += 1
            except BaseException:
                abort.set()
                barrier.abort()
                raise
    return runs, time.monotonic() - began, broke


def measure(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    n = args.sessions
    get_fn = stack.route_function("GET", GET_PATH) or ""
    start_fn = stack.route_function("POST", START_PATH) or ""
    moto = stack.moto_url()
    stack.reset()
    cold: dict[str, Any] | None = None
    warmup_failed = 0
    if args.warmup:
        # A deployed broker reuses warm workers; a burst of N cold starts on a small machine measures
        # process spawning instead. The warm-up wave's cold starts are reported on their own.
        before = stack.stats()
        warmup, _, warmup_broke = wave(stack, n, args.ok_after, tolerant=True)
        warmup_failed = warmup_broke + sum(r.status != "completed" for r in warmup)
        wait_for_executions(moto, {r.session_id for r in warmup}, timeout=30)
        cold = diff_stats(before, stack.stats())
        stack.reset()

    before = stack.stats()
    runs, wall, _ = wave(stack, n, args.ok_after)
    execs = wait_for_executions(moto, {r.session_id for r in runs}, timeout=30)
    after = stack.stats()
    run = diff_stats(before, after)
    sandbox = after["sandboxes"].get("dokobit", {})

    # Probes after the measured window: what one GET costs, and start's warm time if every start was cold.
    http = client(stack.url)
    for _ in range(GET_PROBES):
        http.get(f"{stack.url}/v1/sessions/{runs[0].session_id}", timeout=60).raise_for_status()
    after_gets = stack.stats()
    get_probe = diff_stats(after, after_gets)
    start_probe = None
    if start_fn in run["lambda"] and not warm_samples(run["lambda"][start_fn]):
        for _ in range(START_PROBES):
            start_session(http, stack.url)
        start_probe = diff_stats(after_gets, stack.stats())

    return {
        "n": n,
        "wall_seconds": wall,
        "runs": runs,
        "executions": execs,
        "run": run,
        "cold": cold or run,
        "warmed_up": cold is not None,
        "warmup_failed": warmup_failed,
        "sandbox": sandbox,
        "get_probe": get_probe,
        "start_probe": start_probe,
        "get_fn": get_fn,
        "start_fn": start_fn,
    }


@dataclass
class Timing:
    """One function's handler time: warm median, and what a new worker costs (init, first call)."""

    warm_ms: float | None
    warm_samples: int
    warm_source: str
    cold_starts: int
    init_ms: float | None
    first_call_ms: float | None


def timings(m: dict[str, Any]) -> dict[str, Timing]:
    found = {}
    for name, entry in m["run"]["lambda"].items():
        samples, source = warm_samples(entry), "measured"
        if not samples and m["start_probe"] and name in m["start_probe"]["lambda"]:
            samples, source = warm_samples(m["start_probe"]["lambda"][name]), f"{START_PROBES} sequential"
        cold = m["cold"]["lambda"].get(name, entry)
        found[name] = Timing(
            warm_ms=median(samples),
            warm_samples=len(samples),
            warm_source=source,
            cold_starts=cold["cold_starts"],
            init_ms=median(cold.get("init_ms", [])),
            first_call_ms=median(cold["handler_ms"][: cold["cold_starts"]]),
        )
    return found


def report(args: argparse.Namespace, m: dict[str, Any], imports: dict[str, float | None]) -> dict[str, Any]:
    n: int = m["n"]
    runs: list[SessionRun] = m["runs"]
    run, sandbox = m["run"], m["sandbox"]
    get_fn, start_fn = m["get_fn"], m["start_fn"]
    execs: dict[str, Execution] = m["executions"]
    memory_mb = template_memory_mb()
    intervals = {e.interval for e in execs.values() if e.interval is not None}
    interval = float(max(intervals)) if intervals else DEFAULT_INTERVAL_SECONDS
    out: dict[str, Any] = {}

    statuses: dict[str, int] = defaultdict(int)
    for r in runs:
        statuses[r.status] += 1
    print(
        f"eid-broker bench: {n} concurrent {METHOD} sessions; sandbox ok after {args.ok_after:g} s;"
        f" poll interval {interval:g} s (template default); client GET every {CLIENT_POLL_SECONDS:g} s"
    )
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()};"
        f" measured wave {m['wall_seconds']:.1f} s; sessions {dict(statuses)}"
    )
    if m["warmed_up"]:
        print(
            f"warm-up: one unmeasured wave of {n} sessions first (so workers are warm),"
            f" {m['warmup_failed']} of them failed under its cold-start burst"
        )
    out["machine"] = {
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "python": platform.python_version(),
    }
    out["config"] = {"sessions": n, "ok_after": args.ok_after, "interval": interval, "memory_mb": memory_mb}
    out["statuses"] = dict(statuses)
    out["wall_seconds"] = m["wall_seconds"]
    out["warmup"] = {"done": m["warmed_up"], "failed_sessions": m["warmup_failed"]}

    # per-session counts
    calls = sandbox.get("calls", {})
    logins, status_calls = calls.get("login", 0), calls.get("status", 0)
    provider = (logins + status_calls) / n
    target_calls = 1 + math.ceil(args.ok_after / interval)
    transitions = run["stepfunctions"].get("state_transitions", 0) / n
    gets = sum(r.gets for r in runs)
    print("\nper session (exact counts ÷ N)")
    print(
        f"  provider calls        {provider:.2f}  (login {logins} + status {status_calls})   target"
        f" 1+ceil({args.ok_after:g}/{interval:g}) = {target_calls}   {verdict(provider <= target_calls)}"
    )
    pairs, by_order = pair_sessions(runs, sandbox.get("sessions", []))
    periods = [
        execution.seconds / session["status_calls"]
        for run_, session in pairs
        if (execution := execs.get(run_.session_id)) and execution.seconds and session["status_calls"]
    ]
    period = median(periods)
    print(
        f"  Step Functions        {run['stepfunctions'].get('executions', 0) / n:.2f} executions,"
        f" {transitions:.2f} state transitions; loop period p50 "
        + (f"{period:.2f} s (execution ÷ polls)" if period else "n/a")
    )
    lambdas_per_session = {}
    for name, entry in sorted(run["lambda"].items()):
        if name == get_fn or not entry["invocations"]:
            continue
        lambdas_per_session[name] = entry["invocations"] / n
        print(
            f"  λ {short(name):<19} {entry['invocations'] / n:.2f} invocations"
            f"  ({entry['cold_starts']} cold starts, {entry['errors']} errors in all)"
        )
    get_entry = run["lambda"].get(get_fn, {"invocations": 0, "cold_starts": 0, "handler_ms": []})
    per_get_ddb = {op: k / GET_PROBES for op, k in m["get_probe"]["dynamodb_requests"].items()}
    ddb = {op: k - per_get_ddb.get(op, 0) * gets for op, k in run["dynamodb_requests"].items()}
    ddb = {op: k for op, k in ddb.items() if k}
    print("  DynamoDB              " + ", ".join(f"{op} {k / n:.2f}" for op, k in sorted(ddb.items())))
    print(
        f"  client GETs (apart)   {gets / n:.2f} per session ({gets} in all); each GET = 1 λ {short(get_fn)}"
        f" + DynamoDB " + ", ".join(f"{op} {k:g}" for op, k in sorted(per_get_ddb.items()))
    )
    get_errors = sum(r.get_errors for r in runs)
    if get_errors:
        print(f"  client GET 5xx        {get_errors} of {gets} (read again next tick)")
    out["per_session"] = {
        "provider_calls": provider,
        "provider_calls_target": target_calls,
        "provider_calls_pass": provider <= target_calls,
        "state_transitions": transitions,
        "loop_period_p50_seconds": period,
        "lambda_invocations": lambdas_per_session,
        "dynamodb_requests": {op: k / n for op, k in ddb.items()},
        "client_gets": gets / n,
        "client_get_5xx": sum(r.get_errors for r in runs),
        "session_get_invocations": get_entry["invocations"],
        "dynamodb_per_get": per_get_ddb,
    }

    # detection latency
    latencies = [
        run.finished_at - session["ready_at"]
        for run, session in pairs
        if run.finished_at is not None and session.get("ready_at") is not None
    ]
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    target_latency = interval + LATENCY_SLACK_SECONDS
    latency_ok = p95 is not None and len(latencies) == n and p95 <= target_latency
    print(f"\ndetection latency: broker updated_at − sandbox ready_at ({len(latencies)}/{n} paired)")
    if p50 is not None and p95 is not None:
        print(
            f"  p50 {p50:.3f} s   p95 {p95:.3f} s   max {max(latencies):.3f} s"
            f"   target p95 ≤ {target_latency:g} s   {verdict(latency_ok)}"
        )
    if by_order:
        print(f"  {by_order} sessions shared a control code and were paired by creation order")
    out["detection_latency"] = {
        "p50": p50,
        "p95": p95,
        "max": max(latencies, default=None),
        "paired": len(latencies),
        "paired_by_order": by_order,
        "target_p95": target_latency,
        "pass": latency_ok,
    }

    # handler time
    times = timings(m)
    notes = {
        start_fn: "provider login + DynamoDB put + StartExecution",
        get_fn: "API event → DynamoDB get → JSON",
    }
    print("\nwarm handler time p50 (handler only; first call per worker dropped)")
    for name, t in sorted(times.items()):
        if t.warm_ms is not None:
            note = notes.get(name, "1 provider HTTP call to the loopback sandbox + DynamoDB get (+ update)")
            print(
                f"  {short(name):<15} {t.warm_ms:6.1f} ms  n={t.warm_samples:<4} {t.warm_source:<12} {note}"
            )
    where = f"warm-up wave of {n}" if m["warmed_up"] else "the measured wave"
    print(f"cold starts ({where}): new workers, init p50 (imports), first call p50 (lazy clients, secret)")
    for name, t in sorted(times.items()):
        if t.cold_starts:
            print(
                f"  {short(name):<15} {t.cold_starts:4d} ×   init {t.init_ms or 0:6.0f} ms"
                f"   first call {t.first_call_ms or 0:6.0f} ms"
            )
    out["handler_ms"] = {name: asdict(t) for name, t in times.items()}
    out["warmed_up"] = m["warmed_up"]

    # import time
    print(f"\nimport time of app (-X importtime, min of {IMPORT_RUNS}), target ≤ {IMPORT_TARGET_MS:g} ms")
    for fn, ms in imports.items():
        shown = f"{ms:6.1f} ms   {verdict(ms <= IMPORT_TARGET_MS)}" if ms is not None else "not measured"
        print(f"  {fn:<16} {shown}")
    out["import_ms"] = {
        fn: {"ms": ms, "pass": ms is not None and ms <= IMPORT_TARGET_MS} for fn, ms in imports.items()
    }

    # cost
    exec_seconds = [e.seconds for e in execs.values() if e.seconds is not None]
    duration_source = "moto execution start→stop"
    if len(exec_seconds) < n:
        exec_seconds = [r.finished_at - r.created_at for r in runs if r.finished_at is not None]
        duration_source = "session created_at→updated_at"
    exec_median = median(exec_seconds) or 0.0
    polls = status_calls / n
    writes = sum(k for op, k in ddb.items() if op in WRITE_OPS) / n
    reads = sum(k for op, k in ddb.items() if op in READ_OPS) / n

    def warm(name: str) -> float:
        t = times[name]
        return t.warm_ms if t.warm_ms is not None else t.first_call_ms or 0.0

    measured_lambdas = {}
    for name, k in lambdas_per_session.items():
        cold = run["lambda"][name]["cold_starts"] / n
        measured_lambdas[name] = [(cold, times[name].first_call_ms or 0.0), (k - cold, warm(name))]
    measured = cost_table(SessionShape(polls, exec_median, measured_lambdas, writes, reads), memory_mb)

    # A longer session repeats what one poll does; the start and the final write happen once.
    long_polls = LONG_SESSION_SECONDS / interval
    scale = long_polls / polls if polls else 0.0
    long_lambdas = {
        name: [(k if name == start_fn else k * scale, warm(name))] for name, k in lambdas_per_session.items()
    }
    long_shape = SessionShape(long_polls, LONG_SESSION_SECONDS, long_lambdas, writes, reads * scale)
    long = cost_table(long_shape, memory_mb)
    long_total = long["Express (this)"]["total"]
    get_ms = warm(get_fn) if get_fn in times else 0.0
    per_get = (
        APIGW_PER_REQUEST
        + lambda_cost(1, get_ms, memory_mb)
        + sum(k * (DDB_PER_WRITE if op in WRITE_OPS else DDB_PER_READ) for op, k in per_get_ddb.items())
    )
    cold_extra = {
        name: lambda_cost(1, (t.init_ms or 0) + (t.first_call_ms or 0) - warm(name), memory_mb)
        - LAMBDA_PER_REQUEST
        for name, t in times.items()
        if name in lambdas_per_session and t.first_call_ms is not None
    }

    print(
        f"\nAWS cost per session, us-east-1 list prices; measured: {polls:.2f} polls,"
        f" execution {exec_median:.2f} s ({duration_source}, median), λ at {memory_mb} MB"
    )
    print_cost_table("measured session" if m["warmed_up"] else "measured (cold burst)", measured)
    print(f"\n  extrapolated: {LONG_SESSION_SECONDS:g} s session, poll every {interval:g} s, warm workers")
    print_cost_table(f"{LONG_SESSION_SECONDS:g} s session", long)
    print(
        f"  target this design ≤ ${COST_TARGET_USD}: ${long_total:.6f}"
        f"   {verdict(long_total <= COST_TARGET_USD)}"
    )
    print(f"  per client GET (not in totals): ${per_get:.8f} = API GW + λ {get_ms:.0f} ms + DynamoDB read")

    billed = math.ceil(LONG_SESSION_SECONDS * 10) / 10
    std, rty = long["Std Wait/Task/Choice"]["Step Functions"], long["Std Retry-polling"]["Step Functions"]
    print(f"\n  arithmetic ({LONG_SESSION_SECONDS:g} s session, {long_polls:g} polls)")
    print(
        f"    Express   1 × $1.00/M + 0.0625 GB × {billed:g} s × $0.00001667"
        f" = ${long['Express (this)']['Step Functions']:.8f}"
    )
    print(
        f"    Standard  (3×{long_polls:g}+2) × $0.025/1k = ${std:.6f};"
        f"  Retry: ({long_polls:g}+2) × $0.025/1k = ${rty:.6f}"
    )
    for name, parts in long_lambdas.items():
        for k, ms in parts:
            print(
                f"    λ {short(name)}: {k:g} × ($0.20/M + {memory_mb / 1024:g} GB × {math.ceil(ms)} ms"
                " × $0.0000166667)"
                f" = ${lambda_cost(k, ms, memory_mb):.8f}"
            )
    print(
        f"    DynamoDB  {writes:g} W × $0.625/M + {long_shape.reads:g} R × $0.125/M"
        f" = ${long['Express (this)']['DynamoDB']:.8f};  API GW 1 × $3.50/M = ${APIGW_PER_REQUEST:.8f}"
    )
    print(
        "    cold start surcharge per new worker (init + first call − warm): "
        + ", ".join(f"{short(name)} ${c:.8f}" for name, c in cold_extra.items())
    )
    secret_bound = sum(run["lambda"][name]["cold_starts"] for name in lambdas_per_session) / n
    print(
        "    Secrets Manager: not measured (the local stack counts DynamoDB calls only);"
        " Powertools caches the secret 300 s per worker, so ≤ 1 GetSecretValue per new worker:"
        f" {secret_bound:.2f}/session in the measured wave (${secret_bound * SECRETS_PER_CALL:.7f})"
    )
    out["cost_usd"] = {
        "this_run": measured,
        "session_120s": long,
        "per_get": per_get,
        "cold_start_surcharge": cold_extra,
        "execution_seconds_median": exec_median,
        "execution_duration_source": duration_source,
        "target": COST_TARGET_USD,
        "pass": long_total <= COST_TARGET_USD,
        "secrets_manager": f"not measured; at most {secret_bound:.2f} GetSecretValue per session in this run",
    }
    out["sessions"] = [asdict(r) for r in runs]
    return out


# --- eeID phase: webhook-completed sessions, after the Dokobit run in the same stack ----------------------


@dataclass
class EeidRun:
    session_id: str
    request_id: str
    created_at: float
    status: str
    finished_at: float | None  # broker updated_at of the final record
    gets: int
    get_errors: int


@dataclass
class EeidExecution:
    status: str
    transitions: int  # states entered
    first_wait: float | None  # seconds, from the execution input


def eeid_session(
    url: str, start_barrier: threading.Barrier, complete_barrier: threading.Barrier, abort: threading.Event
) -> EeidRun:
    http = client(url)
    start_barrier.wait(timeout=60)
    answer = http.post(f"{url}{EEID_START_PATH}", json={"subject": EEID_SUBJECT}, timeout=60)
    if answer.status_code != 201:
        raise BenchError(f"eeID start answered {answer.status_code}: {answer.text[:300]}")
    started = answer.json()
    session_id = started["session_id"]
    link = urlsplit(str((started.get("next_action") or {}).get("url", "")))
    mount, _, request_id = link.path.rpartition("/ident/")
    if not request_id or "/" in request_id:
        raise BenchError(f"eeID start gave no sandbox link: {started.get('next_action')}")
    # All starts first, then every completion at once: the webhooks arrive as one burst.
    complete_barrier.wait(timeout=120)
    done = requests.post(
        f"{link.scheme}://{link.netloc}{mount}/_sandbox/complete/{request_id}",
        json={"outcome": "match", "webhook": True},
        timeout=60,
    )
    if done.status_code != 200:
        raise BenchError(f"eeID sandbox complete answered {done.status_code}: {done.text[:300]}")
    deadline = time.monotonic() + EEID_COMPLETE_TIMEOUT_SECONDS
    gets = get_errors = 0
    while True:
        time.sleep(EEID_CLIENT_POLL_SECONDS)
        answer = http.get(f"{url}/v1/sessions/{session_id}", timeout=60)
        gets += 1
        if answer.status_code >= 500:
            get_errors += 1
        elif answer.status_code != 200:
            raise BenchError(f"GET eeID session answered {answer.status_code}: {answer.text[:300]}")
        elif (session := answer.json())["status"] != "pending":
            break
        if time.monotonic() > deadline:
            raise BenchError(
                f"eeID session {session_id} still pending {EEID_COMPLETE_TIMEOUT_SECONDS:g} s after"
            )
        if abort.is_set():
            raise BenchError("aborted: another eeID session broke")
    return EeidRun(
        session_id=session_id,
        request_id=request_id,
        created_at=epoch(started["created_at"]),
        status=session["status"],
        finished_at=epoch(session["updated_at"]) if session["status"] == "completed" else None,
        gets=gets,
        get_errors=get_errors,
    )


def eeid_wave(stack: Stack, m: int) -> list[EeidRun]:
    start_barrier, complete_barrier = threading.Barrier(m), threading.Barrier(m)
    abort = threading.Event()
    runs: list[EeidRun] = []
    with ThreadPoolExecutor(max_workers=m) as pool:
        futures = [
            pool.submit(eeid_session, stack.url, start_barrier, complete_barrier, abort) for _ in range(m)
        ]
        for future in futures:
            try:
                runs.append(future.result())
            except BaseException as exc:
                abort.set()
                start_barrier.abort()
                complete_barrier.abort()
                if isinstance(exc, requests.RequestException):
                    raise BenchError(str(exc)) from exc
                raise
    return runs


def eeid_executions(moto_url: str | None, names: set[str]) -> dict[str, EeidExecution]:
    """The eeID fallback executions (named by session id), with the states each entered so far."""
    if not moto_url:
        return {}
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=moto_url,
        region_name="eu-north-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    found: dict[str, EeidExecution] = {}
    for machine in sfn.list_state_machines()["stateMachines"]:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine["stateMachineArn"]):
            for item in page["executions"]:
                if item["name"] not in names:
                    continue
                arn = item["executionArn"]
                described = sfn.describe_execution(executionArn=arn)
                wait = (json.loads(described.get("input") or "{}").get("poll") or {}).get("wait_seconds")
                entered = 0
                for events in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
                    entered += sum(1 for e in events["events"] if str(e["type"]).endswith("StateEntered"))
                found[item["name"]] = EeidExecution(described["status"], entered, wait)
    return found


def fallback_schedule(first_wait: float) -> list[float]:
    """When the fallback polls a session whose webhook never comes (seconds since start), as eeid.py waits:
    half the session's age, at least the first wait, at most 6 h, never past the link's expiry, whole seconds.
    The poll at expiry finds the request expired and ends the execution."""
    t = float(max(1, round(first_wait)))
    polls = [t]
    while t < EEID_LINK_SECONDS:
        wait = max(1.0, min(EEID_MAX_WAIT_SECONDS, max(first_wait, t / 2), EEID_LINK_SECONDS - t))
        t += max(1, round(wait))
        polls.append(t)
    return polls


def measure_eeid(stack: Stack, m: int) -> dict[str, Any]:
    moto = stack.moto_url()
    stack.reset()  # the Dokobit figures are taken; counters and sandboxes start from zero
    before = stack.stats()
    began = time.monotonic()
    runs = eeid_wave(stack, m)
    completed_after = time.monotonic() - began
    at_completion = stack.stats()
    # The fallback execution of each session is still in its first Wait; its first poll finds the session
    # final and ends it. Waiting for that makes the per-session transitions and eeid-poll calls whole.
    names = {r.session_id for r in runs}
    try:
        execs = eeid_executions(moto, names)
        first_wait = max((e.first_wait or 0 for e in execs.values()), default=EEID_FIRST_WAIT_SECONDS)
        deadline = time.monotonic() + first_wait + 60
        while any(e.status == "RUNNING" for e in execs.values()) and time.monotonic() < deadline:
            time.sleep(1.0)
            execs = eeid_executions(moto, names)
    except Exception as exc:  # noqa: BLE001 - transitions then come from the stack's counters
        print(f"note: could not read eeID executions from moto ({exc}); using /_local/stats")
        execs = {}
    after = stack.stats()
    return {
        "m": m,
        "runs": runs,
        "completed_after_seconds": completed_after,
        "phase_seconds": time.monotonic() - began,
        "executions": execs,
        "run": diff_stats(before, after),
        "at_completion": diff_stats(before, at_completion),
        "sandbox": after["sandboxes"].get("eeid", {}),
    }


def report_eeid(e: dict[str, Any], memory_mb: int) -> dict[str, Any]:
    m: int = e["m"]
    runs: list[EeidRun] = e["runs"]
    run, sandbox = e["run"], e["sandbox"]
    execs: dict[str, EeidExecution] = e["executions"]
    statuses: dict[str, int] = defaultdict(int)
    for r in runs:
        statuses[r.status] += 1
    print(
        f"\neeID: {m} concurrent {EEID_METHOD} sessions (subject {EEID_SUBJECT}), each completed at the"
        f" sandbox (match, webhook on); all completed {e['completed_after_seconds']:.1f} s after the starts,"
        f" phase {e['phase_seconds']:.1f} s with the fallback drain; sessions {dict(statuses)}"
    )

    # webhook → completed latency
    requests_by_id = {str(q["id"]): q for q in sandbox.get("requests", [])}
    latencies, after_ack = [], []
    for r in runs:
        q = requests_by_id.get(r.request_id)
        if r.finished_at is None or q is None or q.get("completed_at") is None:
            continue
        latencies.append(r.finished_at - (q["completed_at"] + EEID_WEBHOOK_DELAY))
        if q.get("webhook_sent_at"):
            after_ack.append(r.finished_at - q["webhook_sent_at"][0])
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    print(
        f"  webhook → completed   ({len(latencies)}/{m} paired) broker updated_at − first delivery's send"
        f" (sandbox completed_at + {EEID_WEBHOOK_DELAY:g} s delay)"
    )
    if p50 is not None and p95 is not None:
        print(f"    p50 {p50:.3f} s   p95 {p95:.3f} s   max {max(latencies):.3f} s")
    if after_ack:
        print(
            "    (webhook_sent_at is stamped after the broker answered 204, so updated_at − first"
            f" webhook_sent_at is p50 {percentile(after_ack, 50):+.3f} s, max {max(after_ack):+.3f} s:"
            " not a send moment)"
        )

    # provider calls and webhooks
    calls = sandbox.get("calls", {})
    tokens = calls.get("token", 0)
    per_1000 = tokens / m * 1000
    print(
        f"  token calls           {tokens} in a {e['phase_seconds']:.0f} s phase → {per_1000:.1f} per 1,000"
        f" sessions  (eeID token {EEID_TOKEN_TTL_SECONDS:g} s, cached in DynamoDB, single-flight refresh)"
    )
    print(
        f"  eeID calls/session    create {calls.get('create', 0) / m:.2f}, get {calls.get('get', 0) / m:.2f}"
        f"  (list {calls.get('list', 0)}, proof {calls.get('proof', 0)} in all)"
    )
    hooks = sandbox.get("webhooks", {})
    sent, failed = hooks.get("sent", 0), hooks.get("failed", 0)
    print(f"  webhook deliveries    {sent} sent, {failed} failed ({sent / m:.2f} acknowledged per session)")
    lambdas = {}
    for name, entry in sorted(run["lambda"].items()):
        if not short(name).startswith(f"{EEID_METHOD}-") or not entry["invocations"]:
            continue
        lambdas[short(name)] = entry["invocations"] / m
        cold_ms = median(entry["handler_ms"][: entry["cold_starts"]])
        warm_ms = median(warm_samples(entry))
        init_ms = median(entry.get("init_ms", []))
        times = ", ".join(
            f"{label} {ms:.0f} ms"
            for label, ms in (("init", init_ms), ("first call", cold_ms), ("warm", warm_ms))
            if ms is not None
        )
        print(
            f"  λ {short(name):<19} {entry['invocations'] / m:.2f} invocations"
            f"  ({entry['cold_starts']} cold starts, {entry['errors']} errors in all; p50 {times})"
        )
    for name in ("eeid-start", "eeid-webhook", "eeid-poll"):
        if name not in lambdas:
            lambdas[name] = 0.0
            print(f"  λ {name:<19} 0.00 invocations")

    # Step Functions: this phase's executions only (other executions may still be running)
    ours = [x for r in runs if (x := execs.get(r.session_id))]
    if len(ours) == m:
        executions = float(len(ours))
        transitions = float(sum(x.transitions for x in ours))
        source = "execution histories"
    else:
        executions = float(run["stepfunctions"].get("executions", 0))
        transitions = float(run["stepfunctions"].get("state_transitions", 0))
        source = "/_local/stats"
    running = sum(x.status == "RUNNING" for x in ours)
    sfn_cost = transitions / m * SFN_STANDARD_PER_TRANSITION
    print(
        f"  Step Functions        {executions / m:.2f} executions, {transitions / m:.2f} state transitions"
        f" per session (STANDARD eeid-fallback, {source}{f', {running} still running' if running else ''})"
        f" = ${sfn_cost:.8f} per session at $0.025/1k"
    )

    # worst case: no webhook ever, the fallback polls until the 7-day link expires
    first_waits = {x.first_wait for x in ours if x.first_wait is not None}
    first_wait = float(max(first_waits)) if first_waits else EEID_FIRST_WAIT_SECONDS
    schedule = fallback_schedule(first_wait)
    polls = len(schedule)
    gaps = [b - a for a, b in zip([0.0, *schedule], schedule, strict=False)]
    worst_sfn = (3 * polls + 2) * SFN_STANDARD_PER_TRANSITION
    worst_lambda = lambda_cost(polls, EEID_POLL_MS, memory_mb)
    shown = ", ".join(f"{g:g}" for g in gaps[:5])
    print(
        f"  no-webhook worst case per session: {polls} polls over {EEID_LINK_SECONDS / 86400:g} d"
        f" (waits {shown}, … s, ≤ {EEID_MAX_WAIT_SECONDS / 3600:g} h)"
    )
    print(
        f"    Step Functions (3×{polls}+2) × $0.025/1k = ${worst_sfn:.6f}"
        f" + λ {polls} × ($0.20/M + {memory_mb / 1024:g} GB × {EEID_POLL_MS:g} ms × $0.0000166667)"
        f" = ${worst_lambda:.8f}  → ${worst_sfn + worst_lambda:.6f}"
    )
    return {
        "sessions": m,
        "statuses": dict(statuses),
        "completed_after_seconds": e["completed_after_seconds"],
        "phase_seconds": e["phase_seconds"],
        "webhook_to_completed": {
            "p50": p50,
            "p95": p95,
            "max": max(latencies, default=None),
            "paired": len(latencies),
            "send_moment": f"sandbox completed_at + webhook_delay {EEID_WEBHOOK_DELAY:g} s",
            "updated_at_minus_first_webhook_sent_at_p50": percentile(after_ack, 50),
        },
        "token_calls": tokens,
        "token_calls_per_1000_sessions": per_1000,
        "eeid_calls_per_session": {k: v / m for k, v in calls.items()},
        "webhooks": {"sent": sent, "failed": failed},
        "lambda_invocations_per_session": lambdas,
        "lambda": {
            short(name): {k: entry[k] for k in ("invocations", "cold_starts", "errors")}
            for name, entry in run["lambda"].items()
            if entry["invocations"]
        },
        "stepfunctions": {
            "executions_per_session": executions / m,
            "state_transitions_per_session": transitions / m,
            "source": source,
            "still_running": running,
            "cost_per_session_usd": sfn_cost,
        },
        "no_webhook_worst_case": {
            "first_wait_seconds": first_wait,
            "polls": polls,
            "poll_times_seconds": schedule,
            "stepfunctions_usd": worst_sfn,
            "lambda_usd": worst_lambda,
            "total_usd": worst_sfn + worst_lambda,
        },
        "session_runs": [asdict(r) for r in runs],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.bench", description=__doc__)
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions (default 20)")
    parser.add_argument("--ok-after", type=float, default=7.0, help="seconds until the sandbox says ok")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON to this path")
    parser.add_argument("--port", type=int, default=0, help="port of the local stack (default: a free one)")
    parser.add_argument(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run one unmeasured wave first so the measured one meets warm workers (default on)",
    )
    parser.add_argument(
        "--eeid-sessions", type=int, default=None, help="concurrent eeID sessions (default: --sessions)"
    )
    parser.add_argument("--skip-eeid", action="store_true", help="leave out the eeID webhook phase")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.ok_after <= 0:
        parser.error("--sessions must be >= 1 and --ok-after > 0")
    if args.eeid_sessions is None:
        args.eeid_sessions = args.sessions
    if args.eeid_sessions < 1:
        parser.error("--eeid-sessions must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    stack = Stack(args.port or free_port(), args.ok_after)
    try:
        stack.start()
        measured = measure(args, stack)
        eeid = None if args.skip_eeid else measure_eeid(stack, args.eeid_sessions)
    except (BenchError, requests.RequestException, threading.BrokenBarrierError) as exc:
        stack.stop()
        print("\n".join(list(stack.tail)[-15:]), file=sys.stderr)
        print(f"bench: the run broke: {exc}\nbench: stack log kept in {stack.log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        stack.stop()

    # Measured with the stack stopped, so that its workers do not compete for the CPU.
    imports = {
        d.name: import_ms(d) for d in sorted((ROOT / "functions").iterdir()) if (d / "app.py").exists()
    }
    figures = report(args, measured, imports)
    if eeid is not None:
        figures["eeid"] = report_eeid(eeid, figures["config"]["memory_mb"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"\nJSON: {args.json}")
    if figures["statuses"] != {"completed": args.sessions}:
        print(f"bench: not every session completed; stack log kept in {stack.log_path}", file=sys.stderr)
        return 1
    if eeid is not None and figures["eeid"]["statuses"] != {"completed": args.eeid_sessions}:
        print(f"bench: not every eeID session completed; stack log kept in {stack.log_path}", file=sys.stderr)
        return 1
    stack.forget_log()
    return 0


if __name__ == "__main__":
    sys.exit(main())
