"""Capacity on paper: from the bench's per-session counts and AWS's default quotas,
how many session starts per second and how many pending sessions one region sustains without a quota
raise, which quota binds first, and what a target load needs. Arithmetic only; the bench measures."""

from __future__ import annotations

from dataclasses import dataclass, field

# AWS default quotas per account and region (us-east-1), the figures the README's arithmetic uses.
API = "API Gateway requests/s"
CONCURRENCY = "Lambda concurrent executions"
INVOCATIONS = "Lambda invocations/s (10 × concurrency)"
EXPRESS_STARTS = "Step Functions Express StartExecution/s"
STANDARD_STARTS = "Step Functions Standard StartExecution/s"
TRANSITIONS = "Step Functions Standard state transitions/s"
SECRETS = "Secrets Manager GetSecretValue/s"
QUOTAS: dict[str, float] = {
    API: 10_000,  # account throttle (burst 5,000)
    CONCURRENCY: 1_000,
    INVOCATIONS: 10_000,  # synchronous invocations: 10 per second per unit of concurrency
    EXPRESS_STARTS: 6_000,  # token bucket 6,000, refill 6,000/s
    STANDARD_STARTS: 300,  # refill 300/s, bucket 1,300 (us-east-1, us-west-2, eu-west-1; elsewhere 150/800)
    TRANSITIONS: 5_000,  # refill 5,000/s, bucket 5,000 (the same three regions; elsewhere 800/800)
    SECRETS: 10_000,  # GetSecretValue and DescribeSecret together
}
TABLE_UNITS, KEY_WCU, KEY_RCU = 40_000, 1_000, 3_000  # on-demand per table (RRU and WRU); per partition


def table_quota(name: str) -> float:
    if name.startswith("DynamoDB one"):
        return KEY_WCU if name.endswith("WCU/s") else KEY_RCU
    return TABLE_UNITS if name.startswith("DynamoDB") else QUOTAS[name]


Usage = dict[str, float]  # quota name -> what one unit of load uses of it


def combine(*parts: tuple[float, Usage]) -> Usage:
    total: Usage = {}
    for factor, usage in parts:
        for name, value in usage.items():
            total[name] = total.get(name, 0.0) + factor * value
    return total


def binding(usage: Usage) -> tuple[float, str]:
    """How many units of this load the default quotas allow, and the quota that allows the fewest."""
    return min(
        ((table_quota(name) / value, name) for name, value in usage.items() if value > 0), default=(0, "")
    )


@dataclass
class Counts:
    """One session of one method, start to final: exact counts ÷ sessions, DynamoDB in capacity units."""

    method: str
    sessions: int
    workflow: str  # EXPRESS | STANDARD: their StartExecution quotas differ; Express has no transition quota
    seconds: float  # start to final, p50
    polls: float  # invocations of the poll function
    api_requests: float  # the broker's side: the start, a provider's webhooks (the clients' reads apart)
    client_reads: float  # GETs of the bench's clients: long-polls in the webhook phase
    start_executions: float
    state_transitions: float
    secrets: float  # GetSecretValue: once per new worker and secret, then every 5 minutes
    sqs: float  # the functions' SQS requests (the event source's receives and deletes apart)
    invocations: dict[str, float] = field(default_factory=dict)  # function -> per session
    billed_ms: dict[str, float] = field(default_factory=dict)  # function -> one warm call, p50
    units: dict[str, float] = field(default_factory=dict)  # "sessions RRU" -> per session (all functions)
    poll_units: dict[str, float] = field(default_factory=dict)  # the same, one poll's
    hot_keys: dict[str, float] = field(default_factory=dict)  # "webhooks WCU" -> on its busiest shared key
    read_function: str = ""  # behind GET /v1/sessions/{id}: the clients', not the session's
    poll_function: str = ""
    long_poll_wait: float = 25.0  # a waiting client's GET comes back after this, then it asks again
    reader_rru: float = 0.0  # sessions RRU per second a long-poll waits (measured)

    def usage(self) -> Usage:
        """One session start to final, as measured, without the clients' reads."""
        fns = [f for f in self.invocations if f != self.read_function]
        usage = {
            API: self.api_requests,
            CONCURRENCY: sum(self.invocations[f] * self.billed_ms.get(f, 0.0) for f in fns) / 1000,
            INVOCATIONS: sum(self.invocations[f] for f in fns),
            EXPRESS_STARTS if self.workflow == "EXPRESS" else STANDARD_STARTS: self.start_executions,
            SECRETS: self.secrets,
        }
        if self.workflow == "STANDARD":
            usage[TRANSITIONS] = self.state_transitions
        usage |= {f"DynamoDB {name}/s": value for name, value in self.units.items()}
        return usage | {f"DynamoDB one {name}/s": value for name, value in self.hot_keys.items()}

    def poll(self) -> Usage:
        """One provider poll while a session waits."""
        ms = self.billed_ms.get(self.poll_function, 0.0)
        return {CONCURRENCY: ms / 1000, INVOCATIONS: 1.0} | {
            f"DynamoDB {name}/s": value for name, value in self.poll_units.items()
        }

    def fixed(self) -> Usage:
        """A session's use apart from its polls: start, final write, webhook delivery."""
        return combine((1, self.usage()), (-self.polls, self.poll()))

    def reader(self) -> Usage:
        """One client long-polling, per second it waits: a GET every ``long_poll_wait`` s holds a worker."""
        every = self.long_poll_wait
        return {
            API: 1 / every,
            INVOCATIONS: 1 / every,
            CONCURRENCY: 1.0,
            "DynamoDB sessions RRU/s": self.reader_rru,
        }


