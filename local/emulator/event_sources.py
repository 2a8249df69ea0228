"""Lambda event source mappings, run the way AWS runs them: pollers outside the writer's call.

moto's own mappings invoke synchronously inside the write that made the record (and never deliver a
delayed SQS message), so the local stack reads each DynamoDB stream and long-polls each queue itself
and invokes the function with the event shapes Lambda sends, as the template's ``Events`` configure.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from local.emulator.cfn import CfnError

Invoke = Callable[[str, Any], tuple[str, bool]]  # (function name, event) -> (payload, errored)
Log = Callable[[str], None]
STREAM_POLL_SECONDS = 0.1
STREAM_RETRIES = 3  # locally: then the batch goes to the on-failure destination


def _check_pattern(pattern: Any) -> None:
    if isinstance(pattern, dict):
        for value in pattern.values():
            _check_pattern(value)
    elif not isinstance(pattern, list) or any(isinstance(item, (dict, list)) for item in pattern):
        raise CfnError(f"FilterCriteria: only exact-value patterns run locally, not {pattern!r}")


def matches(pattern: Any, value: Any) -> bool:
    """Lambda event filtering, for the exact-value patterns the template uses."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and matches(p, value[k]) for k, p in pattern.items()
        )
    return value in pattern


@dataclass(frozen=True)
class Mapping:
    kind: str  # DynamoDB | SQS | Schedule
    function_name: str
    source_arn: str
    batch_size: int
    filters: tuple[Any, ...]
    failure_destination: str | None  # a queue URL
    queue_url: str | None = None
    period_seconds: float | None = None  # a Schedule's rate


_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> float:
    """An EventBridge `rate(N unit)` in seconds (cron expressions do not run locally)."""
    found = re.fullmatch(r"rate\((\d+) (\w+)\)", expression.strip())
    if not found or found[2] not in _UNITS or int(found[1]) < 1:
        raise CfnError(f"Schedule: only rate(N minute[s]|hour[s]|day[s]) runs locally, not {expression!r}")
    return int(found[1]) * _UNITS[found[2]]


def mappings(
    resolver: Any, queue_url_of: Callable[[str], str], schedule_seconds: float | None = None
) -> list[Mapping]:
    """Every DynamoDB, SQS and Schedule event of the template's functions (`schedule_seconds`, when
    given, replaces every schedule's rate: a local run need not wait an hour)."""
    found = []
    for logical_id, resource in resolver.template.of_type("AWS::Serverless::Function"):
        for name, event in (resource["Properties"].get("Events") or {}).items():
            if event["Type"] not in ("DynamoDB", "SQS", "Schedule"):
                continue
            props = resolver.resolve(event["Properties"])
            if event["Type"] == "Schedule":
                period = rate_seconds(props["Schedule"])
                found.append(
                    Mapping(
                        kind="Schedule",
                        function_name=str(resolver.ref(logical_id)),
                        source_arn=f"arn:aws:events:{resolver.region}:{resolver.account_id}:rule/{logical_id}{name}",
                        batch_size=1,
                        filters=(),
                        failure_destination=None,
                        period_seconds=schedule_seconds or period,
                    )
                )
                continue
            filters = tuple(
                json.loads(item["Pattern"])
                for item in (props.get("FilterCriteria") or {}).get("Filters") or []
            )
            for pattern in filters:
                _check_pattern(pattern)
            destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            source = props["Stream"] if event["Type"] == "DynamoDB" else props["Queue"]
            found.append(
                Mapping(
                    kind=event["Type"],
                    function_name=str(resolver.ref(logical_id)),
                    source_arn=str(source),
                    batch_size=int(props.get("BatchSize", 100 if event["Type"] == "DynamoDB" else 10)),
                    filters=filters,
                    failure_destination=queue_url_of(destination) if destination else None,
                    queue_url=queue_url_of(source) if event["Type"] == "SQS" else None,
                )
            )
    return found


def _as_lambda_sends(record: dict[str, Any], source_arn: str) -> dict[str, Any]:
    """boto3 parses the record's time into a datetime; Lambda sends epoch seconds."""
    change = dict(record["dynamodb"])
    when = change.get("ApproximateCreationDateTime")
    if isinstance(when, datetime):
        change["ApproximateCreationDateTime"] = int(when.timestamp())
    return {**record, "dynamodb": change, "eventSourceARN": source_arn}


def _failed_items(payload: str) -> set[str]:
    """The batchItemFailures' identifiers (none when the answer is not a partial-batch response)."""
    try:
        answer = json.loads(payload)
    except ValueError:
        return set()
    if not isinstance(answer, dict):
        return set()
    return {str(item.get("itemIdentifier")) for item in answer.get("batchItemFailures") or []}


