"""The local event sources: the Schedule rates they can run, and the progress counters that tests wait on
instead of sleeping."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from local.emulator.cfn import CfnError
from local.emulator.event_sources import EventSources, Mapping, rate_seconds

QUEUE = "http://sqs.local/queue"


class FakeSqs:
    """Hands out one message, then tells the poller to stop."""

    def __init__(self) -> None:
        self.sources: EventSources | None = None
        self.deleted: list[str] = []
        self.calls = 0

    def receive_message(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            return {"Messages": [{"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": "{}"}]}
        assert self.sources is not None
        self.sources._stopping.set()
        return {}

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> None:
        self.deleted += [entry["ReceiptHandle"] for entry in Entries]


def test_a_queue_batch_counts_as_in_flight_until_its_function_has_answered() -> None:
    sqs = FakeSqs()
    seen: list[int] = []
    handled = threading.Event()

    def invoke(name: str, event: Any) -> tuple[str, bool]:
        assert sources is not None
        seen.append(sources.progress()["queue_batches_in_flight"])
        handled.set()
        return "{}", False

    sources = EventSources({"sqs": sqs}, invoke, lambda line: None, region="eu-north-1", workers=1)
    sqs.sources = sources
    assert sources.progress() == {"stream_passes": {}, "queue_batches_in_flight": 0}
    mapping = Mapping("SQS", "webhook-send", "arn:aws:sqs:eu-north-1:1:queue", 10, (), None, QUEUE)
    sources._queue(mapping)  # returns once the fake has stopped it
    assert handled.wait(5)
    sources.stop()  # waits for the batch
    assert seen == [1]
    assert sources.progress()["queue_batches_in_flight"] == 0
    assert sqs.deleted == ["r-1"]


def test_a_batch_whose_function_fails_is_no_longer_in_flight_either() -> None:
    sqs = FakeSqs()

    def invoke(name: str, event: Any) -> tuple[str, bool]:
        raise RuntimeError("the runtime broke")

    sources = EventSources({"sqs": sqs}, invoke, lambda line: None, region="eu-north-1", workers=1)
    sqs.sources = sources
    sources._queue(Mapping("SQS", "webhook-send", "arn:aws:sqs:eu-north-1:1:queue", 10, (), None, QUEUE))
    sources.stop()
    assert sources.progress()["queue_batches_in_flight"] == 0
    assert sqs.deleted == []


@pytest.mark.parametrize(
    ("expression", "seconds"), [("rate(1 hour)", 3600), ("rate(5 minutes)", 300), ("rate(2 days)", 172800)]
)
def test_schedule_rates_run_locally(expression: str, seconds: int) -> None:
    assert rate_seconds(expression) == seconds


@pytest.mark.parametrize("expression", ["cron(0 * * * ? *)", "rate(0 hours)", "rate(1 fortnight)"])
def test_schedules_the_local_stack_cannot_run_are_refused(expression: str) -> None:
    with pytest.raises(CfnError):
        rate_seconds(expression)