def advice(name: str, most: float, webhooks: float) -> str:
    """What a need above the default asks for (``most``: the larger of the two client styles' needs)."""
    if most <= table_quota(name):
        return ""
    only = "" if webhooks > table_quota(name) else " (long-poll clients only)"
    if name == INVOCATIONS:
        return f"  follows concurrency: ≥ {most / 10:,.0f}{only}"
    if name.startswith("DynamoDB one"):
        return f"  a per-partition limit: spread the key{only}"
    return f"  raise{only}"


def pending_usage(c: Counts, interval: float, lifetime: float) -> Usage:
    """One session that stays pending ``lifetime`` seconds, polled every ``interval``, per second."""
    return combine((1 / lifetime, c.fixed()), (1 / interval, c.poll()))


def need(c: Counts, starts: float, pending: float, interval: float, *, readers: bool = False) -> Usage:
    """``starts`` per second while ``pending`` sessions wait, polled every ``interval`` (long-polled by their
    clients with ``readers``)."""
    parts = [(starts, c.fixed()), (pending / interval, c.poll())]
    return combine(*parts, *([(pending, c.reader())] if readers else []))


def report(counts: list[Counts], interval: float, lifetime: float, target: tuple[float, float]) -> list[str]:
    """The capacity lines of the bench: each method's ceiling, the polled methods' pending ceiling, and
    what ``target`` (starts/s, pending sessions) needs of each quota."""
    out = ["\ncapacity on paper: AWS default quotas (us-east-1) ÷ the per-session counts above"]
    for c in counts:
        rate, quota = binding(c.usage())
        line = f"  {c.method:<20} {rate:>9,.0f} starts/s (binds: {quota})"
        if quota.startswith("DynamoDB one"):  # one integrator's key; many integrators share the rest
            shared = {k: v for k, v in c.usage().items() if not k.startswith("DynamoDB one")}
            line += " for one API key; {:,.0f}/s over many ({})".format(*binding(shared))
        if c.reader_rru:
            lp_rate, lp_quota = binding(combine((1, c.usage()), (c.seconds, c.reader())))
            line += f"; clients long-polling: {lp_rate:,.0f}/s ({lp_quota})"
        out.append(line)
    polled = next((c for c in counts if c.poll_function and c.workflow == "EXPRESS"), None)
    if polled is None:
        return out
    pending, quota = binding(pending_usage(polled, interval, lifetime))
    with_readers = combine((1, pending_usage(polled, interval, lifetime)), (1, polled.reader()))
    lp_pending, lp_quota = binding(with_readers)
    out.append(
        f"  pending {polled.method} sessions ({lifetime:g} s each, polled every {interval:g} s):"
        f" {pending:,.0f} (binds: {quota}); clients long-polling: {lp_pending:,.0f} ({lp_quota})"
    )
    starts, waiting = target
    out.append(f"  {starts:,.0f} starts/s with {waiting:,.0f} pending ({polled.method} counts):")
    out.append(f"    {'quota':<46} {'default':>9} {'webhooks':>10} {'long-poll':>10}")
    hooks = need(polled, starts, waiting, interval)
    polls = need(polled, starts, waiting, interval, readers=True)
    for name in sorted(set(hooks) | set(polls), key=lambda x: -polls.get(x, 0) / table_quota(x)):
        if max(hooks.get(name, 0), polls.get(name, 0)) > 0:
            flag = advice(name, max(hooks.get(name, 0), polls.get(name, 0)), hooks.get(name, 0))
            out.append(
                f"    {name:<46} {table_quota(name):>9,.0f} {hooks.get(name, 0):>10,.0f}"
                f" {polls.get(name, 0):>10,.0f}{flag}"
            )
    return out
