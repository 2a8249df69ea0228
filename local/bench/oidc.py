"""The OIDC phase: N browser-less logins through the hosted page (plain HTTP), how late the browser is
sent to the relying party after the provider said ok, the authorize and token handlers cold and warm,
and what one login costs on AWS at list prices, from the local stack's counts."""

from __future__ import annotations

import math
import threading
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import boto3
import requests

from local.bench.common import (
    API_KEY,
    APIGW_PER_REQUEST,
    DDB_PER_READ,
    DDB_PER_WRITE,
    KMS_PER_RSA_REQUEST,
    LAMBDA_PER_GB_SECOND,
    LAMBDA_PER_REQUEST,
    LATENCY_SLACK_SECONDS,
    MOBILE_ID,
    OIDC_COLD_PATH,
    OIDC_SINGLE_RUNS,
    OIDC_SLACK_SECONDS,
    SFN_EXPRESS_GB,
    SFN_EXPRESS_PER_GB_SECOND,
    SFN_EXPRESS_PER_REQUEST,
    SQS_PER_REQUEST,
    WAF_PER_REQUEST,
    WRITE_OPS,
    BenchError,
    percentile,
    short,
    spread,
    wave,
)
from local.bench.counts import (
    Call,
    Function,
    SizeSampler,
    diff_stats,
    executions,
    pair_sessions,
    table_name,
    units,
)
from local.bench.oidc_client import CALLBACK, OIDC_METHOD, LoginRun, oidc_login
from local.emulator.lambda_runtime import MAX_WORKERS_PER_FUNCTION
from local.emulator.stack import REGION, LocalStack

WRITES = (*WRITE_OPS, "BatchWriteItem", "TransactWriteItems")


@dataclass  # every figure of the OIDC phase, filled in as it is measured
class OidcResult:
    logins: int
    memory_mb: int
    wall_seconds: float = 0.0
    warmup_failed: int | None = None
    new_workers: int = 0  # the page's function, started a few at a time before the logins
    statuses: dict[str, int] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)  # provider ok → 303 to redirect_uri
    api_latency: dict[str, Any] = field(default_factory=dict)  # the Mobile-ID phase's: p95 and bound
    client_ms: dict[str, dict[str, Any]] = field(default_factory=dict)  # authorize, token, userinfo
    status_polls: float = 0.0  # per login
    handlers: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # cold and warm singles
    functions: dict[str, Function] = field(default_factory=dict)  # the measured wave
    per_login: dict[str, Any] = field(default_factory=dict)  # exact counts ÷ N
    cost: dict[str, float] = field(default_factory=dict)
    api_cost: dict[str, float] = field(default_factory=dict)  # the Mobile-ID phase's session, same rows
    passes: dict[str, bool] = field(default_factory=dict)
    runs: list[LoginRun] = field(default_factory=list)


def redirect_target(interval: float) -> tuple[float, float]:
    """The API path's bound on provider ok → the broker knows (the poll interval plus its slack), and the
    login's: the browser is at redirect_uri at most OIDC_SLACK_SECONDS after that."""
    api = interval + LATENCY_SLACK_SECONDS
    return api, api + OIDC_SLACK_SECONDS


def redirect_latencies(runs: list[LoginRun], provided: list[dict[str, Any]]) -> tuple[list[float], int]:
    """Each login's sandbox ok (``ready_at``) → its browser got the 303 to redirect_uri, paired by the
    control code the page showed; and how many were paired by creation order among equal codes."""
    pairs, by_order = pair_sessions(list(runs), provided)
    found = [x.finished_at - s["ready_at"] for x, s in pairs if x.finished_at and s.get("ready_at")]
    return found, by_order


def first_calls(entries: list[dict[str, Any]], *, cold: bool) -> dict[str, list[float]]:
    """A function's first call in each single login (its stats in that login, one entry each): on a new
    worker (``cold``, with the worker's init) or on a warm one (entries that started no worker)."""
    chosen = [e for e in entries if e["handler_ms"] and bool(e["cold_starts"]) == cold]
    found = {"call_ms": [e["handler_ms"][0] for e in chosen]}
    if cold:
        found["init_ms"] = [e["init_ms"][0] for e in chosen if e["init_ms"]]
    return found


