"""The Mobile-ID phase: concurrent sessions through the local stack, every figure of one session."""

from __future__ import annotations

import argparse
import math
import os
import platform
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import requests

from local.bench.common import (
    API_KEY,
    APIGW_PER_REQUEST,
    COST_TARGET_USD,
    DDB_PER_READ,
    DDB_PER_WRITE,
    GET_PROBES,
    LATENCY_SLACK_SECONDS,
    LONG_SESSION_SECONDS,
    MOBILE_ID,
    PERSON,
    READ_OPS,
    WRITE_OPS,
    SessionRun,
    control_code_session,
    percentile,
    spread,
    wave,
)
from local.bench.cost import cost_table, lambda_cost
from local.bench.counts import Function, diff_stats, executions, pair_sessions
from local.bench.webhooks import status_gaps
from local.emulator.stack import LocalStack


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
