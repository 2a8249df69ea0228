"""``make bench``: what a session costs (provider calls, transitions, Lambda, DynamoDB, $ beside Standard
designs), how late the broker notices an answer, handler and import times: concurrent Mobile-ID, then eeID
sessions through an in-process local stack. Counts are exact, durations medians (the machine is shared).
Exit code 0 even when a target fails; 1 when the run itself broke."""

from __future__ import annotations

import argparse
import inspect
import itertools
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

from local.bench import capacity
from local.bench.capacity import Counts
from local.bench.webhook_receiver import Arrival, WebhookReceiver, epoch
from local.emulator.cfn import Template
from local.emulator.lambda_runtime import MAX_WORKERS_PER_FUNCTION, offline_aws_env
from local.emulator.stack import REGION, STACK_CALLER, LocalStack, isolate_from_aws
from local.sandboxes.eeid import EeidSandbox

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "layers" / "broker"))  # the methods' figures are the product's own
from eid_broker.methods import dokobit_mobile_id, dokobit_smart_id, eeid, marksign_smart_id  # noqa: E402
from eid_broker.sessions.service import SESSION_ID  # noqa: E402
from eid_broker.webhooks.targets import TIMEOUT_SECONDS as WEBHOOK_TIMEOUT_SECONDS  # noqa: E402

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
SQS_PER_REQUEST, DATA_OUT_PER_GB = 0.40 / 1_000_000, 0.09  # standard queue; internet egress, first 10 TB
VERDICT = ("FAIL", "PASS")
WRITE_OPS, READ_OPS = ("PutItem", "UpdateItem", "DeleteItem"), ("GetItem", "Query", "BatchGetItem")
# Outbound webhooks: the receiver's targets (API.md v1.1) and what the phase does.
LONG_POLL_WAIT, HOOK_TARGET_P95, KNOWN_SLACK, PERIOD_SLACK = 25, 1.0, 1.0, 0.1
FAILING_EVENTS, ARRIVAL_TIMEOUT, DUPLICATE_GRACE = 2, 60.0, 1.0
SQS_MAX_DELAY, MEAN_JITTER = 900, 0.05  # a longer wait is several hops; the sender adds 0-10 % jitter
WEBHOOK_TIMEOUT_MS = WEBHOOK_TIMEOUT_SECONDS * 1000  # an attempt whose receiver never answers
# eeID cold and warm: single sessions after the webhook path's idle workers ended, then a warm wave.
EEID_SINGLE_RUNS, EEID_COLD_PATH = 3, ("eeid-webhook", "webhook-dispatch", "webhook-send")
# Capacity on paper: a Mobile-ID session pends at most this long; the target load (starts/s, pending).
SESSION_LIFETIME, CAPACITY_TARGET = 120.0, (1_000.0, 100_000.0)


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


_CLIENTS: dict[str, ProcessPoolExecutor] = {}  # one process for every wave's clients, made at the first


def wave(n: int, work: Work, *, tolerant: bool = False) -> tuple[list[SessionRun], float, int]:
    """N sessions at once: the runs, the wall time, how many broke (a tolerant wave goes on after one).
    The clients run in a process of their own: sharing the stack's GIL would slow what they measure."""
    if "pool" not in _CLIENTS:
        _CLIENTS["pool"] = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    return _CLIENTS["pool"].submit(_wave, n, work, tolerant).result()


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
    stagger: float = 0.0,
) -> SessionRun:
    """Start, then read until final: a GET every CLIENT_POLL_SECONDS, or long-polls of ``wait`` s. With
    ``stagger`` the wave's starts spread evenly over that many seconds instead of coming at once."""
    index = barriers[0].wait(timeout=60)
    time.sleep(stagger * index / barriers[0].parties)
    http, started = start(url, method, body)
    every = 0.0 if wait else CLIENT_POLL_SECONDS
    run = read_until_final(http, url, started, every, ok_after + 90, abort, wait)
    run.ref = str((started.get("next_action") or {}).get("control_code", ""))
    return run


SMART_ID = (dokobit_smart_id.METHOD, marksign_smart_id.METHOD)
SMART_ID_PERSON = {"country": "EE", "personal_code": "40504040001"}  # sandbox persona sid-ok-ee


def measure_smart_id(
    stack: LocalStack, url: str, n: int, ok_after: float, receiver: WebhookReceiver
) -> tuple[dict[str, dict[str, Any]], dict[str, Counts]]:
    """Per Smart-ID method: provider calls per session against the poll floor 1 + ceil(t / interval), and
    the per-session counts (each final session's webhook delivered). The eeID phase's fallback polls may
    run meanwhile: the eeID functions are left out."""
    figures, counts = {}, {}
    get_fn = next(x.function_name for x in stack.routes if x.path == "/v1/sessions/{session_id}")
    for method in SMART_ID:
        before, sizes = stack.stats(), SizeSampler(stack.moto_url, ok_after / 2)
        runs, _, _ = wave(n, partial(control_code_session, url, method.name, SMART_ID_PERSON, ok_after))
        ids = {x.session_id for x in runs}
        await_arrivals(receiver, lambda x, ids=ids: x.session_id in ids, len(ids))
        execs = executions(stack.moto_url, ids, 30)
        after, provider = stack.stats(), method.name.split("-")[0]
        run = without(diff_stats(before, after), "eeid-")
        calls = Counter(after["sandboxes"][provider]["calls"])
        calls.subtract(before["sandboxes"][provider]["calls"])
        fns = {name: Function.of(e, e) for name, e in run["lambda"].items() if e["invocations"]}
        counts[method.name] = session_counts(method.name, runs, run, execs, fns, sizes.result(ids), get_fn)
        receiver.taken()
        figures[method.name] = {
            "completed": sum(x.status == "completed" for x in runs),
            "provider_calls_per_session": (calls.get("smartid_login", 0) + calls.get("smartid_status", 0))
            / n,
            "poll_floor": 1 + math.ceil(ok_after / (method.interval_seconds or 1)),
        }
    return figures, counts


def without(run: dict[str, Any], prefix: str) -> dict[str, Any]:
    """``run`` without the functions whose short name starts with ``prefix``, nor their AWS calls."""
    gone = {name for name in run["lambda"] if short(name).startswith(prefix)}
    calls = Counter({k: v for k, v in run["aws_requests"].items() if k[0] not in gone})
    return run | {"lambda": {k: v for k, v in run["lambda"].items() if k not in gone}, "aws_requests": calls}


def render_smart_id(figures: dict[str, dict[str, Any]], n: int) -> list[str]:
    lines = ["", f"Smart-ID: {n} concurrent sessions per method (sandbox persona sid-ok-ee)"]
    for name, f in figures.items():
        ok = f["completed"] == n and f["provider_calls_per_session"] <= f["poll_floor"]
        lines.append(
            f"  {name:<20} provider calls/session {f['provider_calls_per_session']:.2f}"
            f" (poll floor {f['poll_floor']})   {VERDICT[ok]}"
        )
    return lines


