"""``make bench``: what a session costs (provider calls, transitions, Lambda, DynamoDB, $ beside Standard
designs), how late the broker notices an answer, handler and import times: concurrent Mobile-ID, then eeID
sessions through an in-process local stack. Counts are exact, durations medians (the machine is shared).
Exit code 0 even when a target fails; 1 when the run itself broke."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

import requests

from local.bench import capacity
from local.bench.common import (
    _CLIENTS,
    API_KEY,
    CAPACITY_TARGET,
    IMPORT_RUNS,
    MOBILE_ID,
    ROOT,
    SESSION_LIFETIME,
    BenchError,
)
from local.bench.cost import import_breakdown, import_ms, importtime
from local.bench.eeid import finish_eeid, start_eeid
from local.bench.mobile_id import measure_mobile_id
from local.bench.oidc import measure_oidc
from local.bench.render import render_counts, render_eeid, render_mobile_id, render_oidc, render_webhooks
from local.bench.smart_id import measure_smart_id, render_smart_id
from local.bench.webhook_receiver import WebhookReceiver
from local.bench.webhooks import measure_schedule, measure_webhooks, retry_schedule
from local.emulator.cfn import Template
from local.emulator.stack import LocalStack, isolate_from_aws


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
    parser.add_argument("--oidc-logins", type=int, help="concurrent OIDC logins (default: --sessions)")
    parser.add_argument("--skip-oidc", action="store_true", help="leave out the OIDC login phase")
    args = parser.parse_args(argv)
    args.eeid_sessions = args.sessions if args.eeid_sessions is None else args.eeid_sessions
    args.oidc_logins = args.sessions if args.oidc_logins is None else args.oidc_logins
    if min(args.sessions, args.eeid_sessions, args.oidc_logins) < 1 or args.ok_after <= 0:
        parser.error("--sessions, --eeid-sessions and --oidc-logins must be >= 1, --ok-after > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # raises KeyboardInterrupt: a clean stop
    # The template's defaults are measured, whatever the caller's shell holds; every bench session is the
    # same test person, so the per-person limit is off. The sandboxes read os.environ, the stack its copy.
    for name in ("POLL_INTERVAL_SECONDS", "SESSION_TIMEOUT_SECONDS", "DOKOBIT_BASE_URL"):
        os.environ.pop(name, None)
    os.environ.update(LOCAL_API_KEY=API_KEY, PERSON_START_LIMIT="0")
    # The bench queues its test events in waves: the per-key manual webhook call limit is not measured.
    os.environ["WEBHOOK_MANUAL_LIMIT"] = "1000"
    # Every bench client long-polls with the one bench key: the per-key cap must not refuse them.
    os.environ["LONG_POLL_MAX_PER_KEY"] = str(
        min(1000, max(50, 2 * max(args.sessions, args.eeid_sessions, args.oidc_logins)))
    )
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
        api = (result.latency, result.cost)
        oidc = (
            None
            if args.skip_oidc
            else measure_oidc(stack, url, args.oidc_logins, mb, warmup=args.warmup, api=api)
        )
        phases["oidc"] = time.monotonic()
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
    lines += render_oidc(oidc) if oidc else []
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
            **({"oidc": asdict(oidc)} if oidc else {}),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"\nJSON: {args.json}")
    eeid_done = eeid_result is None or set(eeid_result.statuses) == {"completed"}
    smart_id_done = all(f["completed"] == n for f in smart_id.values())
    done = result.statuses == hooks.statuses == {"completed": n}
    done = done and (oidc is None or oidc.statuses == {"completed": args.oidc_logins})
    if not done or not eeid_done or not smart_id_done:
        print(f"bench: not every session completed; stack log kept in {log.name}", file=sys.stderr)
        return 1
    Path(log.name).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
