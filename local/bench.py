"""``make bench``: what a session costs (provider calls, transitions, Lambda, DynamoDB, $ beside Standard
designs), how late the broker notices an answer, handler and import times: concurrent Mobile-ID, then eeID
sessions through an in-process local stack. Counts are exact, durations medians (the machine is shared).
Exit code 0 even when a target fails; 1 when the run itself broke."""

from __future__ import annotations

import argparse
import inspect
import json
import math
import multiprocessing
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import boto3
import requests

from local.cfn import Template
from local.lambda_runtime import offline_aws_env
from local.sandboxes.eeid import EeidSandbox
from local.stack import REGION, LocalStack, isolate_from_aws
from local.webhook_receiver import epoch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "broker"))  # the methods' figures are the product's own
from eid_broker.methods import dokobit_mobile_id, dokobit_smart_id, eeid, marksign_smart_id  # noqa: E402

MOBILE_ID = dokobit_mobile_id.METHOD  # its .name and .interval_seconds
EEID_FIRST_WAIT, EEID_LINK_SECONDS = eeid.FALLBACK_FIRST_WAIT_SECONDS, eeid.LINK_LIFETIME.total_seconds()
EEID_FUNCTIONS = {"eeid-start", "eeid-webhook", "eeid-poll"}  # listed even when not invoked
API_KEY, EEID_SUBJECT = "bench-key", "EE30303039914"  # sandbox person OK TESTNUMBER
PERSON = {"phone": "+37200000766", "personal_code": "60001019906"}  # sandbox persona ok-ee
CLIENT_POLL_SECONDS, EEID_CLIENT_POLL_SECONDS, EEID_COMPLETE_TIMEOUT_SECONDS = 0.5, 0.25, 60.0
GET_PROBES, IMPORT_RUNS, IMPORT_TARGET_MS, LATENCY_SLACK_SECONDS = 10, 3, 250.0, 0.3
COST_TARGET_USD, LONG_SESSION_SECONDS, EEID_POLL_MS = 0.0003, 120.0, 100.0  # billed ms of one fallback poll
_EEID_SANDBOX = inspect.signature(EeidSandbox).parameters
# The sandbox's token lifetime, and the delay after completed_at with which a webhook delivery leaves.
EEID_TOKEN_TTL_SECONDS, EEID_WEBHOOK_DELAY = (
    float(_EEID_SANDBOX[k].default) for k in ("token_ttl", "webhook_delay")
)
# us-east-1 list prices, USD
SFN_STANDARD_PER_TRANSITION = 0.025 / 1_000
SFN_EXPRESS_PER_REQUEST, SFN_EXPRESS_PER_GB_SECOND, SFN_EXPRESS_GB = 1.00 / 1_000_000, 0.00001667, 64 / 1024
LAMBDA_PER_REQUEST, LAMBDA_PER_GB_SECOND = 0.20 / 1_000_000, 0.0000166667
DDB_PER_WRITE, DDB_PER_READ = 0.625 / 1_000_000, 0.125 / 1_000_000
APIGW_PER_REQUEST = 3.50 / 1_000_000
VERDICT = ("FAIL", "PASS")
WRITE_OPS, READ_OPS = ("PutItem", "UpdateItem", "DeleteItem"), ("GetItem", "Query")


class BenchError(Exception):
    """The run itself broke, so its figures cannot be trusted."""


def percentile(values: Iterable[float], q: float = 50) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: list[float]) -> dict[str, Any]:
    return {"p50": percentile(values), "p95": percentile(values, 95), "max": max(values, default=None)}


def short(function_name: str) -> str:
    return function_name.split("-", 3)[-1]  # eid-broker-<stage>-dokobit-poll → dokobit-poll


@dataclass
class SessionRun:
    session_id: str
    created_at: float
    status: str
    finished_at: float | None  # broker updated_at of the final record
    gets: int
    get_errors: int
    answered_at: float = 0.0  # epoch seconds: when the client read the final status
    ref: str = ""  # the sandbox's side: Mobile-ID control code, eeID identification request id


def start(url: str, method: str, body: dict[str, Any]) -> tuple[requests.Session, dict[str, Any]]:
    """A client of its own (as an integrator's backend has) and the session it started."""
    http = requests.Session()
    http.headers["x-api-key"] = API_KEY
    answer = http.post(f"{url}/v1/sessions/{method}", json=body, timeout=60)
    if answer.status_code != 201:
        raise BenchError(f"start answered {answer.status_code}: {answer.text[:300]}")
    return http, answer.json()


def read_until_final(
    http: requests.Session,
    url: str,
    started: dict,
    every: float,
    within: float,
    abort: threading.Event,
    wait: int = 0,
) -> SessionRun:
    """GET the session every ``every`` s until it is final; with ``wait``, each GET is a long-poll."""
    session_id, deadline, gets, errors = started["session_id"], time.monotonic() + within, 0, 0
    params = {"wait": wait} if wait else None
    while True:
        time.sleep(every)
        answer = http.get(f"{url}/v1/sessions/{session_id}", params=params, timeout=60)
        gets += 1
        # A 5xx is the stack straining under load, as a client would see it: counted, then read again.
        if answer.status_code >= 500:
            errors += 1
        elif answer.status_code != 200:
            raise BenchError(f"GET session answered {answer.status_code}: {answer.text[:300]}")
        elif (session := answer.json())["status"] != "pending":
            break
        if time.monotonic() > deadline or abort.is_set():
            raise BenchError(f"session {session_id} still pending after {within:.0f} s, or aborted")
    done = epoch(session["updated_at"]) if session["status"] == "completed" else None
    created = epoch(started["created_at"])
    return SessionRun(session_id, created, session["status"], done, gets, errors, time.time())


