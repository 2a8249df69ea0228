"""The metrics the broker emits (CloudWatch Embedded Metric Format lines on stdout), from the real
handlers, and the template's alarms: each alarm on a broker metric watches one the code emits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from eid_broker.errors import ProviderUnavailable
from eid_broker.providers import dokobit, eeid, marksign, mobbid, mosip
from eid_broker.providers.dokobit import DokobitClient
from local.emulator.cfn import function_config
from tests.conftest import Served
from tests.integration.conftest import Deployed

EE = {"phone": "+37200000766", "personal_code": "60001019906"}
REFUSED = {"phone": "+37200000266", "personal_code": "60001019939"}  # 6001: not a Mobile-ID user
NEVER = {"phone": "+37213100266", "personal_code": "60001019961"}
PROVIDERS = {module.PROVIDER for module in (dokobit, eeid, marksign, mobbid, mosip)}


class Emitted:
    """Every EMF line printed so far, as (namespace, metric, dimensions, value) rows."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self.lines: list[dict[str, Any]] = []

    def rows(self) -> Iterator[tuple[str, str, dict[str, str], float]]:
        out = self._capsys.readouterr().out
        self.lines += [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
        for line in self.lines:
            for directive in line["_aws"]["CloudWatchMetrics"]:
                for names in directive["Dimensions"]:
                    for metric in directive["Metrics"]:
                        value = line[metric["Name"]]
                        yield (
                            directive["Namespace"],
                            metric["Name"],
                            {name: line[name] for name in names},
                            sum(value) if isinstance(value, list) else value,
                        )

    def total(self, metric: str, **dimensions: str) -> float:
        return sum(
            v
            for _, name, dims, v in self.rows()
            if name == metric and dims == {"service": "eid-broker", **dimensions}
        )


def limit_person_starts(deployed: Deployed, limit: int = 3) -> None:
    """The deployed default (the fixture turns the limit off for the other tests)."""
    name = function_config(deployed.resolver, "DokobitStartFunction").name
    deployed.settings[name] = deployed.settings[name].model_copy(update={"person_start_limit": limit})


@pytest.fixture
def emitted(capsys: pytest.CaptureFixture[str]) -> Emitted:
    return Emitted(capsys)


def test_a_completed_session_counts_its_start_its_outcome_and_its_provider_calls(
    deployed: Deployed, dokobit: Served, emitted: Emitted
) -> None:
    session_id = deployed.start(EE)["body"]["session_id"]
    deployed.execution(session_id)
    assert deployed.session(session_id)["status"] == "completed"

    method = "dokobit-mobile-id"
    assert emitted.total("SessionsStarted", method=method) == emitted.total("SessionsStarted") == 1
    assert emitted.total("SessionsCompleted", method=method) == 1
    assert emitted.total("SessionsFailed") == emitted.total("SessionsExpired") == 0
    durations = [v for _, name, dims, v in emitted.rows() if name == "SessionSeconds" and "method" in dims]
    assert len(durations) == 1 and 0 <= durations[0] < 30
    calls = dokobit.app.stats()["calls"]
    latencies = [
        v
        for _, name, dims, v in emitted.rows()
        if name == "ProviderLatency" and dims.get("provider") == "dokobit"
    ]
    assert len(latencies) == calls["login"] + calls["status"] and all(v >= 0 for v in latencies)
    assert emitted.total("ProviderErrors", provider="dokobit") == 0
    assert {ns for ns, *_ in emitted.rows()} == {"eid-broker/it"}  # the stage's own namespace


def test_refusals_count_by_code_and_the_person_limit_counts_its_refusals(
    deployed: Deployed, dokobit: Served, emitted: Emitted
) -> None:
    limit_person_starts(deployed)
    answers = [deployed.start(REFUSED)["status"] for _ in range(4)]
    assert answers == [201, 201, 201, 429]
    method = "dokobit-mobile-id"
    assert emitted.total("SessionsFailed", method=method, code="NOT_MOBILE_ID_USER") == 3
    assert emitted.total("SessionsStarted", method=method) == 3
    assert emitted.total("PersonThrottled", family="mobile-id") == emitted.total("PersonThrottled") == 1


def test_a_cancelled_and_an_expired_session_are_counted_once_each(
    deployed: Deployed, dokobit: Served, emitted: Emitted
) -> None:
    cancelled = deployed.start(NEVER)["body"]["session_id"]
    for _ in range(2):  # cancelling twice is one cancellation
        deployed.api("SessionCancelFunction", "DELETE", "/v1/sessions/{session_id}", session_id=cancelled)
    deployed.execution(cancelled)
    expired = deployed.start(NEVER, headers={"Idempotency-Key": "expire-me"})["body"]["session_id"]
    deployed.execution(expired)
    deployed.session(expired)
    assert emitted.total("SessionsCancelled", method="dokobit-mobile-id") == 1
    assert emitted.total("SessionsExpired", method="dokobit-mobile-id", code="TIMEOUT") == 1


def test_provider_outages_and_catch_all_failures_are_counted(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch, emitted: Emitted
) -> None:
    def broken(self: DokobitClient, token: str) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(DokobitClient, "login_status", broken)
    session_id = deployed.start(EE)["body"]["session_id"]
    deployed.execution(session_id)
    assert emitted.total("PollFailures") >= 1
    assert emitted.total("SessionsFailed", method="dokobit-mobile-id", code="INTERNAL_ERROR") == 1

    monkeypatch.setenv("DOKOBIT_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    from eid_broker import http

    with pytest.raises(ProviderUnavailable):
        http.send(http.make_session(retries=0), "GET", "http://127.0.0.1:9/x", provider="dokobit")
    assert emitted.total("ProviderErrors", provider="dokobit", error_class="unreachable") == 1


def test_a_rejected_eeid_webhook_is_counted_by_reason(deployed: Deployed, emitted: Emitted) -> None:
    assert deployed.webhook(b'{"identification_request_id": "x"}', "0" * 64)["status"] == 401
    assert (
        emitted.total("EeidWebhookRejected", reason="signature") == emitted.total("EeidWebhookRejected") == 1
    )


def test_every_alarm_on_a_broker_metric_watches_one_the_code_emits(
    deployed: Deployed, dokobit: Served, monkeypatch: pytest.MonkeyPatch, emitted: Emitted
) -> None:
    # What the alarms watch, from the template as deployed (stage "it").
    watched: list[tuple[str, str, dict[str, str]]] = []
    for _, resource in deployed.resolver.template.of_type("AWS::CloudWatch::Alarm"):
        props = deployed.resolver.resolve(resource["Properties"])
        stats = [q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q]
        for metric in stats or [props]:
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            watched.append((metric["Namespace"], metric["MetricName"], dims))
    own = [w for w in watched if not w[0].startswith("AWS/")]
    assert {name for _, name, _ in own} == {
        "PollFailures",
        "ProviderErrors",
        "EeidWebhookRejected",
        "PersonThrottled",
    }

    # Make the code emit each of them.
    deployed.webhook(b"{}", "0" * 64)
    limit_person_starts(deployed)
    for _ in range(4):
        deployed.start(REFUSED)
    monkeypatch.setattr(
        DokobitClient, "login_status", lambda self, token: (_ for _ in ()).throw(RuntimeError())
    )
    deployed.execution(deployed.start(EE)["body"]["session_id"])

    shapes = {(ns, name, frozenset(dims)) for ns, name, dims, _ in emitted.rows()}
    for namespace, name, dims in own:
        assert namespace == "eid-broker/it" and dims.get("service") == "eid-broker"
        assert (namespace, name, frozenset(dims)) in shapes, (name, dims)
        assert dims.get("provider", "dokobit") in PROVIDERS
