"""The Smart-ID phase: sessions through both Smart-ID providers, what each costs."""

from __future__ import annotations

import math
from collections import Counter
from functools import partial
from typing import Any

from eid_broker.methods import dokobit_smart_id, marksign_smart_id
from local.bench.capacity import Counts
from local.bench.common import VERDICT, control_code_session, short, wave
from local.bench.counts import Function, SizeSampler, diff_stats, executions, session_counts
from local.bench.webhook_receiver import WebhookReceiver
from local.bench.webhooks import await_arrivals
from local.emulator.stack import LocalStack

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