def await_arrivals(
    receiver: WebhookReceiver,
    wanted: Callable[[Arrival], bool],
    count: int,
    *,
    grace: float = 0.0,
    timeout: float = ARRIVAL_TIMEOUT,
) -> None:
    """Until ``count`` distinct deliveries that answered 2xx match (or ``timeout``), then ``grace`` seconds
    in which a duplicate would show."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with receiver._lock:
            done = {x.webhook_id for x in receiver.arrivals if wanted(x) and x.answered < 300}
        if len(done) >= count:
            break
        time.sleep(0.1)
    time.sleep(grace)


def register_endpoint(url: str, receiver: WebhookReceiver) -> None:
    """The bench key's endpoint is the receiver (loopback http is allowed on the local stack only)."""
    headers = {"x-api-key": API_KEY}
    answer = requests.put(
        f"{url}/v1/webhook-endpoint", json={"url": receiver.url}, headers=headers, timeout=60
    )
    if answer.status_code != 200:
        raise BenchError(f"PUT /v1/webhook-endpoint answered {answer.status_code}: {answer.text[:300]}")
    secret = answer.json().get("secret")
    if not secret:  # the endpoint existed already: a new secret signs from now on
        secret = requests.post(f"{url}/v1/webhook-endpoint/rotate-secret", headers=headers, timeout=60).json()
        secret = secret["secret"]
    receiver.secret = secret


def test_events(url: str, k: int) -> list[str]:
    """``k`` webhook.test events at once; their delivery ids."""
    post = partial(
        requests.post, f"{url}/v1/webhook-endpoint/test", headers={"x-api-key": API_KEY}, timeout=60
    )
    with ThreadPoolExecutor(k) as pool:
        answers = list(pool.map(lambda _: post(), range(k)))
    if any(x.status_code != 202 for x in answers):
        raise BenchError(f"POST /v1/webhook-endpoint/test answered {[x.status_code for x in answers]}")
    return [x.json()["delivery_id"] for x in answers]


def first_arrivals(arrivals: list[Arrival]) -> dict[str, Arrival]:
    """Each session's first verified, acknowledged delivery."""
    first: dict[str, Arrival] = {}
    for x in sorted(arrivals, key=lambda x: x.received_at):
        if x.session_id and x.verified and x.answered < 300:
            first.setdefault(x.session_id, x)
    return first


def exactly_once(arrivals: list[Arrival], runs: list[SessionRun]) -> dict[str, int]:
    """Events against final sessions: one id per session, one acknowledged delivery per id, all verified."""
    ours = {x.session_id for x in runs}
    events = [x for x in arrivals if x.session_id in ours and x.event_type.startswith("session.")]
    ids = defaultdict(set)
    for x in events:
        ids[x.session_id].add(x.webhook_id)
    acknowledged = Counter(x.webhook_id for x in events if x.answered < 300)
    return {
        "final_sessions": sum(x.status != "pending" for x in runs),
        "events": sum(len(v) for v in ids.values()),
        "sessions_with_event": len(ids),
        "deliveries": len(events),
        "verified": sum(x.verified for x in events),
        "duplicates": sum(k - 1 for k in acknowledged.values()) + sum(len(v) - 1 for v in ids.values()),
    }


def written_at(run: dict[str, Any]) -> dict[str, float]:
    """Each session's last successful write to the sessions table (the local stack saw it): its final one."""
    rows = run["dynamodb_keys"]
    return {
        x["key"]: x["written_at"] for x in rows if table_name(x["table"]) == "sessions" and x["written_at"]
    }


def outcome_to_receiver(run: dict[str, Any], first: dict[str, Arrival]) -> dict[str, Any]:
    """Receiver arrival − the final write (DynamoDB's, as the stack saw it; and the record's updated_at)."""
    written = written_at(run)
    from_write = [x.received_at - written[s] for s, x in first.items() if s in written]
    from_updated = [x.received_at - x.updated_at for x in first.values() if x.updated_at]
    lag = [written[s] - x.updated_at for s, x in first.items() if s in written and x.updated_at]
    return {**spread(from_write), "paired": len(from_write), "from_updated_at": spread(from_updated)} | {
        "updated_at_to_write_p50": percentile(lag)
    }


def status_gaps(sessions: list[dict[str, Any]]) -> list[float]:
    """Seconds between successive provider status polls of each session (the sandbox's request log)."""
    return [b - a for s in sessions for a, b in itertools.pairwise(s.get("status_times") or [])]


def hops(schedule: tuple[int, ...]) -> int:
    """Messages beyond one per retry: a wait longer than SQS's 15 min delay re-queues itself."""
    return sum(math.ceil(w * (1 + MEAN_JITTER) / SQS_MAX_DELAY) - 1 for w in schedule)


@dataclass  # the outbound webhook phase (issue 13): Mobile-ID sessions whose clients long-poll
class WebhookResult:
    sessions: int
    ok_after: float
    statuses: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    outcome_to_received: dict[str, Any] = field(default_factory=dict)  # final write → receiver
    ok_to_webhook: dict[str, Any] = field(default_factory=dict)  # sandbox ready_at → receiver
    ok_to_long_poll: dict[str, Any] = field(default_factory=dict)  # sandbox ready_at → long-poll answer
    poll_period: dict[str, Any] = field(default_factory=dict)  # gaps between status polls, sandbox log
    delivery: dict[str, int] = field(default_factory=dict)  # exactly once: see exactly_once()
    functions: dict[str, Function] = field(default_factory=dict)
    per_event: dict[str, Any] = field(default_factory=dict)  # counts and USD per delivered event
    schedule: dict[str, Any] = field(default_factory=dict)  # the whole retry schedule, 8 attempts
    passes: dict[str, bool] = field(default_factory=dict)
    sizes: dict[str, float] = field(default_factory=dict)  # the sessions table's items, bytes
    counts: Counts | None = None


