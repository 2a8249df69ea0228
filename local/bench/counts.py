"""What the local stack counted: item sizes and capacity units, AWS calls by caller, executions and their
transitions, each function's invocations and durations."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import boto3

from eid_broker.sessions.service import SESSION_ID
from local.bench.capacity import Counts
from local.bench.common import LONG_POLL_WAIT, WRITE_OPS, SessionRun, percentile, short
from local.emulator.stack import REGION


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