Barriers = tuple[threading.Barrier, threading.Barrier]
Work = Callable[[Barriers, threading.Event], SessionRun]


def wave(n: int, work: Work, *, tolerant: bool = False) -> tuple[list[SessionRun], float, int]:
    """N sessions at once: the runs, the wall time, how many broke (a tolerant wave goes on after one).
    The clients run in a process of their own: sharing the stack's GIL would slow what they measure."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as clients:
        return clients.submit(_wave, n, work, tolerant).result()


def _wave(n: int, work: Work, tolerant: bool) -> tuple[list[SessionRun], float, int]:
    barriers, abort = (threading.Barrier(n), threading.Barrier(n)), threading.Event()
    began, runs, broke = time.monotonic(), [], 0
    with ThreadPoolExecutor(max_workers=n) as pool:
        for future in [pool.submit(work, barriers, abort) for _ in range(n)]:
            try:
                runs.append(future.result())
            except BaseException as exc:
                broke += 1
                if tolerant and isinstance(exc, (BenchError, requests.RequestException)):
                    continue
                abort.set()
                for barrier in barriers:
                    barrier.abort()
                if isinstance(exc, requests.RequestException):
                    raise BenchError(str(exc)) from exc
                raise
    return runs, time.monotonic() - began, broke


def control_code_session(
    url: str,
    method: str,
    body: dict[str, str],
    ok_after: float,
    barriers: Barriers,
    abort: threading.Event,
    wait: int = 0,
) -> SessionRun:
    """Start, then read until final: a GET every CLIENT_POLL_SECONDS, or long-polls of ``wait`` s."""
    barriers[0].wait(timeout=60)
    http, started = start(url, method, body)
    every = 0.0 if wait else CLIENT_POLL_SECONDS
    run = read_until_final(http, url, started, every, ok_after + 90, abort, wait)
    run.ref = str((started.get("next_action") or {}).get("control_code", ""))
    return run


SMART_ID = (dokobit_smart_id.METHOD, marksign_smart_id.METHOD)
SMART_ID_PERSON = {"country": "EE", "personal_code": "40504040001"}  # sandbox persona sid-ok-ee


def measure_smart_id(stack: LocalStack, url: str, n: int, ok_after: float) -> dict[str, dict[str, Any]]:
    """Per Smart-ID method: provider calls per session against the poll floor 1 + ceil(t / interval)."""
    figures = {}
    for method in SMART_ID:
        stack.reset()
        runs, _, _ = wave(n, partial(control_code_session, url, method.name, SMART_ID_PERSON, ok_after))
        calls = stack.stats()["sandboxes"][method.name.split("-")[0]]["calls"]
        figures[method.name] = {
            "completed": sum(x.status == "completed" for x in runs),
            "provider_calls_per_session": (calls.get("smartid_login", 0) + calls.get("smartid_status", 0))
            / n,
            "poll_floor": 1 + math.ceil(ok_after / (method.interval_seconds or 1)),
        }
    return figures


def render_smart_id(figures: dict[str, dict[str, Any]], n: int) -> list[str]:
    lines = ["", f"Smart-ID: {n} concurrent sessions per method (sandbox persona sid-ok-ee)"]
    for name, f in figures.items():
        ok = f["completed"] == n and f["provider_calls_per_session"] <= f["poll_floor"]
        lines.append(
            f"  {name:<20} provider calls/session {f['provider_calls_per_session']:.2f}"
            f" (poll floor {f['poll_floor']})   {VERDICT[ok]}"
        )
    return lines


def eeid_session(url: str, barriers: Barriers, abort: threading.Event) -> SessionRun:
    barriers[0].wait(timeout=60)
    http, started = start(url, "eeid", {"subject": EEID_SUBJECT})
    link = urlsplit(str((started.get("next_action") or {}).get("url", "")))
    mount, _, request_id = link.path.rpartition("/ident/")
    if not request_id or "/" in request_id:
        raise BenchError(f"eeID start gave no sandbox link: {started.get('next_action')}")
    barriers[1].wait(timeout=120)  # all starts first, then every completion at once: a burst of webhooks
    complete = f"{link.scheme}://{link.netloc}{mount}/_sandbox/complete/{request_id}"
    done = requests.post(complete, json={"outcome": "match", "webhook": True}, timeout=60)
    if done.status_code != 200:
        raise BenchError(f"eeID sandbox complete answered {done.status_code}: {done.text[:300]}")
    run = read_until_final(http, url, started, EEID_CLIENT_POLL_SECONDS, EEID_COMPLETE_TIMEOUT_SECONDS, abort)
    run.ref = request_id
    return run


class Execution(NamedTuple):
    status: str
    seconds: float | None
    transitions: int  # states entered


def executions(moto_url: str, names: set[str], timeout: float) -> dict[str, Execution]:
    """The executions named after the given sessions, once none runs any more or after ``timeout``."""
    sfn = boto3.client("stepfunctions", endpoint_url=moto_url, region_name=REGION)
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Execution] = {}
        try:
            for machine in sfn.list_state_machines()["stateMachines"]:
                listed = sfn.list_executions(stateMachineArn=machine["stateMachineArn"], maxResults=1000)
                for arn in (x["executionArn"] for x in listed["executions"] if x["name"] in names):
                    x = sfn.describe_execution(executionArn=arn)
                    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
                    seconds = (x["stopDate"] - x["startDate"]).total_seconds() if "stopDate" in x else None
                    entered = sum(str(e["type"]).endswith("StateEntered") for e in events)
                    found[arn.rsplit(":", 1)[-1]] = Execution(x["status"], seconds, entered)
        except Exception as exc:  # noqa: BLE001 - the figures then come from session timestamps and the stats
            print(f"note: could not read executions from moto ({exc}); using other sources")
            return {}
        if all(x.status != "RUNNING" for x in found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(0.25 if timeout <= 30 else 1.0)


def diff_stats(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Counters of ``after`` minus ``before`` (both ``LocalStack.stats()``; counters only ever grow)."""
    lambdas = {}
    for name, now in after["lambda"].items():
        then = before["lambda"].get(name, {})
        lambdas[name] = {k: now[k] - then.get(k, 0) for k in ("invocations", "cold_starts", "errors")}
        lambdas[name] |= {k: now[k][len(then.get(k, [])) :] for k in ("handler_ms", "init_ms")}
    ddb = {op: n - before["dynamodb_requests"].get(op, 0) for op, n in after["dynamodb_requests"].items()}
    sfn = {k: n - before["stepfunctions"].get(k, 0) for k, n in after["stepfunctions"].items()}
    calls = aws_calls(after)
    calls.subtract(aws_calls(before))
    then = {(x["table"], x["key"]): x for x in before["dynamodb_keys"]}
    keys = []
    for row in after["dynamodb_keys"]:
        old = then.get((row["table"], row["key"]), {})
        change = {k: row[k] - old.get(k, 0) for k in ("reads", "writes")}
        if any(change.values()):
            keys.append(row | change)
    return {
        "lambda": lambdas,
        "dynamodb_requests": {op: k for op, k in ddb.items() if k},
        "stepfunctions": sfn,
        "aws_requests": +calls,  # (caller, service, operation, table) -> count
        "dynamodb_keys": keys,  # table, key, reads, writes, written_at (the last write's time)
        "api_requests": after["api_requests"] - before["api_requests"],
    }


