"""The bench's shared pieces: its constants and list prices, the client side of one session, waves of
concurrent sessions."""

from __future__ import annotations

import inspect
import math
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from eid_broker.methods import dokobit_mobile_id, eeid
from eid_broker.webhooks.targets import TIMEOUT_SECONDS as WEBHOOK_TIMEOUT_SECONDS
from local.bench.webhook_receiver import epoch
from local.sandboxes.eeid import EeidSandbox

ROOT = Path(__file__).resolve().parents[2]

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
# Outbound webhooks: the receiver's targets (the API's promised delivery latency) and what the phase does.
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


# The OIDC phase: its bound is the API path's plus this; single logins cold and warm; list prices, USD
# (KMS: a Sign with an RSA 2048 key, priced as symmetric requests; WAF: per request the web ACL inspects).
OIDC_SLACK_SECONDS, OIDC_SINGLE_RUNS, OIDC_COLD_PATH = 1.0, 3, ("oidc-login", "oidc-token")
KMS_PER_RSA_REQUEST, WAF_PER_REQUEST = 0.03 / 10_000, 0.60 / 1_000_000