def per_login(run: dict[str, Any], n: int, sizes: dict[str, float]) -> dict[str, Any]:
    """One login's share of what the stack counted in the wave (``diff_stats``): API requests, Lambda
    invocations and billed ms by function, DynamoDB capacity units by table, KMS, Step Functions, SQS."""
    # The functions' calls only: not the bench's own reads, nor the stack's (an event source mapping's
    # idle polls are not a login's).
    calls: Counter[Call] = Counter(run["aws_requests"])
    ours = Counter({k: v for k, v in calls.items() if k[0] in run["lambda"]})
    ddb: defaultdict[str, float] = defaultdict(float)
    kms: defaultdict[str, float] = defaultdict(float)
    sfn: defaultdict[str, float] = defaultdict(float)
    sqs = 0
    for (_, service, op, table), k in ours.items():
        if service == "dynamodb":
            name = table_name(table)
            ddb[f"{name} {'WRU' if op in WRITES else 'RRU'}"] += k * units(op, name, sizes) / n
        elif service in ("kms", "trentservice"):  # KMS's X-Amz-Target prefix is TrentService
            kms[op] += k / n
        elif service == "stepfunctions":
            sfn[op] += k / n
        elif service == "sqs":
            sqs += k
    lambdas = {
        short(name): {
            "invocations": e["invocations"] / n,
            "billed_ms": sum(math.ceil(ms) for ms in e["handler_ms"]) / n,
        }
        for name, e in run["lambda"].items()
        if e["invocations"]
    }
    return {
        "api_requests": run["api_requests"] / n,
        "lambda": lambdas,
        "dynamodb": dict(ddb),
        "kms": dict(kms),
        "stepfunctions": dict(sfn) | {"state_transitions": run["stepfunctions"]["state_transitions"] / n},
        "sqs": sqs / n,
    }


def login_cost(per: dict[str, Any], memory_mb: int, execution_seconds: float) -> dict[str, float]:
    """One login at list prices, by service; the Express workflow billed by 100 ms of its duration."""
    billed = math.ceil(round(execution_seconds * 10, 6)) / 10
    starts = per["stepfunctions"].get("StartExecution", 0.0)
    gb_ms = sum(f["billed_ms"] for f in per["lambda"].values()) * memory_mb / 1024
    rows = {
        "Lambda": sum(f["invocations"] for f in per["lambda"].values()) * LAMBDA_PER_REQUEST
        + gb_ms / 1000 * LAMBDA_PER_GB_SECOND,
        "API Gateway": per["api_requests"] * APIGW_PER_REQUEST,
        "WAF": per["api_requests"] * WAF_PER_REQUEST,
        "DynamoDB": sum(
            k * (DDB_PER_WRITE if unit.endswith("WRU") else DDB_PER_READ)
            for unit, k in per["dynamodb"].items()
        ),
        "KMS": sum(per["kms"].values()) * KMS_PER_RSA_REQUEST,
        "Step Functions": starts
        * (SFN_EXPRESS_PER_REQUEST + SFN_EXPRESS_GB * billed * SFN_EXPRESS_PER_GB_SECOND),
        "SQS": per["sqs"] * SQS_PER_REQUEST,
    }
    return rows | {"total": sum(rows.values())}


def api_path_cost(mobile_id_cost: dict[str, Any]) -> dict[str, float]:
    """The Mobile-ID phase's measured session (the Express design) in the same rows, WAF added for its
    one start request; the client's GETs apart, as that phase reports them."""
    rows = {k.removesuffix(" (start)"): v for k, v in mobile_id_cost["measured"]["Express (this)"].items()}
    rows.pop("total", None)
    rows["WAF"] = WAF_PER_REQUEST
    return rows | {"total": sum(rows.values())}


def started_since(moto_url: str, since: float) -> set[str]:
    """The names (session ids) of the executions started at or after ``since`` (epoch seconds)."""
    sfn = boto3.client("stepfunctions", endpoint_url=moto_url, region_name=REGION)
    after, found = datetime.fromtimestamp(since, UTC), set()
    for machine in sfn.list_state_machines()["stateMachines"]:
        for x in sfn.list_executions(stateMachineArn=machine["stateMachineArn"], maxResults=1000)[
            "executions"
        ]:
            if x["startDate"] >= after:
                found.add(x["name"])
    return found


def register_client(url: str) -> tuple[str, str, dict[str, Any]]:
    """A confidential client of the bench's API key for Mobile-ID (client_secret_basic), and the JWKS
    a relying party caches."""
    client_id = f"bench-{uuid.uuid4().hex[:10]}"
    body = {"client_name": "Bench Bank", "redirect_uris": [CALLBACK], "methods": [OIDC_METHOD]}
    headers = {"x-api-key": API_KEY}
    answer = requests.put(f"{url}/v1/oidc-clients/{client_id}", json=body, headers=headers, timeout=60)
    if answer.status_code != 200:
        raise BenchError(f"registering the OIDC client answered {answer.status_code}: {answer.text[:300]}")
    jwks = requests.get(f"{url}/oidc/jwks", timeout=60)
    jwks.raise_for_status()
    return client_id, answer.json()["client_secret"], jwks.json()


def singles(stack: LocalStack, work: Any, names: dict[str, str], *, cold: bool) -> list[dict[str, Any]]:
    """OIDC_SINGLE_RUNS logins one at a time, each one's stats; ``cold``: each after the authorize and
    token functions' idle workers ended, so that both start a new worker."""
    found = []
    for _ in range(OIDC_SINGLE_RUNS):
        for fn in OIDC_COLD_PATH if cold else ():
            stack.retire_idle(names[fn])
        before = stack.stats()
        wave(1, work)
        found.append(diff_stats(before, stack.stats()))
    return found