def measure_webhooks(
    stack: LocalStack, url: str, n: int, ok_after: float, mb: int, receiver: WebhookReceiver, probe: str
) -> WebhookResult:
    """N Mobile-ID sessions with the bench key's endpoint registered, started over one poll interval, each
    client long-polling right after its start; what a delivered event costs."""
    r, interval = WebhookResult(n, ok_after), MOBILE_ID.interval_seconds
    register_endpoint(url, receiver)
    routes = {(x.method, x.path): x.function_name for x in stack.routes}
    get_fn = routes["GET", "/v1/sessions/{session_id}"]
    # Each waiting client holds a worker, as on AWS; warm one per client, and the sender's workers.
    stack.set_concurrency(get_fn, n + MAX_WORKERS_PER_FUNCTION)
    get = partial(requests.get, f"{url}/v1/sessions/{probe}", headers={"x-api-key": API_KEY}, timeout=60)
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(lambda _: get(), range(n)))
    warm = set(test_events(url, MAX_WORKERS_PER_FUNCTION))
    await_arrivals(receiver, lambda x: x.webhook_id in warm, len(warm))
    receiver.taken()

    stack.reset()
    before = stack.stats()
    # Starts spread over one poll interval, a steady flow: a burst of N finals at once would measure the
    # local stack's 4 workers per function queueing on 2 cores, not a warm delivery path.
    work = partial(
        control_code_session, url, MOBILE_ID.name, PERSON, ok_after, wait=LONG_POLL_WAIT, stagger=interval
    )
    sizes = SizeSampler(stack.moto_url, ok_after / 2)
    runs, r.wall_seconds, _ = wave(n, work)
    ids = {x.session_id for x in runs}
    await_arrivals(receiver, lambda x: x.session_id in ids, len(ids), grace=DUPLICATE_GRACE)
    execs = executions(stack.moto_url, ids, 30)
    after = stack.stats()
    arrivals, run = receiver.taken(), diff_stats(before, after)
    sandbox = after["sandboxes"]["dokobit"]["sessions"]

    r.statuses = dict(Counter(x.status for x in runs))
    first = first_arrivals(arrivals)
    r.outcome_to_received = outcome_to_receiver(run, first) | {"target_p95": HOOK_TARGET_P95}
    pairs, _ = pair_sessions(runs, sandbox)
    hooked = [first[x.session_id].received_at - s["ready_at"] for x, s in pairs if x.session_id in first]
    polled = [x.answered_at - s["ready_at"] for x, s in pairs if x.answered_at]
    target = interval + KNOWN_SLACK
    r.ok_to_webhook = {**spread(hooked), "paired": len(hooked), "target_p95": target}
    r.ok_to_long_poll = {**spread(polled), "paired": len(polled), "target_p95": target}
    r.poll_period = {**spread(status_gaps(sandbox)), "target": interval, "slack": PERIOD_SLACK}
    r.delivery = exactly_once(arrivals, runs)
    r.functions = {name: Function.of(e, e) for name, e in run["lambda"].items() if e["invocations"]}
    r.sizes = sizes.result(ids)
    r.counts = session_counts(
        MOBILE_ID.name, runs, run, execs, r.functions, r.sizes, get_fn, long_polled=True
    )
    r.per_event = event_cost(run, r.functions, r.delivery["events"], arrivals, mb, r.sizes)
    r.passes = {
        "outcome_to_received": (r.outcome_to_received["p95"] or math.inf) <= HOOK_TARGET_P95,
        "ok_to_webhook": len(hooked) == n and (r.ok_to_webhook["p95"] or math.inf) <= target,
        "ok_to_long_poll": len(polled) == n and (r.ok_to_long_poll["p95"] or math.inf) <= target,
        "poll_period": abs((r.poll_period["p50"] or math.inf) - interval) <= PERIOD_SLACK,
        "exactly_once": r.delivery["events"] == r.delivery["final_sessions"] == n
        and r.delivery["duplicates"] == 0
        and r.delivery["verified"] == r.delivery["deliveries"],
    }
    return r


def webhook_functions(run: dict[str, Any]) -> tuple[str, str]:
    names = {short(name): name for name in run["lambda"]}
    return names["webhook-dispatch"], names["webhook-send"]


def event_cost(
    run: dict[str, Any],
    functions: dict[str, Function],
    events: int,
    arrivals: list[Arrival],
    mb: int,
    sizes: dict[str, float],
) -> dict[str, Any]:
    """What one delivered event costs: the dispatch and send invocations at their billed ms, the SQS
    requests (send; the mapping's receive and delete), the webhook path's DynamoDB requests, egress."""
    dispatch, send = webhook_functions(run)
    calls, k = run["aws_requests"], max(events, 1)
    invocations = {f: run["lambda"][f]["invocations"] / k for f in (dispatch, send)}
    ms = {f: functions[f].warm if f in functions else 0.0 for f in (dispatch, send)}
    sent = sum(calls_by(calls, [dispatch, send], "sqs").values())
    deleted = sum(
        calls_by(calls, [STACK_CALLER], "sqs")[op, ""] for op in ("DeleteMessage", "DeleteMessageBatch")
    )
    # The mapping's receives that returned a message: one per send invocation (BatchSize 1).
    sqs = (sent + deleted + run["lambda"][send]["invocations"]) / k
    ddb = calls_by(calls, [dispatch, send], "dynamodb")
    reads = sum(n * units(op, t, sizes) for (op, t), n in ddb.items() if op not in WRITE_OPS) / k
    writes = sum(n * units(op, t, sizes) for (op, t), n in ddb.items() if op in WRITE_OPS) / k
    body = percentile(x.size for x in arrivals) or 0.0
    usd = {
        "Lambda": sum(lambda_cost(invocations[f], ms[f], mb) for f in (dispatch, send)),
        "SQS": sqs * SQS_PER_REQUEST,
        "DynamoDB": writes * DDB_PER_WRITE + reads * DDB_PER_READ,
        "data out": body / 1024**3 * DATA_OUT_PER_GB,
    }
    per_op = {f"{op} {t}": n / k for (op, t), n in sorted(ddb.items())}
    return {
        "invocations": {short(f): v for f, v in invocations.items()},
        "billed_ms": {short(f): math.ceil(v) for f, v in ms.items()},
        "sqs_requests": sqs,
        "dynamodb": per_op,
        "read_units": reads,
        "write_units": writes,
        "body_bytes": body,
        "usd": usd | {"total": sum(usd.values())},
    }