Call = tuple[str, str, str, str]  # (caller, service, operation, table): see LocalStack.stats()


def aws_calls(stats: dict[str, Any]) -> Counter[Call]:
    rows = stats["aws_requests"]
    return Counter({(x["caller"], x["service"], x["operation"], x["table"]): x["count"] for x in rows})


def table_name(physical: str) -> str:
    return physical.rsplit("-", 1)[-1].removesuffix("Table").lower()  # eid-broker-local-SessionsTable


def calls_by(calls: Counter[Call], callers: Iterable[str], service: str) -> Counter[tuple[str, str]]:
    """(operation, table) -> count of the given callers' calls to one service."""
    wanted, found = set(callers), Counter[tuple[str, str]]()
    for (caller, s, op, table), n in calls.items():
        if caller in wanted and s == service:
            found[op, table_name(table) if table else ""] += n
    return found


@dataclass
class Function:
    """One function in one phase: counts, and its handler time (warm, and what a new worker costs)."""

    invocations: int
    cold_starts: int
    errors: int
    warm_ms: float | None  # p50; stats do not mark a worker's first call, but cold ones are recorded first
    warm_samples: int
    new_workers: int  # cold starts of the warm-up wave when there was one: what init and first call are of
    init_ms: float | None
    first_call_ms: float | None

    @classmethod
    def of(cls, entry: dict[str, Any], cold: dict[str, Any]) -> Function:
        counts, warm = (entry["invocations"], entry["cold_starts"], entry["errors"]), entry["handler_ms"]
        warm, new = warm[entry["cold_starts"] :], (cold["cold_starts"], percentile(cold["init_ms"]))
        return cls(*counts, percentile(warm), len(warm), *new, percentile(cold["handler_ms"][: new[0]]))

    @property
    def warm(self) -> float:
        return self.warm_ms if self.warm_ms is not None else self.first_call_ms or 0.0


def pair_sessions(runs: list[SessionRun], provided: list[Any]) -> tuple[list[tuple[Any, Any]], int]:
    """Each broker session with its sandbox session: by control code, then by creation order among equals."""
    groups: dict[str, tuple[list[Any], list[Any]]] = defaultdict(lambda: ([], []))
    for run in sorted(runs, key=lambda x: x.created_at):
        groups[run.ref][0].append(run)
    for session in sorted(provided, key=lambda x: x["created_at"]):
        groups[str(session.get("control_code", ""))][1].append(session)
    by_order = sum(len(ours) for ours, theirs in groups.values() if len(ours) > 1 or len(theirs) > 1)
    return [pair for ours, theirs in groups.values() for pair in zip(ours, theirs, strict=False)], by_order


