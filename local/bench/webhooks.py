"""The outbound webhook phase: sessions whose outcome reaches a local receiver, its latency, duplicates,
retries on the schedule and what an event costs."""

from __future__ import annotations

import itertools
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import boto3
import requests

from local.bench.capacity import Counts
from local.bench.common import (
    API_KEY,
    ARRIVAL_TIMEOUT,
    DATA_OUT_PER_GB,
    DDB_PER_READ,
    DDB_PER_WRITE,
    DUPLICATE_GRACE,
    FAILING_EVENTS,
    HOOK_TARGET_P95,
    KNOWN_SLACK,
    LONG_POLL_WAIT,
    MEAN_JITTER,
    MOBILE_ID,
    PERIOD_SLACK,
    PERSON,
    ROOT,
    SQS_MAX_DELAY,
    SQS_PER_REQUEST,
    WEBHOOK_TIMEOUT_MS,
    WRITE_OPS,
    BenchError,
    SessionRun,
    control_code_session,
    percentile,
    short,
    spread,
    wave,
)
from local.bench.cost import lambda_cost
from local.bench.counts import (
    Function,
    SizeSampler,
    calls_by,
    diff_stats,
    executions,
    pair_sessions,
    session_counts,
    table_name,
    units,
)
from local.bench.webhook_receiver import Arrival, WebhookReceiver
from local.emulator.cfn import Template
from local.emulator.lambda_runtime import MAX_WORKERS_PER_FUNCTION
from local.emulator.stack import REGION, STACK_CALLER, LocalStack


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


@dataclass  # the outbound webhook phase: Mobile-ID sessions whose clients long-poll
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
