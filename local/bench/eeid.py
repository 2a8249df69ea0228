"""The eeID phase: sessions completed by the webhook (and the fallback poll), cold and warm."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import requests

from local.bench.capacity import Counts
from local.bench.common import (
    DUPLICATE_GRACE,
    EEID_CLIENT_POLL_SECONDS,
    EEID_COLD_PATH,
    EEID_COMPLETE_TIMEOUT_SECONDS,
    EEID_FIRST_WAIT,
    EEID_POLL_MS,
    EEID_SINGLE_RUNS,
    EEID_SUBJECT,
    EEID_WEBHOOK_DELAY,
    SFN_STANDARD_PER_TRANSITION,
    Barriers,
    BenchError,
    SessionRun,
    percentile,
    read_until_final,
    short,
    spread,
    start,
    wave,
)
from local.bench.cost import fallback_schedule, lambda_cost
from local.bench.counts import Function, SizeSampler, diff_stats, executions, session_counts
from local.bench.webhook_receiver import WebhookReceiver
from local.bench.webhooks import await_arrivals, exactly_once, first_arrivals, outcome_to_receiver
from local.emulator.lambda_runtime import MAX_WORKERS_PER_FUNCTION
from local.emulator.stack import LocalStack


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