def import_ms(function_dir: Path) -> float | None:
    """``import app`` of one function as ``-X importtime`` measures it: the best of ``IMPORT_RUNS``."""
    env = {k: os.environ.get(k, "") for k in ("PATH", "HOME")} | offline_aws_env("us-east-1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers" / "broker"), str(function_dir)])
    best: float | None = None
    for _ in range(IMPORT_RUNS):
        command = [sys.executable, "-X", "importtime", "-c", "import app"]
        done = subprocess.run(command, cwd=function_dir, env=env, capture_output=True, text=True, timeout=60)
        for line in done.stderr.splitlines():
            parts = line.split("|")
            # Only the top-level line has exactly one space before the module name.
            if len(parts) == 3 and parts[2] == " app" and parts[1].strip().isdigit():
                best = min(best or math.inf, int(parts[1]) / 1000)
    return best


def lambda_cost(invocations: float, ms: float, memory_mb: int) -> float:
    return invocations * (LAMBDA_PER_REQUEST + memory_mb / 1024 * math.ceil(ms) / 1000 * LAMBDA_PER_GB_SECOND)


Lambdas = dict[str, list[tuple[float, float]]]  # function -> [(invocations, billed ms each)]


def cost_table(polls: float, seconds: float, fns: Lambdas, rw: tuple[float, float], mb: int) -> dict:
    """One session's cost per design (columns) and service (rows)."""
    shared = {
        "Lambda": sum(lambda_cost(k, ms, mb) for parts in fns.values() for k, ms in parts),
        "DynamoDB": rw[0] * DDB_PER_WRITE + rw[1] * DDB_PER_READ,
        "API Gateway (start)": APIGW_PER_REQUEST,
    }
    billed = math.ceil(round(seconds * 10, 6)) / 10
    designs = {
        "Express (this)": SFN_EXPRESS_PER_REQUEST + SFN_EXPRESS_GB * billed * SFN_EXPRESS_PER_GB_SECOND,
        "Std Wait/Task/Choice": (3 * polls + 2) * SFN_STANDARD_PER_TRANSITION,
        "Std Retry-polling": (polls + 2) * SFN_STANDARD_PER_TRANSITION,
    }
    table = {design: {"Step Functions": cost, **shared} for design, cost in designs.items()}
    return {design: {**rows, "total": sum(rows.values())} for design, rows in table.items()}


def fallback_schedule(first_wait: float) -> list[float]:
    """When eeID's fallback polls a session whose webhook never comes (s since start), as the method waits:
    half the session's age, at least the first wait, at most the cap, never past the link's expiry."""
    t, cap = float(max(1, round(first_wait))), eeid.FALLBACK_MAX_WAIT_SECONDS
    polls = [t]
    while t < EEID_LINK_SECONDS:
        t += max(1, round(max(1.0, min(cap, max(first_wait, t / 2), EEID_LINK_SECONDS - t))))
        polls.append(t)
    return polls


@dataclass  # every figure of the Mobile-ID phase, filled in as it is measured
class MobileIdResult:
    sessions: int
    ok_after: float
    memory_mb: int
    machine: str
    interval: float  # the method's own: the bench runs the template's defaults
    wall_seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    warmup_failed: int | None = None  # None: no warm-up wave
    provider_calls: dict[str, int] = field(default_factory=dict)  # login, status: all sessions
    stepfunctions: dict[str, Any] = field(default_factory=dict)  # per session, and the loop period p50
    functions: dict[str, Function] = field(default_factory=dict)
    get_function: str = ""  # the one behind GET /v1/sessions/{session_id}
    dynamodb: dict[str, float] = field(default_factory=dict)  # per session, the client's GETs apart
    dynamodb_per_get: dict[str, float] = field(default_factory=dict)
    client_gets: dict[str, int] = field(default_factory=dict)  # all, 5xx
    latency: dict[str, Any] = field(default_factory=dict)  # detection: p50, p95, max, paired, ...
    cost: dict[str, Any] = field(default_factory=dict)
    passes: dict[str, bool] = field(default_factory=dict)
    imports: dict[str, float | None] = field(default_factory=dict)
    runs: list[SessionRun] = field(default_factory=list)


@dataclass  # every figure of the eeID phase, filled in as it is measured
class EeidResult:
    sessions: int
    statuses: dict[str, int] = field(default_factory=dict)
    completed_after_seconds: float = 0.0
    phase_seconds: float = 0.0
    webhook_to_completed: dict[str, Any] = field(default_factory=dict)  # p50, p95, max, paired
    calls: dict[str, int] = field(default_factory=dict)  # the eeID API's, all sessions
    webhooks: dict[str, int] = field(default_factory=dict)  # sent, failed
    functions: dict[str, Function] = field(default_factory=dict)
    stepfunctions: dict[str, Any] = field(default_factory=dict)
    worst_case: dict[str, Any] = field(default_factory=dict)  # no webhook ever: polls until the link expires
    runs: list[SessionRun] = field(default_factory=list)


