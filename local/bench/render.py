"""The bench's report: the figures of each phase as text."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from eid_broker.methods import eeid
from eid_broker.webhooks.targets import TIMEOUT_SECONDS as WEBHOOK_TIMEOUT_SECONDS
from local.bench.capacity import Counts
from local.bench.common import (
    CLIENT_POLL_SECONDS,
    COST_TARGET_USD,
    EEID_COLD_PATH,
    EEID_FUNCTIONS,
    EEID_LINK_SECONDS,
    EEID_POLL_MS,
    EEID_SINGLE_RUNS,
    EEID_SUBJECT,
    EEID_TOKEN_TTL_SECONDS,
    EEID_WEBHOOK_DELAY,
    HOOK_TARGET_P95,
    IMPORT_RUNS,
    IMPORT_TARGET_MS,
    KMS_PER_RSA_REQUEST,
    LONG_POLL_WAIT,
    LONG_SESSION_SECONDS,
    MOBILE_ID,
    OIDC_SINGLE_RUNS,
    OIDC_SLACK_SECONDS,
    VERDICT,
    WAF_PER_REQUEST,
    short,
)
from local.bench.counts import Function
from local.bench.eeid import EeidResult
from local.bench.mobile_id import MobileIdResult
from local.bench.oidc import OidcResult
from local.bench.oidc_client import OIDC_METHOD
from local.bench.webhooks import WebhookResult
from local.emulator.lambda_runtime import MAX_WORKERS_PER_FUNCTION


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


def render_oidc(o: OidcResult) -> list[str]:
    n, lat, api, per, ok = o.logins, o.latency, o.api_latency, o.per_login, o.passes
    api_p95 = f"{api['p95']:.3f} s" if api.get("p95") is not None else "n/a"
    out = [
        f"\nOIDC: {n} browser-less logins ({OIDC_METHOD}, plain HTTP) started over one poll interval:"
        " authorize → identity form → the waiting page's JavaScript long-poll (GET /oidc/login/status)"
        " → reload → 303 to redirect_uri → /oidc/token (client_secret_basic, PKCE) → /oidc/userinfo;"
        f" every ID token verified against the JWKS (RS256; iss, aud, sub, nonce, acr, amr, exp);"
        f" measured wave {o.wall_seconds:.1f} s; logins {o.statuses}",
        f"  before it: {o.new_workers} new oidc-login workers (four at a time), then "
        + (
            f"an unmeasured wave of {n} ({o.warmup_failed} failed)"
            if o.warmup_failed is not None
            else "no warm-up"
        ),
        "  provider ok (sandbox ready_at) → browser got the 303 to redirect_uri",
        seconds_line("login", lat, lat["target_p95"])
        + f"   {VERDICT[ok['redirect']]}  ({lat['paired']}/{n} paired)",
        f"    API path        p95 {api_p95} (Mobile-ID phase: provider ok → session completed),"
        f" its bound {api['target_p95']:g} s; the login's bound = it + {OIDC_SLACK_SECONDS:g} s",
        f"  status long-polls per login {o.status_polls:.2f}",
        "  as the clients saw them (measured wave): "
        + "; ".join(
            f"{step} p50 {v['p50']:.0f} ms, p95 {v['p95']:.0f} ms"
            for step, v in o.client_ms.items()
            if v.get("p50") is not None
        ),
        f"  handler times ({OIDC_SINGLE_RUNS} single logins each; cold: the function's idle workers ended"
        " first, so the login's first call to it starts a new worker)",
    ]
    for route, h in o.handlers.items():
        out.append(
            f"    /oidc/{route:<10} cold: init {ms_list(x / 1000 for x in h.get('cold_init_ms', []))}, call"
            f" {ms_list(x / 1000 for x in h.get('cold_call_ms', []))}; warm call"
            f" {ms_list(x / 1000 for x in h['warm_call_ms'])}"
        )
    fns = ", ".join(
        f"{name} {f['invocations']:.2f} × {f['billed_ms'] / max(f['invocations'], 1e-9):.0f} ms"
        for name, f in sorted(per["lambda"].items())
    )
    ddb = ", ".join(f"{k} {v:.2f}" for k, v in sorted(per["dynamodb"].items()))
    kms = ", ".join(f"{k} {v:.2f}" for k, v in sorted(per["kms"].items())) or "none"
    sfn = per["stepfunctions"]
    out += [
        "  per login (exact counts ÷ N, the measured wave)",
        f"    API requests {per['api_requests']:.2f} (each also a WAF request); λ (invocations × billed ms"
        f" each): {fns}",
        f"    DynamoDB capacity units: {ddb}; KMS: {kms}; Step Functions: StartExecution"
        f" {sfn.get('StartExecution', 0):.2f}, {sfn['state_transitions']:.2f} transitions, Express"
        f" {per['execution_seconds_p50']:.1f} s p50; SQS {per['sqs']:.2f}",
        f"  cost at list prices ({o.memory_mb} MB Lambda; KMS ${KMS_PER_RSA_REQUEST * 10_000:g}/10k,"
        f" WAF ${WAF_PER_REQUEST * 1e6:g}/M requests)      one OIDC login    API path session",
    ]
    for row in o.cost:
        out.append(f"    {row:<22}{o.cost[row]:>20.8f}{o.api_cost.get(row, 0.0):>20.8f}")
    out.append(
        "    (the login's Lambda includes the page's status long-poll, held until the session is final; the"
        f" API path's client reads are apart: ${per.get('api_per_get', 0.0):.8f} per GET)"
    )
    return out