def measure_schedule(
    stack: LocalStack, url: str, receiver: WebhookReceiver, per_event: dict[str, Any], mb: int
) -> dict[str, Any]:
    schedule = retry_schedule()
    """An event whose every attempt fails (the receiver answers 503), under a 0 s schedule of the
    default's length, and one hop of a long wait: the per-attempt figures the whole schedule multiplies."""
    dispatch_ms, send_ms = per_event["billed_ms"]["webhook-dispatch"], per_event["billed_ms"]["webhook-send"]
    names = {short(name): name for name in stack.stats()["lambda"]}
    send = names["webhook-send"]
    # A hop: a message not due for an hour is queued again, DelaySeconds 900 (no DynamoDB request).
    sqs = boto3.client("sqs", endpoint_url=stack.moto_url, region_name=REGION)
    queue = next(u for u in sqs.list_queues()["QueueUrls"] if u.endswith("-webhooks"))
    hop = {"owner": "bench-hop", "delivery_id": "msg_hop", "attempt": 2, "not_before": time.time() + 3600}
    before = stack.stats()
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(hop))
    hop_run = await_invocations(stack, send, before, 1)
    hop_ms = hop_run["lambda"][send]["handler_ms"]
    hop_sqs = sum(calls_by(hop_run["aws_requests"], [send], "sqs").values()) + 2  # + receive, delete

    attempts = len(schedule) + 1
    receiver.failing = {"webhook.test"}
    before = stack.stats()
    failing = set(test_events(url, FAILING_EVENTS))
    fail_run = await_invocations(stack, send, before, FAILING_EVENTS * attempts, timeout=attempts * 6.0)
    receiver.failing = set()
    got = [x for x in receiver.taken() if x.webhook_id in failing]
    calls = fail_run["aws_requests"]
    deleted = sum(
        calls_by(calls, [STACK_CALLER], "sqs")[op, ""] for op in ("DeleteMessage", "DeleteMessageBatch")
    )
    sent = sum(calls_by(calls, [send], "sqs").values())
    per_attempt_sqs = (sent + deleted + fail_run["lambda"][send]["invocations"]) / (FAILING_EVENTS * attempts)
    attempt_ms = percentile(fail_run["lambda"][send]["handler_ms"]) or 0.0
    # Each attempt of a session event makes the delivered one's DynamoDB requests (claim, endpoint,
    # session, record: the test event has no session to read, so they come from the delivered wave).
    hop_count = hops(schedule)
    dispatch_share = per_event["invocations"]["webhook-dispatch"]
    per_attempt_ddb = per_event["read_units"] * DDB_PER_READ + per_event["write_units"] * DDB_PER_WRITE
    data = per_event["usd"]["data out"]

    def whole(ms: float) -> float:
        return (
            lambda_cost(dispatch_share, dispatch_ms, mb)
            + lambda_cost(attempts, ms, mb)
            + lambda_cost(hop_count, percentile(hop_ms) or 0.0, mb)
            + (attempts * per_attempt_sqs + hop_count * hop_sqs) * SQS_PER_REQUEST
            + attempts * (per_attempt_ddb + data)
        )

    return {
        "attempts": attempts,
        "events": FAILING_EVENTS,
        "arrivals": len(got),
        "verified": sum(x.verified for x in got),
        "attempts_seen": dict(Counter(Counter(x.webhook_id for x in got).values())),
        "attempt_ms_p50": attempt_ms,
        "delivered_attempt_ms": send_ms,
        "sqs_per_attempt": per_attempt_sqs,
        "hop_ms": percentile(hop_ms),
        "hop_sqs": hop_sqs,
        "hops": hop_count,
        "schedule_seconds": list(schedule),
        "usd_fast_failures": whole(attempt_ms),
        "usd_timeouts": whole(WEBHOOK_TIMEOUT_MS),
    }


def await_invocations(
    stack: LocalStack, function: str, before: dict[str, Any], k: int, timeout: float = 30.0
) -> dict[str, Any]:
    """The stats since ``before`` once ``function`` has finished ``k`` more invocations (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        run = diff_stats(before, stack.stats())
        if run["lambda"][function]["invocations"] >= k or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def retry_schedule() -> tuple[int, ...]:
    """The template's default retry waits (the bench runs a 0 s schedule of the same length)."""
    default = Template.load(ROOT / "template.yaml").parameters["WebhookRetrySchedule"]["Default"]
    return tuple(int(x) for x in str(default).split(","))


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item: attribute names and values (a number about one byte per two digits)."""
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def value_bytes(value: dict[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return len(v.strip("-").replace(".", "")) // 2 + 1
    if kind in ("B", "SS", "NS", "BS"):
        return len(v) if kind == "B" else sum(len(str(x).encode()) for x in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_bytes(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(value_bytes(x) + 1 for x in v)
    return 1  # BOOL, NULL


def units(op: str, table: str, sizes: dict[str, float]) -> int:
    """Capacity units of one request: a write per 1 KB of the item, a strongly consistent read per 4 KB.
    Only the sessions table's items pass 1 KB (a final one holds the identity and certificate): a start
    writes the pending item, any other request is counted at the final item's size."""
    if table != "sessions" or not sizes:
        return 1
    size = sizes["pending"] if op == "PutItem" else sizes["final"]
    return max(1, math.ceil(size / (1024 if op in WRITE_OPS else 4096)))


class SizeSampler:
    """Item sizes of the sessions table: pending ones ``after`` s into a wave (a thread), final ones of the
    given sessions when asked."""

    def __init__(self, moto_url: str, after: float) -> None:
        self._ddb = boto3.client("dynamodb", endpoint_url=moto_url, region_name=REGION)
        self._pending: list[int] = []
        self._timer = threading.Timer(after, self._sample)
        self._timer.daemon = True
        self._timer.start()

    def _items(self) -> Iterable[dict[str, Any]]:
        table = next(t for t in self._ddb.list_tables()["TableNames"] if table_name(t) == "sessions")
        for page in self._ddb.get_paginator("scan").paginate(TableName=table):
            yield from page["Items"]

    def _sample(self) -> None:
        self._pending = [item_bytes(x) for x in self._items() if x["status"]["S"] == "pending"]

    def result(self, ids: set[str]) -> dict[str, float]:
        self._timer.join()
        final = [item_bytes(x) for x in self._items() if x["session_id"]["S"] in ids]
        return {"pending": max(self._pending, default=0), "final": max(final, default=0)}


def session_counts(
    method: str,
    runs: list[SessionRun],
    run: dict[str, Any],
    execs: dict[str, Execution],
    functions: dict[str, Function],
    sizes: dict[str, float],
    read_fn: str = "",
    workflow: str = "EXPRESS",
    long_polled: bool = False,
) -> Counts:
    """One session start to final of this phase's method, as the capacity arithmetic takes it; with
    ``long_polled`` the clients' GETs were long-polls: what one costs per second it waits."""
    n, calls = len(runs), run["aws_requests"]
    fns = {name for name, e in run["lambda"].items() if e["invocations"]} - {read_fn}
    polls_of = {f: run["lambda"][f]["invocations"] for f in fns if short(f).endswith("-poll")}
    poll_fn = max(polls_of, key=lambda f: polls_of[f], default="")
    polls = polls_of.get(poll_fn, 0)

    def capacity_units(callers: Iterable[str], per: float, *, reads_only: bool = False) -> dict[str, float]:
        found: Counter[str] = Counter()
        for (op, t), k in calls_by(calls, callers, "dynamodb").items():
            if not (reads_only and op in WRITE_OPS):
                found[f"{t} {'WRU' if op in WRITE_OPS else 'RRU'}"] += k * units(op, t, sizes) / per
        return dict(found)

    hot: dict[str, float] = {}
    for t in {table_name(x["table"]) for x in run["dynamodb_keys"]}:
        # Keys that every session uses (an endpoint, a token): not a session's own item (however often
        # its client reads it), nor one shard of many.
        rows = [
            x
            for x in run["dynamodb_keys"]
            if table_name(x["table"]) == t
            and not SESSION_ID.fullmatch(x["key"])
            and x["reads"] + x["writes"] >= n
        ]
        if rows:
            hot[f"{t} WCU"] = max(x["writes"] for x in rows) / n
            hot[f"{t} RCU"] = max(x["reads"] for x in rows) / n
    held = sum(run["lambda"].get(read_fn, {}).get("handler_ms", [])) / 1000
    reader = capacity_units([read_fn], held).get("sessions RRU", 0.0) if held and long_polled else 0.0
    ours = [x for y in runs if (x := execs.get(y.session_id))]
    transitions = (
        sum(x.transitions for x in ours) if len(ours) == n else run["stepfunctions"]["state_transitions"]
    )
    client_reads = sum(x.gets for x in runs) / n
    return Counts(
        method,
        n,
        workflow,
        seconds=percentile(x.finished_at - x.created_at for x in runs if x.finished_at) or 0.0,
        polls=polls / n,
        api_requests=run["api_requests"] / n - client_reads,
        client_reads=client_reads,
        start_executions=calls_by(calls, fns, "stepfunctions")["StartExecution", ""] / n,
        state_transitions=transitions / n,
        secrets=calls_by(calls, fns, "secretsmanager")["GetSecretValue", ""] / n,
        sqs=sum(calls_by(calls, fns, "sqs").values()) / n,
        invocations={short(f): run["lambda"][f]["invocations"] / n for f in fns | {read_fn} - {""}},
        billed_ms={short(f): math.ceil(functions[f].warm) for f in fns | {read_fn} if f in functions},
        units=capacity_units(fns, n),
        poll_units=capacity_units([poll_fn], polls, reads_only=True) if polls else {},
        hot_keys=hot,
        read_function=short(read_fn) if read_fn else "",
        poll_function=short(poll_fn) if poll_fn else "",
        long_poll_wait=LONG_POLL_WAIT,
        reader_rru=reader,
    )


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


