"""Retention: a final session's personal data is erased PERSONAL_DATA_RETENTION_DAYS after
it ended, by the hourly RetentionEraseFunction reading the sparse ErasureDue index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3

from eid_broker.wiring import service_for
from local.emulator.cfn import function_config
from tests.conftest import Served
from tests.integration.conftest import REGION, Deployed, _Context

EE = {"phone": "+37200000766", "personal_code": "60001019906"}
REFUSED = {"phone": "+37200000266", "personal_code": "60001019939"}
NEVER = {"phone": "+37213100266", "personal_code": "60001019961"}


def stored(deployed: Deployed, session_id: str) -> dict:
    table = deployed.resolver.physical("SessionsTable").ref
    key = {"session_id": {"S": session_id}}
    return boto3.client("dynamodb", region_name=REGION).get_item(TableName=table, Key=key)["Item"]


def retention_run(deployed: Deployed, days_later: float = 0, budget: float = 30) -> int:
    """The scheduled function as EventBridge invokes it, or its service `days_later` than now."""
    if not days_later:
        event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
        return deployed.handler("RetentionEraseFunction").lambda_handler(event, _Context("retention"))[
            "erased"
        ]
    name = function_config(deployed.resolver, "RetentionEraseFunction").name
    service = service_for(deployed.settings[name])
    later = datetime.now(UTC) + timedelta(days=days_later)
    clock = service._clock
    service._clock = lambda: later
    try:
        return service.erase_due(budget_seconds=budget)
    finally:
        service._clock = clock


def test_personal_data_is_erased_once_its_retention_has_passed(deployed: Deployed, dokobit: Served) -> None:
    completed = deployed.start(EE)["body"]["session_id"]
    deployed.execution(completed)
    refused = deployed.start(REFUSED)["body"]["session_id"]  # final from birth
    pending = deployed.start(NEVER)["body"]["session_id"]
    item = stored(deployed, completed)
    ended = datetime.fromisoformat(deployed.session(completed)["updated_at"])
    assert int(item["erase_at"]["N"]) == int((ended + timedelta(days=30)).timestamp())
    assert "erase_at" in stored(deployed, refused) and "erase_at" not in stored(deployed, pending)

    assert retention_run(deployed) == 0  # nothing is due yet
    assert deployed.session(completed)["identity"] is not None
    assert retention_run(deployed, days_later=29) == 0

    assert retention_run(deployed, days_later=31) == 2
    session = deployed.session(completed)
    assert session["identity"] is None and session["erased_at"] and session["status"] == "completed"
    assert deployed.session(refused)["erased_at"] and deployed.session(pending)["status"] == "pending"
    for session_id in (completed, refused):
        assert not {"identity", "provider_ref", "erase_shard", "erase_at"} & set(stored(deployed, session_id))
    assert retention_run(deployed, days_later=31) == 0  # erased ones leave the index


def test_an_erased_session_leaves_the_index_and_a_spent_budget_leaves_the_rest_to_the_next_run(
    deployed: Deployed, dokobit: Served
) -> None:
    first = deployed.start(REFUSED)["body"]["session_id"]
    second = deployed.start(REFUSED, headers={"Idempotency-Key": "second"})["body"]["session_id"]
    erased = deployed.api("SessionEraseFunction", "POST", "/v1/sessions/{session_id}/erase", session_id=first)
    assert erased["status"] == 200 and "erase_at" not in stored(deployed, first)

    assert retention_run(deployed, days_later=31, budget=0) == 0
    assert "erase_at" in stored(deployed, second)
    assert retention_run(deployed, days_later=31) == 1
    assert deployed.session(second)["erased_at"]