def measure_mobile_id(args: argparse.Namespace, stack: LocalStack, url: str, mb: int) -> MobileIdResult:
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    r = MobileIdResult(args.sessions, args.ok_after, mb, machine, MOBILE_ID.interval_seconds)
    n, work = r.sessions, partial(control_code_session, url, MOBILE_ID.name, PERSON, r.ok_after)
    routes = {(x.method, x.path): x for x in stack.routes}
    start_fn = routes["POST", f"/v1/sessions/{MOBILE_ID.name}"].function_name
    r.get_function = get_fn = routes["GET", "/v1/sessions/{session_id}"].function_name
    stack.reset()
    cold = None
    if args.warmup:
        # A deployed broker reuses warm workers; a burst of N cold starts on a small machine measures
        # process spawning instead. The warm-up wave's cold starts are reported on their own.
        before = stack.stats()
        warmup, _, broke = wave(n, work, tolerant=True)
        r.warmup_failed = broke + sum(x.status != "completed" for x in warmup)
        executions(stack.moto_url, {x.session_id for x in warmup}, 30)
        cold = diff_stats(before, stack.stats())
        stack.reset()
    before = stack.stats()
    r.runs, r.wall_seconds, _ = wave(n, work)
    execs = executions(stack.moto_url, {x.session_id for x in r.runs}, 30)
    after = stack.stats()
    run, sandbox = diff_stats(before, after), after["sandboxes"].get("dokobit", {})
    probe = f"{url}/v1/sessions/{r.runs[0].session_id}"
    for _ in range(GET_PROBES):  # after the measured window: what one GET costs
        requests.get(probe, headers={"x-api-key": API_KEY}, timeout=60).raise_for_status()
    per_get = diff_stats(after, stack.stats())["dynamodb_requests"]
    r.dynamodb_per_get = {op: k / GET_PROBES for op, k in per_get.items()}
    for name, entry in run["lambda"].items():
        r.functions[name] = Function.of(entry, (cold or run)["lambda"].get(name, entry))

    r.statuses = dict(Counter(x.status for x in r.runs))
    r.provider_calls = {k: sandbox.get("calls", {}).get(k, 0) for k in ("login", "status")}
    pairs, by_order = pair_sessions(r.runs, sandbox.get("sessions", []))
    loops = [(execs.get(x.session_id), s["status_calls"]) for x, s in pairs]
    r.stepfunctions = {k: run["stepfunctions"].get(k, 0) / n for k in ("executions", "state_transitions")}
    r.stepfunctions["loop_period_p50"] = percentile(x.seconds / k for x, k in loops if x and x.seconds and k)
    latencies = [x.finished_at - s["ready_at"] for x, s in pairs if x.finished_at and s.get("ready_at")]
    r.latency = {**spread(latencies), "paired": len(latencies), "paired_by_order": by_order}
    r.latency["target_p95"] = target = r.interval + LATENCY_SLACK_SECONDS
    r.client_gets = {"all": sum(x.gets for x in r.runs), "5xx": sum(x.get_errors for x in r.runs)}
    for op, k in run["dynamodb_requests"].items():
        if k := (k - r.dynamodb_per_get.get(op, 0) * r.client_gets["all"]) / n:
            r.dynamodb[op] = k

    seconds, source = [x.seconds for x in execs.values() if x.seconds], "moto execution start→stop"
    if len(seconds) < n:  # moto could not tell: the sessions' own timestamps
        seconds = [x.finished_at - x.created_at for x in r.runs if x.finished_at]
        source = "session created_at→updated_at"
    polls, long_polls = r.provider_calls["status"] / n, LONG_SESSION_SECONDS / r.interval
    writes, reads = (sum(k for op, k in r.dynamodb.items() if op in ops) for ops in (WRITE_OPS, READ_OPS))
    fns = {name: f for name, f in r.functions.items() if name != get_fn and f.invocations}
    split = {
        k: [(f.cold_starts / n, f.first_call_ms or 0.0), ((f.invocations - f.cold_starts) / n, f.warm)]
        for k, f in fns.items()
    }
    # A longer session repeats what one poll does; the start and the final write happen once.
    scale = long_polls / polls if polls else 0.0
    long = {k: [(f.invocations / n * (1 if k == start_fn else scale), f.warm)] for k, f in fns.items()}
    get_ms = r.functions[get_fn].warm if get_fn in r.functions else 0.0
    get_ddb = sum(
        k * (DDB_PER_WRITE if op in WRITE_OPS else DDB_PER_READ) for op, k in r.dynamodb_per_get.items()
    )
    r.cost = {
        "measured": cost_table(polls, percentile(seconds) or 0.0, split, (writes, reads), mb),
        "long": cost_table(long_polls, LONG_SESSION_SECONDS, long, (writes, reads * scale), mb),
        "polls": polls,
        "execution_seconds_p50": percentile(seconds) or 0.0,
        "execution_source": source,
        "per_get": APIGW_PER_REQUEST + lambda_cost(1, get_ms, mb) + get_ddb,
    }
    r.passes = {
        "provider_calls": sum(r.provider_calls.values()) / n <= 1 + math.ceil(r.ok_after / r.interval),
        "detection_latency": len(latencies) == n and (r.latency["p95"] or math.inf) <= target,
        "cost": r.cost["long"]["Express (this)"]["total"] <= COST_TARGET_USD,
    }
    return r