class EventSources:
    """One thread per mapping; ``stop()`` ends them."""

    def __init__(
        self, clients: dict[str, Any], invoke: Invoke, log: Log, *, region: str, workers: int
    ) -> None:
        self._clients = clients
        self._invoke = invoke
        self._log = log
        self._region = region
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sqs-invoke")
        # Progress a test can wait on instead of sleeping: full passes over each stream (a record written
        # before a pass began has been handed to its function when the pass ends), queue batches in flight.
        self._progress = threading.Lock()
        self._stream_passes: dict[str, int] = {}
        self._queue_batches = 0

    def progress(self) -> dict[str, Any]:
        with self._progress:
            return {
                "stream_passes": dict(self._stream_passes),
                "queue_batches_in_flight": self._queue_batches,
            }

    def start(self, found: list[Mapping]) -> None:
        for mapping in found:
            target = {"DynamoDB": self._stream, "SQS": self._queue, "Schedule": self._schedule}[mapping.kind]
            thread = threading.Thread(target=target, args=(mapping,), daemon=True, name=mapping.function_name)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    # EventBridge schedules

    def _schedule(self, mapping: Mapping) -> None:
        """Invoke asynchronously at the rate, as EventBridge does; the first run one period after start."""
        assert mapping.period_seconds is not None
        while not self._stopping.wait(mapping.period_seconds):
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "time": now,
                "region": self._region,
                "resources": [mapping.source_arn],
                "detail": {},
            }
            self._pool.submit(self._invoke, mapping.function_name, event)

    # DynamoDB streams

    def _stream(self, mapping: Mapping) -> None:
        streams = self._clients["dynamodbstreams"]
        shards = streams.describe_stream(StreamArn=mapping.source_arn)["StreamDescription"]["Shards"]
        iterators = {
            shard["ShardId"]: streams.get_shard_iterator(
                StreamArn=mapping.source_arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]
            for shard in shards
        }
        while not self._stopping.is_set():
            for shard_id, iterator in list(iterators.items()):
                try:
                    answer = streams.get_records(ShardIterator=iterator, Limit=1000)
                except (BotoCoreError, ClientError) as exc:
                    self._log(f"stream read failed: {exc}")
                    continue
                iterators[shard_id] = answer.get("NextShardIterator") or iterator
                records = [
                    _as_lambda_sends(record, mapping.source_arn)
                    for record in answer.get("Records", [])
                    if not mapping.filters or any(matches(p, record) for p in mapping.filters)
                ]
                for start in range(0, len(records), mapping.batch_size):
                    self._stream_batch(mapping, records[start : start + mapping.batch_size])
            with self._progress:
                self._stream_passes[mapping.function_name] = (
                    self._stream_passes.get(mapping.function_name, 0) + 1
                )
            self._stopping.wait(STREAM_POLL_SECONDS)

    def _stream_batch(self, mapping: Mapping, batch: list[dict[str, Any]]) -> None:
        for attempt in range(STREAM_RETRIES + 1):
            payload, errored = self._invoke(mapping.function_name, {"Records": batch})
            if errored:
                failed: set[str] = set()  # the whole batch again
            elif not (failed := _failed_items(payload)):
                return
            numbers = [record["dynamodb"]["SequenceNumber"] for record in batch]
            # Lambda retries from the first failed record on (the whole batch after an error).
            batch = batch[min((numbers.index(f) for f in failed if f in numbers), default=0) :]
            if attempt < STREAM_RETRIES and self._stopping.wait(1.0):
                return
        self._log(f"{mapping.function_name}: a stream batch failed {STREAM_RETRIES + 1} times")
        if mapping.failure_destination:
            first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
            document = {
                "requestContext": {
                    "functionArn": mapping.function_name,
                    "condition": "RetryAttemptsExhausted",
                },
                "DDBStreamBatchInfo": {
                    "streamArn": mapping.source_arn,
                    "startSequenceNumber": first["SequenceNumber"],
                    "endSequenceNumber": last["SequenceNumber"],
                    "batchSize": len(batch),
                },
            }
            self._clients["sqs"].send_message(
                QueueUrl=mapping.failure_destination, MessageBody=json.dumps(document)
            )

    # SQS

    def _queue(self, mapping: Mapping) -> None:
        sqs = self._clients["sqs"]
        while not self._stopping.is_set():
            try:
                answer = sqs.receive_message(
                    QueueUrl=mapping.queue_url,
                    MaxNumberOfMessages=min(10, mapping.batch_size),
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except (BotoCoreError, ClientError) as exc:
                if not self._stopping.is_set():
                    self._log(f"queue read failed: {exc}")
                    time.sleep(1)
                continue
            messages = answer.get("Messages") or []
            if messages:
                with self._progress:
                    self._queue_batches += 1
                self._pool.submit(self._queue_batch, mapping, messages)

    def _queue_batch(self, mapping: Mapping, messages: list[dict[str, Any]]) -> None:
        try:
            self._deliver(mapping, messages)
        finally:
            with self._progress:
                self._queue_batches -= 1

    def _deliver(self, mapping: Mapping, messages: list[dict[str, Any]]) -> None:
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes") or {},
                "messageAttributes": m.get("MessageAttributes") or {},
                "md5OfBody": m.get("MD5OfBody"),
                "eventSource": "aws:sqs",
                "eventSourceARN": mapping.source_arn,
                "awsRegion": self._region,
            }
            for m in messages
        ]
        payload, errored = self._invoke(mapping.function_name, {"Records": records})
        if errored:
            return  # every message comes back after its visibility timeout, as on AWS
        failed = _failed_items(payload)
        done = [r for r in records if r["messageId"] not in failed]
        if done:
            self._clients["sqs"].delete_message_batch(
                QueueUrl=mapping.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(done)],
            )