class Imported(NamedTuple):
    module: str
    depth: int  # 0: imported by ``import app`` itself
    self_ms: float
    cumulative_ms: float


def importtime(function_dir: Path) -> list[Imported]:
    """``import app`` of one function in a fresh interpreter, as ``-X importtime`` reports it."""
    env = {k: os.environ.get(k, "") for k in ("PATH", "HOME")} | offline_aws_env("us-east-1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers" / "broker"), str(function_dir)])
    command = [sys.executable, "-X", "importtime", "-c", "import app"]
    done = subprocess.run(command, cwd=function_dir, env=env, capture_output=True, text=True, timeout=60)
    found = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].lstrip()
            depth = (len(parts[2]) - len(name) - 1) // 2  # two spaces a level, after one
            found.append(Imported(name, depth, int(parts[0].split(":")[-1]) / 1000, int(parts[1]) / 1000))
    return found


def import_ms(runs: list[list[Imported]]) -> float | None:
    """``import app`` as ``-X importtime`` measures it: the best of the runs."""
    return min((x.cumulative_ms for run in runs for x in run if x.module == "app"), default=None)


def import_breakdown(runs: list[list[Imported]]) -> dict[str, Any]:
    """The fastest of the runs: self time summed by top-level package (the broker's own by module), and
    the slowest modules by cumulative time (app itself apart)."""
    totals = [next((x.cumulative_ms for x in run if x.module == "app"), math.inf) for run in runs]
    best = runs[totals.index(min(totals))]
    by_package: Counter[str] = Counter()
    for x in best:
        parts = x.module.split(".")
        by_package[".".join(parts[:2]) if parts[0] == "eid_broker" else parts[0]] += x.self_ms
    slowest = sorted((x for x in best if x.module != "app"), key=lambda x: -x.cumulative_ms)[:12]
    return {
        "total_ms": min(totals),
        "by_package": by_package.most_common(),
        "slowest": [(x.module, x.cumulative_ms) for x in slowest],
    }


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
    r.stepfunctions["poll_gap_p50"] = percentile(status_gaps(sandbox.get("sessions", [])))
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


@dataclass  # every figure of the eeID phase, filled in as it is measured
class EeidResult:
    sessions: int  # the burst's; the phase also runs single sessions (cold, warm) and a warm-up
    total_sessions: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    completed_after_seconds: float = 0.0
    phase_seconds: float = 0.0
    webhook_to_completed: dict[str, Any] = field(default_factory=dict)  # the burst: p50, p95, max, paired
    cold: dict[str, Any] = field(default_factory=dict)  # single sessions that met new workers
    warm: dict[str, Any] = field(default_factory=dict)  # single sessions on warm workers
    completed_to_received: dict[str, Any] = field(default_factory=dict)  # the burst: final write → receiver
    calls: dict[str, int] = field(default_factory=dict)  # the eeID API's, all sessions
    webhooks: dict[str, int] = field(default_factory=dict)  # sent, failed
    functions: dict[str, Function] = field(default_factory=dict)  # the whole phase
    delivery: dict[str, int] = field(default_factory=dict)  # outbound events: exactly once
    stepfunctions: dict[str, Any] = field(default_factory=dict)
    worst_case: dict[str, Any] = field(default_factory=dict)  # no webhook ever: polls until the link expires
    imports: dict[str, Any] = field(default_factory=dict)  # eeid_webhook's import time by package
    counts: Counts | None = None
    runs: list[SessionRun] = field(default_factory=list)


