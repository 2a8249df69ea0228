"""Handler import times (``python -X importtime``) and the cost arithmetic: Lambda, the cost table, the
eeID fallback schedule."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

from eid_broker.methods import eeid
from local.bench.common import (
    APIGW_PER_REQUEST,
    DDB_PER_READ,
    DDB_PER_WRITE,
    EEID_LINK_SECONDS,
    LAMBDA_PER_GB_SECOND,
    LAMBDA_PER_REQUEST,
    ROOT,
    SFN_EXPRESS_GB,
    SFN_EXPRESS_PER_GB_SECOND,
    SFN_EXPRESS_PER_REQUEST,
    SFN_STANDARD_PER_TRANSITION,
)
from local.emulator.lambda_runtime import offline_aws_env


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