def measure_eeid(stack: LocalStack, url: str, m: int, mb: int) -> EeidResult:
    """M eeID sessions completed at the sandbox at once (webhooks on), after the Mobile-ID phase."""
    stack.reset()
    r, before, began = EeidResult(m), stack.stats(), time.monotonic()
    r.runs, r.completed_after_seconds, _ = wave(m, partial(eeid_session, url))
    # Each fallback execution is still in its first Wait; its first poll finds the session final and ends
    # it. Waiting for that makes the per-session transitions and eeid-poll calls whole.
    execs = executions(stack.moto_url, {x.session_id for x in r.runs}, EEID_FIRST_WAIT + 60)
    after, r.phase_seconds = stack.stats(), time.monotonic() - began
    run, sandbox = diff_stats(before, after), after["sandboxes"].get("eeid", {})
    by_id = {str(q["id"]): q for q in sandbox.get("requests", [])}
    done = [(x.finished_at, by_id.get(x.ref) or {}) for x in r.runs]
    latencies = [at - q["completed_at"] - EEID_WEBHOOK_DELAY for at, q in done if at and "completed_at" in q]
    r.webhook_to_completed = {**spread(latencies), "paired": len(latencies)}
    r.statuses = dict(Counter(x.status for x in r.runs))
    r.calls, r.webhooks = dict(sandbox.get("calls", {})), dict(sandbox.get("webhooks", {}))
    r.functions = {short(name): Function.of(e, e) for name, e in run["lambda"].items() if e["invocations"]}
    ours = [x for y in r.runs if (x := execs.get(y.session_id))]
    count, transitions, source = len(ours), sum(x.transitions for x in ours), "execution histories"
    if count != m:
        count, transitions, source = *run["stepfunctions"].values(), "/_local/stats"
    r.stepfunctions = {"executions_per_session": count / m, "state_transitions_per_session": transitions / m}
    r.stepfunctions |= {"source": source, "still_running": sum(x.status == "RUNNING" for x in ours)}
    r.stepfunctions["cost_per_session_usd"] = transitions / m * SFN_STANDARD_PER_TRANSITION
    schedule = fallback_schedule(EEID_FIRST_WAIT)
    r.worst_case = {"first_wait_seconds": EEID_FIRST_WAIT, "poll_times_seconds": schedule, "memory_mb": mb}
    r.worst_case["stepfunctions_usd"] = (3 * len(schedule) + 2) * SFN_STANDARD_PER_TRANSITION
    r.worst_case["lambda_usd"] = lambda_cost(len(schedule), EEID_POLL_MS, mb)
    return r


def table_lines(title: str, table: dict[str, dict[str, float]]) -> list[str]:
    rows = [(row, [f"${costs[row]:.8f}" for costs in table.values()]) for row in next(iter(table.values()))]
    return [f"  {k:<22}" + "".join(f"{cell:>22}" for cell in cells) for k, cells in [(title, table), *rows]]