def first_calls(entries: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Init and first call of each new worker: one per entry (a cold run's stats of one function)."""
    new = [e for e in entries if e["cold_starts"] and e["handler_ms"]]
    return {"init_ms": [e["init_ms"][0] for e in new], "first_call_ms": [e["handler_ms"][0] for e in new]}


def eeid_wave(
    stack: LocalStack, url: str, k: int, receiver: WebhookReceiver
) -> tuple[list[SessionRun], float, dict[str, Any]]:
    """K eeID sessions completed at once; the runs, when all had completed, and the stats of the wave
    (its outbound events delivered, or ARRIVAL_TIMEOUT)."""
    before = stack.stats()
    runs, seconds, _ = wave(k, partial(eeid_session, url))
    ids = {x.session_id for x in runs}
    await_arrivals(receiver, lambda x: x.session_id in ids, len(ids))
    return runs, seconds, diff_stats(before, stack.stats())


@dataclass
class EeidPending:
    """The eeID phase between its waves and its drain (the fallback executions' first Wait)."""

    result: EeidResult
    before: dict[str, Any]  # stats when the phase began
    waves: dict[str, Any]  # stats once the waves had ended
    began: float
    sizes: dict[str, float]


def eeid_singles(
    stack: LocalStack, url: str, receiver: WebhookReceiver, *, cold: bool
) -> list[tuple[SessionRun, dict[str, Any]]]:
    """EEID_SINGLE_RUNS eeID sessions one at a time, each with its stats; ``cold``: each after the webhook
    path's idle workers ended, so that eeid-webhook, webhook-dispatch and webhook-send start new ones."""
    names, found = {short(name): name for name in stack.stats()["lambda"]}, []
    for _ in range(EEID_SINGLE_RUNS):
        for fn in EEID_COLD_PATH if cold else ():
            stack.retire_idle(names[fn])
        runs, _, run = eeid_wave(stack, url, 1, receiver)
        found.append((runs[0], run))
    return found


def start_eeid(stack: LocalStack, url: str, m: int, receiver: WebhookReceiver) -> EeidPending:
    """eeID webhooks on new workers, then on warm ones: single sessions cold, a warm-up wave, single
    sessions warm, then M completed at the sandbox at once (a burst). Their fallback executions are left in
    their first Wait: ``finish_eeid`` collects what their polls do."""
    stack.reset()
    r, before, began = EeidResult(m), stack.stats(), time.monotonic()
    names = {short(name): name for name in before["lambda"]}
    cold = eeid_singles(stack, url, receiver, cold=True)
    warmup, _, _ = eeid_wave(stack, url, MAX_WORKERS_PER_FUNCTION, receiver)
    warm = eeid_singles(stack, url, receiver, cold=False)
    sizes = SizeSampler(stack.moto_url, 1.0)
    burst, r.completed_after_seconds, burst_run = eeid_wave(stack, url, m, receiver)
    time.sleep(DUPLICATE_GRACE)  # a duplicate of any of the phase's events would have come by now
    waves, arrivals = stack.stats(), receiver.taken()
    first, sandbox = first_arrivals(arrivals), waves["sandboxes"].get("eeid", {})
    by_id = {str(q["id"]): q for q in sandbox.get("requests", [])}

    def latency(x: SessionRun) -> float | None:
        done = by_id.get(x.ref) or {}
        if not (x.finished_at and done.get("completed_at")):
            return None
        return x.finished_at - done["completed_at"] - EEID_WEBHOOK_DELAY  # type: ignore[no-any-return]

    def singles(found: list[tuple[SessionRun, dict[str, Any]]]) -> dict[str, Any]:
        received = [
            outcome_to_receiver(d, {x.session_id: first[x.session_id]})
            for x, d in found
            if x.session_id in first
        ]
        entries = {fn: [d["lambda"][names[fn]] for _, d in found] for fn in EEID_COLD_PATH}
        return {
            "webhook_to_completed": [latency(x) for x, _ in found],
            "completed_to_received": [x["p50"] for x in received],
            "new_workers": {fn: first_calls(e) for fn, e in entries.items()},
            "call_ms_p50": {
                fn: percentile(ms for x in e for ms in x["handler_ms"]) for fn, e in entries.items()
            },
        }

    r.cold, r.warm = singles(cold), singles(warm)
    latencies = [v for x in burst if (v := latency(x)) is not None]
    r.webhook_to_completed = {**spread(latencies), "paired": len(latencies)}
    ids = {x.session_id for x in burst}
    r.completed_to_received = outcome_to_receiver(burst_run, {s: x for s, x in first.items() if s in ids})
    r.runs = [x for x, _ in cold] + warmup + [x for x, _ in warm] + burst
    r.total_sessions, r.delivery = len(r.runs), exactly_once(arrivals, r.runs)
    r.statuses = dict(Counter(x.status for x in r.runs))
    r.calls, r.webhooks = dict(sandbox.get("calls", {})), dict(sandbox.get("webhooks", {}))
    return EeidPending(r, before, waves, began, sizes.result(ids))


def with_drain(run: dict[str, Any], drain: dict[str, Any], function: str) -> dict[str, Any]:
    """``run``, plus what ``function`` did in ``drain`` (other phases ran meanwhile)."""
    entry, extra = run["lambda"].get(function, {}), drain["lambda"][function]
    merged = {k: entry.get(k, [] if isinstance(v, list) else 0) + v for k, v in extra.items()}
    calls = Counter(run["aws_requests"])
    calls.update({k: v for k, v in drain["aws_requests"].items() if k[0] == function})
    return run | {"lambda": run["lambda"] | {function: merged}, "aws_requests": calls}


def finish_eeid(stack: LocalStack, pending: EeidPending, mb: int) -> EeidResult:
    """Each fallback execution's first poll finds its session final and ends it: waiting for that makes
    the per-session transitions and eeid-poll calls whole."""
    r, total = pending.result, pending.result.total_sessions
    execs = executions(stack.moto_url, {x.session_id for x in r.runs}, EEID_FIRST_WAIT + 60)
    after, r.phase_seconds = stack.stats(), time.monotonic() - pending.began
    poll = next(name for name in after["lambda"] if short(name) == "eeid-poll")
    waves = diff_stats(pending.before, pending.waves)
    run = with_drain(waves, diff_stats(pending.waves, after), poll)
    fns = {name: Function.of(e, e) for name, e in run["lambda"].items() if e["invocations"]}
    r.functions = {short(name): f for name, f in fns.items()}
    ours = [x for y in r.runs if (x := execs.get(y.session_id))]
    count, transitions, source = len(ours), sum(x.transitions for x in ours), "execution histories"
    if count != total:
        count, transitions, source = *run["stepfunctions"].values(), "/_local/stats"
    r.stepfunctions = {"executions_per_session": count / total}
    r.stepfunctions["state_transitions_per_session"] = transitions / total
    r.stepfunctions |= {"source": source, "still_running": sum(x.status == "RUNNING" for x in ours)}
    r.stepfunctions["cost_per_session_usd"] = transitions / total * SFN_STANDARD_PER_TRANSITION
    get_fn = next(x.function_name for x in stack.routes if x.path == "/v1/sessions/{session_id}")
    r.counts = session_counts("eeid", r.runs, run, execs, fns, pending.sizes, get_fn, workflow="STANDARD")
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
        " transitions; loop period p50 "
        + (f"{period:.2f} s (execution ÷ polls)" if period else "n/a")
        + (f", {gap:.2f} s between status polls" if (gap := sfn.get("poll_gap_p50")) else ""),
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


def seconds_line(label: str, figure: dict[str, Any], target: float | None = None) -> str:
    if figure.get("p50") is None:
        return f"    {label:<15} n/a"
    line = (
        f"    {label:<15} p50 {figure['p50']:.3f} s   p95 {figure['p95']:.3f} s   max {figure['max']:.3f} s"
    )
    return line + (f"   target p95 ≤ {target:g} s" if target is not None else "")


def ms_list(values: Iterable[float | None]) -> str:
    return ", ".join(f"{v * 1000:.0f}" if v is not None else "n/a" for v in values) + " ms"


def render_webhooks(w: WebhookResult) -> list[str]:
    n, hook, ok, d, cost, s = w.sessions, w.outcome_to_received, w.passes, w.delivery, w.per_event, w.schedule
    period, updated = w.poll_period, hook["from_updated_at"]
    invocations = ", ".join(
        f"{f} {k:.2f} × {cost['billed_ms'][f]} ms" for f, k in cost["invocations"].items()
    )
    ddb = ", ".join(f"{op} {k:.2f}" for op, k in cost["dynamodb"].items())
    usd = cost["usd"]
    gets = sum(f.invocations for name, f in w.functions.items() if short(name) == "session-get")
    out = [
        f"\noutbound webhooks: {n} concurrent {MOBILE_ID.name} sessions, the bench key's endpoint a receiver"
        " on 127.0.0.1 that verifies each delivery (standardwebhooks); each client long-polls"
        f" GET ?wait={LONG_POLL_WAIT} right after its start ({gets / n:.2f} GETs per session); warm workers"
        f" (one session-get per waiting client); wave {w.wall_seconds:.1f} s; sessions {w.statuses}",
        f"  outcome recorded → receiver got it ({hook['paired']}/{n}): the final write (DynamoDB, as the"
        " stack saw it) → arrival",
        seconds_line("", hook, HOOK_TARGET_P95) + f"   {VERDICT[ok['outcome_to_received']]}",
        f"    from the record's updated_at: p50 {updated['p50'] or 0:.3f} s, p95 {updated['p95'] or 0:.3f} s"
        f" (updated_at precedes the write by {(hook['updated_at_to_write_p50'] or 0) * 1000:.0f} ms p50)",
        f"  provider ok → integrator knows: the sandbox's ready_at (start + {w.ok_after:g} s) → arrival, and"
        " → the long-poll's answer",
        seconds_line("via webhook", w.ok_to_webhook, w.ok_to_webhook["target_p95"])
        + f"   {VERDICT[ok['ok_to_webhook']]}",
        seconds_line("via long-poll", w.ok_to_long_poll, w.ok_to_long_poll["target_p95"])
        + f"   {VERDICT[ok['ok_to_long_poll']]}",
        f"  poll loop period: {period['p50'] or 0:.3f} s p50, {period['p95'] or 0:.3f} s p95 between one"
        f" session's status polls (sandbox log); target {period['target']:g} ± {period['slack']:g} s"
        f"   {VERDICT[ok['poll_period']]}",
        f"  delivery: {d['events']} events for {d['final_sessions']} final sessions"
        f" ({d['sessions_with_event']} with one), {d['deliveries']} deliveries, {d['verified']} verified,"
        f" {d['duplicates']} duplicates"
        f"   {VERDICT[ok['exactly_once']]}",
        f"  per delivered event: λ {invocations}; SQS {cost['sqs_requests']:.2f} requests (send, the"
        f" mapping's receive and delete); DynamoDB {ddb} = {cost['read_units']:.2f} RRU +"
        f" {cost['write_units']:.2f} WRU; body {cost['body_bytes']:.0f} B",
        "    " + "   ".join(f"{k} ${v:.8f}" for k, v in usd.items()),
        f"  whole retry schedule: {s['attempts']} attempts (waits"
        f" {', '.join(str(x) for x in s['schedule_seconds'])} s), measured on a 0 s schedule of the same"
        f" length: {s['events']} events × {s['attempts']} attempts"
        f" answered 503 → {s['arrivals']} arrivals, {s['verified']} verified (attempts per event"
        f" {s['attempts_seen']}); a failed attempt {s['attempt_ms_p50']:.0f} ms, {s['sqs_per_attempt']:.2f}"
        f" SQS requests; + {s['hops']} hops of 15 min (each {s['hop_ms'] or 0:.0f} ms, {s['hop_sqs']:.0f} SQS"
        " requests)",
        f"    per event: ${s['usd_fast_failures']:.6f} when each attempt fails fast,"
        f" ${s['usd_timeouts']:.6f} when each waits out the {WEBHOOK_TIMEOUT_SECONDS:g} s timeout",
    ]
    return out


def render_counts(counts: list[Counts], sizes_note: str) -> list[str]:
    out = [f"\ncapacity inputs: one session start to final (exact counts ÷ sessions; {sizes_note})"]
    for c in counts:
        fns = [f for f in c.invocations if f != c.read_function]
        ms = sum(c.invocations[f] * c.billed_ms.get(f, 0) for f in fns)
        lam = ", ".join(f"{f} {c.invocations[f]:.2f}×{c.billed_ms.get(f, 0)}" for f in sorted(fns))
        reads = f" + {c.client_reads:.2f} client GETs" if c.client_reads else ""
        if c.read_function in c.invocations:
            reads += f" ({c.read_function} {c.billed_ms.get(c.read_function, 0):,} ms each)"
        ddb = ", ".join(f"{k} {v:.2f}" for k, v in sorted(c.units.items()))
        hot = ", ".join(f"{k} {v:.2f}" for k, v in sorted(c.hot_keys.items())) or "none"
        out += [
            f"  {c.method} ({c.sessions} sessions, start → final {c.seconds:.1f} s p50, {c.polls:.2f} polls)",
            f"    API Gateway {c.api_requests:.2f} requests{reads};  Step Functions {c.start_executions:.2f}"
            f" StartExecution ({c.workflow}), {c.state_transitions:.2f} state transitions",
            f"    Lambda {sum(c.invocations[f] for f in fns):.2f} invocations, {ms:,.0f} billed ms: {lam}",
            f"    DynamoDB {ddb};  hottest shared partition key per session: {hot}",
            f"    Secrets Manager {c.secrets:.2f} GetSecretValue;  SQS {c.sqs:.2f} requests by the functions",
        ]
    return out


def render_eeid(e: EeidResult) -> list[str]:
    m, hook, sfn, worst, calls = e.sessions, e.webhook_to_completed, e.stepfunctions, e.worst_case, e.calls
    total, cold, warm, d = e.total_sessions, e.cold, e.warm, e.delivery
    tokens, sent, failed = calls.get("token", 0), e.webhooks.get("sent", 0), e.webhooks.get("failed", 0)
    k = EEID_SINGLE_RUNS
    out = [
        f"\neeID: {k} single eeid sessions on new workers, a warm-up of {MAX_WORKERS_PER_FUNCTION}, {k}"
        f" single sessions on warm workers, then a burst of {m} at once (subject {EEID_SUBJECT}), each"
        f" completed at the sandbox (match, webhook on); the burst completed"
        f" {e.completed_after_seconds:.1f} s after its starts; phase {e.phase_seconds:.1f} s with the"
        f" fallback drain (Smart-ID and the retry schedule ran meanwhile); sessions {e.statuses}",
        f"  webhook → completed: broker updated_at − first delivery's send (sandbox completed_at +"
        f" {EEID_WEBHOOK_DELAY:g} s delay)",
        f"    cold            {ms_list(cold['webhook_to_completed'])} (one at a time, a new eeid-webhook)",
        f"    warm            {ms_list(warm['webhook_to_completed'])} (one session at a time)",
        seconds_line(f"burst of {m}", hook) + f"   ({hook['paired']}/{m} paired; 4 local workers, 2 cores)",
        "  completed → receiver (the outbound event): final write → arrival",
        f"    cold            {ms_list(cold['completed_to_received'])} (new webhook-dispatch, webhook-send)",
        f"    warm            {ms_list(warm['completed_to_received'])}",
        seconds_line(f"burst of {m}", e.completed_to_received),
        "  workers: init and first call of each new one (cold runs); warm call p50 (warm runs)",
    ]
    for name in EEID_COLD_PATH:
        new, warm_ms = cold["new_workers"][name], warm["call_ms_p50"][name]
        out.append(
            f"    {name:<17} init {ms_list(x / 1000 for x in new['init_ms'])}, first call"
            f" {ms_list(x / 1000 for x in new['first_call_ms'])}; warm "
            + (f"{warm_ms:.0f} ms" if warm_ms is not None else "n/a")
        )
    poll = e.functions.get("eeid-poll")
    if poll:
        out.append(
            f"    {'eeid-poll':<17} {poll.new_workers} new workers: init {poll.init_ms or 0:.0f} ms,"
            f" first call {poll.first_call_ms or 0:.0f} ms; warm {poll.warm_ms or 0:.0f} ms"
            f" (n={poll.warm_samples})"
        )
    if e.imports:
        top = ", ".join(f"{k} {v:.0f}" for k, v in e.imports["by_package"][:12])
        out.append(
            f"  eeid_webhook import app {e.imports['total_ms']:.0f} ms (-X importtime, fastest of"
            f" {IMPORT_RUNS}), self time by package, ms: {top}"
        )
        out.append(
            "    slowest modules (cumulative ms): "
            + ", ".join(f"{k} {v:.0f}" for k, v in e.imports["slowest"])
        )
    out += [
        f"  outbound events: {d['events']} for {d['final_sessions']} final sessions, {d['duplicates']}"
        f" duplicates, {d['verified']}/{d['deliveries']} verified (eeID delivers its webhook twice)",
        f"  token calls           {tokens} in a {e.phase_seconds:.0f} s phase → {tokens / total * 1000:.1f}"
        f" per 1,000 sessions  (token lives {EEID_TOKEN_TTL_SECONDS:g} s, cached in DynamoDB, single flight)",
        f"  eeID calls/session    create {calls.get('create', 0) / total:.2f}, get"
        f" {calls.get('get', 0) / total:.2f}  (list {calls.get('list', 0)}, proof {calls.get('proof', 0)}"
        " in all)",
        f"  webhook deliveries    {sent} sent, {failed} failed ({sent / total:.2f} acknowledged per session)",
    ]
    for name in sorted({x for x in e.functions if x.startswith("eeid-")} | EEID_FUNCTIONS):
        f = e.functions.get(name) or Function(0, 0, 0, None, 0, 0, None, None)
        counts = f"  ({f.cold_starts} cold starts, {f.errors} errors in all)"
        out.append(f"  λ {name:<19} {f.invocations / total:.2f} invocations{counts if f.invocations else ''}")
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
    # A delivery that fails is retried at once instead of after the default's minutes and hours, as often.
    os.environ["WEBHOOK_RETRY_SCHEDULE"] = ",".join("0" for _ in retry_schedule())
    os.environ["DOKOBIT_SANDBOX_OK_AFTER"] = os.environ["MARKSIGN_SANDBOX_OK_AFTER"] = str(args.ok_after)
    environ = dict(os.environ)
    isolate_from_aws()
    log = tempfile.NamedTemporaryFile("w", prefix="eid-broker-bench-", suffix=".log", delete=False)  # noqa: SIM115
    stack = LocalStack(ROOT, port=args.port, environ=environ, out=log, err=log)
    functions = Template.load(ROOT / "template.yaml").of_type("AWS::Serverless::Function")
    mb, broke = max(int(f["Properties"].get("MemorySize", 128)) for _, f in functions), None
    began, receiver = time.monotonic(), WebhookReceiver()
    phases = {"": began}  # phase -> when it ended
    try:
        receiver.start()
        stack.start()
        url, n = f"http://127.0.0.1:{stack.port}", args.sessions
        phases["stack start"] = time.monotonic()
        result = measure_mobile_id(args, stack, url, mb)
        phases["mobile-id"] = time.monotonic()
        hooks = measure_webhooks(stack, url, n, args.ok_after, mb, receiver, result.runs[0].session_id)
        phases["webhooks"] = time.monotonic()
        # The eeID fallback executions wait a minute before their first poll: Smart-ID and the retry
        # schedule run meanwhile (their figures come from their own functions and stats).
        pending = None if args.skip_eeid else start_eeid(stack, url, args.eeid_sessions, receiver)
        phases["eeid waves"] = time.monotonic()
        smart_id, smart_id_counts = measure_smart_id(stack, url, n, args.ok_after, receiver)
        phases["smart-id"] = time.monotonic()
        hooks.schedule = measure_schedule(stack, url, receiver, hooks.per_event, mb)
        phases["retry schedule"] = time.monotonic()
        eeid_result = None if pending is None else finish_eeid(stack, pending, mb)
        phases["eeid drain"] = time.monotonic()
    except (BenchError, requests.RequestException, threading.BrokenBarrierError) as exc:
        broke = exc
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        for pool in _CLIENTS.values():
            pool.shutdown(cancel_futures=True)
        stack.stop()
        receiver.stop()
        log.close()
    if broke is not None:
        print(*Path(log.name).read_text(encoding="utf-8").splitlines()[-15:], sep="\n", file=sys.stderr)
        print(f"bench: the run broke: {broke}\nbench: stack log kept in {log.name}", file=sys.stderr)
        return 1
    # Measured with the stack stopped, so that its workers do not compete for the CPU.
    functions_dirs = [d for d in sorted((ROOT / "functions").iterdir()) if (d / "app.py").exists()]
    imported = {d.name: [importtime(d) for _ in range(IMPORT_RUNS)] for d in functions_dirs}
    result.imports = {name: import_ms(runs) for name, runs in imported.items()}
    if eeid_result:
        eeid_result.imports = import_breakdown(imported["eeid_webhook"])
    phases["import times"] = time.monotonic()
    counts = [c for c in (hooks.counts, *smart_id_counts.values(), eeid_result and eeid_result.counts) if c]
    sizes = (
        f"DynamoDB in capacity units: a {MOBILE_ID.name} item {hooks.sizes.get('pending', 0):.0f} B pending,"
    )
    sizes += f" {hooks.sizes.get('final', 0):.0f} B final"
    lines = render_mobile_id(result) + render_webhooks(hooks) + render_smart_id(smart_id, n)
    lines += render_eeid(eeid_result) if eeid_result else []
    lines += render_counts(counts, sizes)
    lines += capacity.report(counts, MOBILE_ID.interval_seconds, SESSION_LIFETIME, CAPACITY_TARGET)
    ends = list(phases.items())
    took = ", ".join(f"{name} {end - ends[i][1]:.0f}" for i, (name, end) in enumerate(ends[1:]))
    lines.append(f"\nbench run time {time.monotonic() - began:.0f} s ({took} s)")
    print("\n".join(lines))
    if args.json:
        figures = {
            **asdict(result),
            "webhooks": asdict(hooks),
            "smart_id": smart_id,
            "capacity_inputs": [asdict(c) for c in counts],
            **({"eeid": asdict(eeid_result)} if eeid_result else {}),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"\nJSON: {args.json}")
    eeid_done = eeid_result is None or set(eeid_result.statuses) == {"completed"}
    smart_id_done = all(f["completed"] == n for f in smart_id.values())
    done = result.statuses == hooks.statuses == {"completed": n}
    if not done or not eeid_done or not smart_id_done:
        print(f"bench: not every session completed; stack log kept in {log.name}", file=sys.stderr)
        return 1
    Path(log.name).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
