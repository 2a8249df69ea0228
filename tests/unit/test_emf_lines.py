"""The EMF lines of eid_broker.observability."""

from __future__ import annotations

import json

import pytest

from eid_broker import config
from eid_broker.observability import DETAIL, Metric, MetricUnit, count, emit


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


def test_a_metric_carries_the_service_set_and_each_detail_set_whose_dimensions_are_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    count(Metric.SESSIONS_FAILED, method="eeid", code="USER_CANCELLED")
    count(Metric.SESSIONS_FAILED, method="eeid", code="")  # no code: no code set
    full, partial = lines(capsys)
    directive = full["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "eid-broker"
    assert directive["Dimensions"] == [["service"], ["service", "method"], ["service", "method", "code"]]
    assert (full["service"], full["method"], full["code"], full["SessionsFailed"]) == (
        "eid-broker",
        "eeid",
        "USER_CANCELLED",
        [1.0],
    )
    assert partial["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"], ["service", "method"]]


def test_several_metrics_share_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    emit(
        {
            Metric.PROVIDER_LATENCY: (12.5, MetricUnit.Milliseconds),
            Metric.PROVIDER_ERRORS: (1, MetricUnit.Count),
        },
        provider="mosip",
        error_class="timeout",
    )
    [line] = lines(capsys)
    names = [m["Name"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert names == ["ProviderLatency", "ProviderErrors"] and line["ProviderLatency"] == [12.5]
    assert ["service", "provider", "error_class"] in line["_aws"]["CloudWatchMetrics"][0]["Dimensions"]


def test_a_metric_that_cannot_be_emitted_never_breaks_the_call(capsys: pytest.CaptureFixture[str]) -> None:
    emit({Metric.SESSION_SECONDS: (float("nan"), MetricUnit.Seconds)}, method="eeid")
    emit({Metric.SESSION_SECONDS: ("many", MetricUnit.Seconds)}, method="eeid")  # type: ignore[dict-item]
    assert lines(capsys) == []


def test_metrics_follow_the_settings_namespace_and_can_be_turned_off(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        config, "process_settings", lambda: config.Settings(powertools_metrics_namespace="eid-broker/prod")
    )
    count(Metric.POLL_FAILURES)
    monkeypatch.setattr(config, "process_settings", lambda: config.Settings(powertools_metrics_disabled=True))
    count(Metric.POLL_FAILURES)
    [line] = lines(capsys)
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "eid-broker/prod"


def test_every_metric_has_its_dimension_sets() -> None:
    assert set(DETAIL) == set(Metric)