def render_mobile_id(r: MobileIdResult) -> list[str]:
    n, sfn, lat, cost, ok, warmed = r.sessions, r.stepfunctions, r.latency, r.cost, r.passes, r.warmup_failed
    (login, status), gets, period = r.provider_calls.values(), r.client_gets["all"], sfn["loop_period_p50"]
    out = [
        f"eid-broker bench: {n} concurrent {MOBILE_ID.name} sessions; sandbox ok after {r.ok_after:g} s;"
        f" poll interval {r.interval:g} s (template default); client GET every {CLIENT_POLL_SECONDS:g} s",
        f"machine: {r.machine}; measured wave {r.wall_seconds:.1f} s; sessions {r.statuses}",
    ]
    if warmed is not None:
        out.append(f"warm-up: an unmeasured wave of {n} first; {warmed} failed in its cold-start burst")
    out += [
        "\nper session (exact counts ÷ N)",
        f"  provider calls        {(login + status) / n:.2f}  (login {login} + status {status})   target"
        f" 1+ceil({r.ok_after:g}/{r.interval:g}) = {1 + math.ceil(r.ok_after / r.interval)}"
        f"   {VERDICT[ok['provider_calls']]}",
        f"  Step Functions        {sfn['executions']:.2f} executions, {sfn['state_transitions']:.2f} state"
        " transitions; loop period p50 " + (f"{period:.2f} s (execution ÷ polls)" if period else "n/a"),
    ]
    for name, f in sorted(r.functions.items()):
        if name != r.get_function and f.invocations:
            counts = f"({f.cold_starts} cold starts, {f.errors} errors in all)"
            out.append(f"  λ {short(name):<19} {f.invocations / n:.2f} invocations  {counts}")
    per_get = ", ".join(f"{op} {k:g}" for op, k in sorted(r.dynamodb_per_get.items()))
    out += [
        "  DynamoDB              " + ", ".join(f"{op} {k:.2f}" for op, k in sorted(r.dynamodb.items())),
        f"  client GETs (apart)   {gets / n:.2f} per session ({gets} in all); each GET = 1 λ"
        f" {short(r.get_function)} + DynamoDB {per_get}; {r.client_gets['5xx']} answered 5xx (read again)",
        f"\ndetection latency: broker updated_at − sandbox ready_at ({lat['paired']}/{n} paired,"
        f" {lat['paired_by_order']} by creation order as they shared a control code)",
    ]
    if lat["p95"] is not None:
        target = f"target p95 ≤ {lat['target_p95']:g} s   {VERDICT[ok['detection_latency']]}"
        out.append(f"  p50 {lat['p50']:.3f} s   p95 {lat['p95']:.3f} s   max {lat['max']:.3f} s   {target}")
    out.append("\nwarm handler time p50 (handler only; first call per worker dropped)")
    for name, f in sorted(r.functions.items()):
        if f.warm_ms is not None:
            out.append(f"  {short(name):<15} {f.warm_ms:6.1f} ms  n={f.warm_samples}")
    where = f"warm-up wave of {n}" if warmed is not None else "the measured wave"
    out.append(f"cold starts ({where}): new workers, init p50 (imports), first call p50 (clients, secret)")
    for name, f in sorted(r.functions.items()):
        if f.new_workers:
            first = f"first call {f.first_call_ms or 0:6.0f} ms"
            out.append(f"  {short(name):<15} {f.new_workers:4d} ×   init {f.init_ms or 0:6.0f} ms   {first}")
    target = f"target ≤ {IMPORT_TARGET_MS:g} ms"
    out.append(f"\nimport time of app (-X importtime, min of {IMPORT_RUNS}), {target}")
    for fn, ms in r.imports.items():
        out.append(f"  {fn:<16} " + (f"{ms:6.1f} ms   {VERDICT[ms <= IMPORT_TARGET_MS]}" if ms else "n/a"))
    total = cost["long"]["Express (this)"]["total"]
    out += [
        f"\nAWS cost per session, us-east-1 list prices; measured: {cost['polls']:.2f} polls, execution"
        f" {cost['execution_seconds_p50']:.2f} s ({cost['execution_source']}, median), λ at {r.memory_mb} MB",
        *table_lines("measured session" if warmed is not None else "measured (cold burst)", cost["measured"]),
        f"\n  extrapolated: {LONG_SESSION_SECONDS:g} s session, poll every {r.interval:g} s, warm workers",
        *table_lines(f"{LONG_SESSION_SECONDS:g} s session", cost["long"]),
        f"  target this design ≤ ${COST_TARGET_USD}: ${total:.6f}   {VERDICT[ok['cost']]}",
        f"  per client GET (not in totals): ${cost['per_get']:.8f} = API GW + λ + DynamoDB read",
    ]
    return out