def _probe(url: str, gate: threading.Barrier, _: int) -> int:
    gate.wait(timeout=60)
    return requests.get(url, timeout=120).status_code


def warm_workers(stack: LocalStack, probe: str, function: str, wanted: int) -> int:
    """Start up to ``wanted`` new workers of ``function``, at most MAX_WORKERS_PER_FUNCTION at a time:
    N new interpreters at once on a small shared machine can starve each other past the init timeout.
    Each step lets four more invocations run than workers were started and sends that many at once
    (``probe``: a route of the function that answers at once, so that a step may find workers free and
    start fewer); the warm-up wave starts the rest. How many started."""

    def started() -> int:
        return int(stack.stats()["lambda"][function]["cold_starts"])

    first = started()
    for _ in range(wanted):
        if (done := started() - first) >= wanted:
            break
        k = done + MAX_WORKERS_PER_FUNCTION
        stack.set_concurrency(function, k)
        gate = threading.Barrier(k)
        with ThreadPoolExecutor(k) as pool:
            if (answers := set(pool.map(partial(_probe, probe, gate), range(k)))) != {200}:
                raise BenchError(f"warming the OIDC page's workers got {sorted(answers)}")
    return started() - first


def measure_oidc(
    stack: LocalStack, url: str, n: int, mb: int, *, warmup: bool, api: tuple[dict[str, Any], dict[str, Any]]
) -> OidcResult:
    """``api``: the Mobile-ID phase's latency and cost, which the login's figures stand beside."""
    r, interval = OidcResult(n, mb), MOBILE_ID.interval_seconds
    names = {short(x): x for x in stack.stats()["lambda"]}
    client_id, secret, jwks = register_client(url)
    # Each waiting page holds a worker with its long-poll, as on AWS; the other steps need theirs.
    r.new_workers = warm_workers(stack, f"{url}/oidc/static/login.css", names["oidc-login"], n)
    stack.set_concurrency(names["oidc-login"], n + MAX_WORKERS_PER_FUNCTION)
    # Logins spread over one poll interval, a steady flow (as the webhook phase's sessions).
    work = partial(oidc_login, url, client_id, secret, jwks, interval)
    stack.reset()
    if warmup:
        _, _, r.warmup_failed = wave(n, work, tolerant=True)
        stack.reset()
    before, began = stack.stats(), datetime.now(UTC).timestamp()
    sampler = SizeSampler(stack.moto_url, interval + 1.0)  # every login is waiting by then
    runs, r.wall_seconds, _ = wave(n, work)
    r.runs = cast(list[LoginRun], runs)
    ids = started_since(stack.moto_url, began - 1)
    execs = executions(stack.moto_url, ids, 30)
    after = stack.stats()
    run = diff_stats(before, after)
    r.statuses = dict(Counter(x.status for x in r.runs))
    latencies, by_order = redirect_latencies(
        r.runs, after["sandboxes"].get("dokobit", {}).get("sessions", [])
    )
    api_bound, bound = redirect_target(interval)
    r.latency = {
        **spread(latencies),
        "paired": len(latencies),
        "paired_by_order": by_order,
        "target_p95": bound,
    }
    r.api_latency = {"p95": api[0].get("p95"), "p50": api[0].get("p50"), "target_p95": api_bound}
    r.client_ms = {
        step: spread([getattr(x, f"{step}_ms") for x in r.runs])
        for step in ("authorize", "token", "userinfo")
    }
    r.status_polls = sum(x.status_polls for x in r.runs) / n
    r.functions = {short(k): Function.of(e, e) for k, e in run["lambda"].items() if e["invocations"]}
    r.per_login = per_login(run, n, sampler.result(ids))
    seconds = percentile(x.seconds for x in execs.values() if x.seconds) or 0.0
    r.per_login["execution_seconds_p50"] = seconds
    r.cost, r.api_cost = login_cost(r.per_login, mb, seconds), api_path_cost(api[1])
    r.per_login["api_per_get"] = api[1].get("per_get", 0.0)

    warm, cold = singles(stack, work, names, cold=False), singles(stack, work, names, cold=True)
    for fn, route in zip(OIDC_COLD_PATH, ("authorize", "token"), strict=True):
        entries = {
            kind: [d["lambda"][names[fn]] for d in diffs] for kind, diffs in (("warm", warm), ("cold", cold))
        }
        r.handlers[route] = {
            **{f"cold_{k}": v for k, v in first_calls(entries["cold"], cold=True).items()},
            "warm_call_ms": first_calls(entries["warm"], cold=False)["call_ms"],
        }
    r.passes = {"redirect": len(latencies) == n and (r.latency["p95"] or math.inf) <= bound}
    return r
