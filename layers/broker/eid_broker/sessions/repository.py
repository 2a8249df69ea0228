"""DynamoDB access for sessions. Only pending → final transitions, enforced by conditional writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eid_broker.dynamo import attribute, is_condition_failure, item_of, plain_item, serialize
from eid_broker.errors import InternalUnavailable
from eid_broker.sessions.models import Identity, SessionError, SessionRecord, Status, iso

_PENDING = {":pending": {"S": "pending"}}
_STATUS = {"#status": "status"}
# The sparse index of final sessions whose personal data is still held: (erase_shard, erase_at). Shards
# spread its writes (one index partition takes 1,000 a second); erasure removes both attributes.
ERASURE_INDEX = "ErasureDue"
ERASURE_SHARDS = 16
_ERASURE = "erase_shard = :erase_shard, erase_at = :erase_at"


def erasure_shard(session_id: str) -> str:
    return str(int(session_id[:8], 16) % ERASURE_SHARDS)


def record_from_item(item: dict[str, Any]) -> SessionRecord:
    """A stored (or streamed) session item as the record."""
    data = plain_item(item)
    data["ttl"] = int(data["ttl"])
    return SessionRecord.model_validate(data)


class SessionRepository:
    def __init__(
        self, table_name: str, client: Any, retention_days: int = 30, personal_data_days: int = 30
    ) -> None:
        self._table = table_name
        self._client = client
        self._retention = timedelta(days=retention_days)
        self.personal_data_days = personal_data_days
        self._personal_data = timedelta(days=personal_data_days)

    def _erasure(self, session_id: str, ended: datetime) -> dict[str, Any]:
        """The ErasureDue attributes of a session that ended at `ended`: when its personal data is due."""
        due = int((ended + self._personal_data).timestamp())
        return {"erase_shard": {"S": erasure_shard(session_id)}, "erase_at": {"N": str(due)}}

    def ttl_for(self, expires_at: datetime) -> int:
        return int((expires_at + self._retention).timestamp())

    def create(self, record: SessionRecord) -> None:
        item = item_of(record)
        if record.is_final:  # refused or completed at once: its personal data is due from now
            item |= self._erasure(record.session_id, record.updated_at_dt())
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(session_id)",
            )
        except (ClientError, BotoCoreError) as exc:
            raise InternalUnavailable("Sessions could not be stored.") from exc

    def delete_pending(self, session_id: str) -> None:
        """Undo a start whose polling could not be launched (nothing of it may stay behind)."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"session_id": {"S": session_id}},
                ConditionExpression="#status = :pending",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=_PENDING,
            )
        except (ClientError, BotoCoreError) as exc:
            if not is_condition_failure(exc):
                raise InternalUnavailable("Sessions could not be updated.") from exc

    def get(self, session_id: str) -> SessionRecord | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"session_id": {"S": session_id}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise InternalUnavailable("Sessions could not be read.") from exc
        item = response.get("Item")
        return record_from_item(item) if item else None

    def owners(self, session_ids: list[str]) -> dict[str, tuple[str, str]]:
        """(owner, method) of each stored session among the ids whose personal data is not erased (an
        erased session links to nothing any more), in BatchGetItem pages of 100."""
        found: dict[str, tuple[str, str]] = {}
        ids = sorted(set(session_ids))
        for start in range(0, len(ids), 100):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [{"session_id": {"S": sid}} for sid in ids[start : start + 100]],
                    "ProjectionExpression": "session_id, #owner, #method, erased_at",
                    "ExpressionAttributeNames": {"#owner": "owner", "#method": "method"},
                    "ConsistentRead": True,
                }
            }
            for _ in range(5):  # unprocessed keys are retried a few times, then the rest is left out
                try:
                    response = self._client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    raise InternalUnavailable("Sessions could not be read.") from exc
                for item in response.get("Responses", {}).get(self._table, []):
                    if "erased_at" not in item:
                        found[item["session_id"]["S"]] = (item["owner"]["S"], item["method"]["S"])
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
        return found

    def finish(
        self,
        session_id: str,
        status: Status,
        now: datetime,
        *,
        identity: Identity | None = None,
        error: SessionError | None = None,
        keep_provider_ref: bool = False,
    ) -> SessionRecord | None:
        """Move a pending session to a final status; None if it was not pending (the earlier outcome wins).
        The provider's references go with it, unless the caller keeps them for one more provider call."""
        names = {"#status": "status", "#updated": "updated_at", "#next": "next_action"}
        removed = "#next, expected_subject_hmac" + ("" if keep_provider_ref else ", provider_ref")
        values = {
            **_PENDING,
            ":status": {"S": status},
            ":updated": {"S": iso(now)},
            **{f":{name}": value for name, value in self._erasure(session_id, now).items()},
        }
        sets = ["#status = :status", "#updated = :updated", _ERASURE]
        if identity is not None:
            names["#identity"] = "identity"
            values[":identity"] = serialize(attribute(identity))
            sets.append("#identity = :identity")
        if error is not None:
            names["#error"] = "error"
            values[":error"] = serialize(attribute(error))
            sets.append("#error = :error")
        answer = self._update(
            session_id,
            f"SET {', '.join(sets)} REMOVE {removed}",
            "#status = :pending",
            names,
            values,
        )
        return record_from_item(answer) if answer else None

    def _update(
        self,
        session_id: str,
        expression: str,
        condition: str,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """One conditional update; the item as it now is, or None when the condition did not hold."""
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"session_id": {"S": session_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                **({"ExpressionAttributeNames": names} if names else {}),
                **({"ExpressionAttributeValues": values} if values else {}),
                ReturnValues="ALL_NEW",
            )
        except (ClientError, BotoCoreError) as exc:
            if is_condition_failure(exc):
                return None
            raise InternalUnavailable("Sessions could not be updated.") from exc
        return response["Attributes"]

    def erase(self, session_id: str, now: datetime) -> SessionRecord | None:
        """Remove the personal data of a final session (the first erasure's time stays); None if pending."""
        answer = self._update(
            session_id,
            "SET erased_at = if_not_exists(erased_at, :now)"
            " REMOVE #identity, provider_ref, expected_subject_hmac, erase_shard, erase_at",
            "attribute_exists(session_id) AND #status <> :pending",
            {**_STATUS, "#identity": "identity"},
            {**_PENDING, ":now": {"S": iso(now)}},
        )
        return record_from_item(answer) if answer else None

    def due_for_erasure(self, shard: str, now: datetime) -> Iterator[str]:
        """Ids of the shard's final sessions whose personal data is due (the index is eventually
        consistent: erasing one twice is harmless, and one missed is due at the next run)."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": ERASURE_INDEX,
            "KeyConditionExpression": "erase_shard = :shard AND erase_at <= :now",
            "ExpressionAttributeValues": {":shard": {"S": shard}, ":now": {"N": str(int(now.timestamp()))}},
        }
        while True:
            try:
                page = self._client.query(**query)
            except (ClientError, BotoCoreError) as exc:
                raise InternalUnavailable("Sessions could not be read.") from exc
            yield from (item["session_id"]["S"] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def forget_provider_ref(self, session_id: str) -> None:
        self._update(session_id, "REMOVE provider_ref", "attribute_exists(session_id)")

    def claim(self, session_id: str, now: float, seconds: float) -> bool:
        """Take a short exclusive claim on a pending session (one of several concurrent deliveries wins)."""
        claimed = self._update(
            session_id,
            "SET claimed_until = :until",
            "#status = :pending AND (attribute_not_exists(claimed_until) OR claimed_until < :now)",
            _STATUS,
            {**_PENDING, ":until": {"N": str(now + seconds)}, ":now": {"N": str(now)}},
        )
        return claimed is not None

    def release(self, session_id: str) -> None:
        self._update(session_id, "REMOVE claimed_until", "attribute_exists(session_id)")

    def take_attempt(self, session_id: str) -> SessionRecord | None:
        """Reserve one OTP attempt before the provider is asked; None if none is left or not pending.

        One conditional write per submission, so concurrent submissions can never use more attempts
        than the session has.
        """
        answer = self._update(
            session_id,
            "SET next_action.attempts_left = next_action.attempts_left - :one",
            "#status = :pending AND next_action.attempts_left > :zero",
            _STATUS,
            {**_PENDING, ":one": {"N": "1"}, ":zero": {"N": "0"}},
        )
        return record_from_item(answer) if answer else None

    def give_back_attempt(self, session_id: str) -> None:
        """Return a reserved attempt whose OTP the provider never judged."""
        self._update(
            session_id,
            "SET next_action.attempts_left = next_action.attempts_left + :one",
            "#status = :pending",
            _STATUS,
            {**_PENDING, ":one": {"N": "1"}},
        )