def render_eeid(e: EeidResult) -> list[str]:
    m, hook, sfn, worst, calls = e.sessions, e.webhook_to_completed, e.stepfunctions, e.worst_case, e.calls
    tokens, sent, failed = calls.get("token", 0), e.webhooks.get("sent", 0), e.webhooks.get("failed", 0)
    out = [
        f"\neeID: {m} concurrent eeid sessions (subject {EEID_SUBJECT}), each completed at the sandbox"
        f" (match, webhook on); all completed {e.completed_after_seconds:.1f} s after the starts, phase"
        f" {e.phase_seconds:.1f} s with the fallback drain; sessions {e.statuses}",
        f"  webhook → completed   ({hook['paired']}/{m} paired) broker updated_at − first delivery's send"
        f" (sandbox completed_at + {EEID_WEBHOOK_DELAY:g} s delay)",
    ]
    if hook["p95"] is not None:
        out.append(f"    p50 {hook['p50']:.3f} s   p95 {hook['p95']:.3f} s   max {hook['max']:.3f} s")
    out += [
        f"  token calls           {tokens} in a {e.phase_seconds:.0f} s phase → {tokens / m * 1000:.1f}"
        f" per 1,000 sessions  (token lives {EEID_TOKEN_TTL_SECONDS:g} s, cached in DynamoDB, single flight)",
        f"  eeID calls/session    create {calls.get('create', 0) / m:.2f}, get {calls.get('get', 0) / m:.2f}"
        f"  (list {calls.get('list', 0)}, proof {calls.get('proof', 0)} in all)",
        f"  webhook deliveries    {sent} sent, {failed} failed ({sent / m:.2f} acknowledged per session)",
    ]
    for name in sorted({x for x in e.functions if x.startswith("eeid-")} | EEID_FUNCTIONS):
        f = e.functions.get(name) or Function(0, 0, 0, None, 0, 0, None, None)
        times = [("init", f.init_ms), ("first call", f.first_call_ms), ("warm", f.warm_ms)]
        shown = ", ".join(f"{label} {ms:.0f} ms" for label, ms in times if ms is not None)
        counts = f"  ({f.cold_starts} cold starts, {f.errors} errors in all; p50 {shown})"
        out.append(f"  λ {name:<19} {f.invocations / m:.2f} invocations{counts if f.invocations else ''}")
    running = f", {sfn['still_running']} still running" if sfn["still_running"] else ""
    polls = worst["poll_times_seconds"]
    gaps = ", ".join(f"{b - a:g}" for a, b in list(zip([0.0, *polls], polls, strict=False))[:5])
    sfn_usd, lambda_usd = worst["stepfunctions_usd"], worst["lambda_usd"]
    out += [
        f"  Step Functions        {sfn['executions_per_session']:.2f} executions,"
        f" {sfn['state_transitions_per_session']:.2f} state transitions per session (STANDARD eeid-fallback,"
        f" {sfn['source']}{running}) = ${sfn['cost_per_session_usd']:.8f} per session at $0.025/1k",
        f"  no-webhook worst case per session: {len(polls)} polls over {EEID_LINK_SECONDS / 86400:g} d"
        f" (waits {gaps}, … s, ≤ {eeid.FALLBACK_MAX_WAIT_SECONDS / 3600:g} h): Step Functions"
        f" (3×{len(polls)}+2) × $0.025/1k = ${sfn_usd:.6f} + λ {len(polls)} × {EEID_POLL_MS:g} ms"
        f" = ${lambda_usd:.8f}  → ${sfn_usd + lambda_usd:.6f}",
    ]
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.bench", description=__doc__)
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions (default 20)")
    parser.add_argument("--ok-after", type=float, default=7.0, help="seconds until the sandbox says ok")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON to this path")
    parser.add_argument("--port", type=int, default=0, help="port of the local stack (default: a free one)")
    warmup = "run one unmeasured wave first so the measured one meets warm workers (default on)"
    parser.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=True, help=warmup)
    parser.add_argument("--eeid-sessions", type=int, help="concurrent eeID sessions (default: --sessions)")
    parser.add_argument("--skip-eeid", action="store_true", help="leave out the eeID webhook phase")
    args = parser.parse_args(argv)
    args.eeid_sessions = args.sessions if args.eeid_sessions is None else args.eeid_sessions
    if min(args.sessions, args.eeid_sessions) < 1 or args.ok_after <= 0:
        parser.error("--sessions and --eeid-sessions must be >= 1, --ok-after > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # raises KeyboardInterrupt: a clean stop
    # The template's defaults are measured, whatever the caller's shell holds; every bench session is the
    # same test person, so the per-person limit is off. The sandboxes read os.environ, the stack its copy.
    for name in ("POLL_INTERVAL_SECONDS", "SESSION_TIMEOUT_SECONDS", "DOKOBIT_BASE_URL"):
        os.environ.pop(name, None)
    os.environ.update(LOCAL_API_KEY=API_KEY, PERSON_START_LIMIT="0")
    os.environ["DOKOBIT_SANDBOX_OK_AFTER"] = os.environ["MARKSIGN_SANDBOX_OK_AFTER"] = str(args.ok_after)
    environ = dict(os.environ)
    isolate_from_aws()
    log = tempfile.NamedTemporaryFile("w", prefix="eid-broker-bench-", suffix=".log", delete=False)  # noqa: SIM115
    stack = LocalStack(ROOT, port=args.port, environ=environ, out=log, err=log)
    functions = Template.load(ROOT / "template.yaml").of_type("AWS::Serverless::Function")
    mb, broke = max(int(f["Properties"].get("MemorySize", 128)) for _, f in functions), None
    try:
        stack.start()
        url = f"http://127.0.0.1:{stack.port}"
        result = measure_mobile_id(args, stack, url, mb)
        smart_id = measure_smart_id(stack, url, args.sessions, args.ok_after)
        eeid_result = None if args.skip_eeid else measure_eeid(stack, url, args.eeid_sessions, mb)
    except (BenchError, requests.RequestException, threading.BrokenBarrierError) as exc:
        broke = exc
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        stack.stop()
        log.close()
    if broke is not None:
        print(*Path(log.name).read_text(encoding="utf-8").splitlines()[-15:], sep="\n", file=sys.stderr)
        print(f"bench: the run broke: {broke}\nbench: stack log kept in {log.name}", file=sys.stderr)
        return 1
    # Measured with the stack stopped, so that its workers do not compete for the CPU.
    functions_dirs = [d for d in sorted((ROOT / "functions").iterdir()) if (d / "app.py").exists()]
    result.imports = {d.name: import_ms(d) for d in functions_dirs}
    lines = render_mobile_id(result) + render_smart_id(smart_id, args.sessions)
    print("\n".join(lines + (render_eeid(eeid_result) if eeid_result else [])))
    if args.json:
        figures = {
            **asdict(result),
            "smart_id": smart_id,
            **({"eeid": asdict(eeid_result)} if eeid_result else {}),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"\nJSON: {args.json}")
    eeid_done = eeid_result is None or eeid_result.statuses == {"completed": args.eeid_sessions}
    smart_id_done = all(f["completed"] == args.sessions for f in smart_id.values())
    if result.statuses != {"completed": args.sessions} or not eeid_done or not smart_id_done:
        print(f"bench: not every session completed; stack log kept in {log.name}", file=sys.stderr)
        return 1
    Path(log.name).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
