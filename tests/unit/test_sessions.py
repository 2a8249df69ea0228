"""Sessions on moto DynamoDB: only pending → final, enforced by conditional writes, in every interleaving."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from eid_broker.errors import (
    ActionNotAllowed,
    InternalUnavailable,
    ProviderBadResponse,
    ProviderUnavailable,
    SessionNotFound,
    SessionOutcomeError,
)
from eid_broker.methods.base import Method, Opening
from eid_broker.polling import whole_seconds
from eid_broker.sessions import Identity, SessionError, SessionRepository, ShowControlCode
from eid_broker.sessions.service import SessionService

TABLE = "sessions"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class FakeStepFunctions:
    def __init__(self) -> None:
        self.started: list[dict] = []

    def start_execution(self, **kwargs: str) -> dict:
        self.started.append(kwargs)
        return {"executionArn": "arn:x"}


@pytest.fixture
def service() -> Iterator[tuple[SessionService, Clock, FakeStepFunctions]]:
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        clock, sfn = Clock(), FakeStepFunctions()
        repo = SessionRepository(TABLE, client)
        yield SessionService(repo, sfn, "arn:sm", clock, poll_function="arn:poll"), clock, sfn


class ControlCodeLogin(Method):
    """A Mobile-ID-like method whose provider always starts the login."""

    name = "dokobit-mobile-id"
    interval_seconds = 3.0
    timeout_seconds = 120.0

    def begin(self, body: object, session_id: str) -> Opening:
        return Opening(
            next_action=ShowControlCode(control_code="4231"), provider_ref={"token": "provider-token"}
        )

    def abandon(self, record) -> None:
        """As Mobile-ID: a cancel is told to the provider at the next poll (which needs the token)."""


def open_session(svc: SessionService) -> str:
    record, _ = svc.start(ControlCodeLogin(), SimpleNamespace(reference="order-17"), "key-1")
    return record.session_id


class Polled(Method):
    """A method as the poll step sees it: a check, a 3 s wait and (maybe) an abandon call."""

    def __init__(self, check, abandon=None) -> None:
        self.check = check  # type: ignore[method-assign]
        self._abandon = abandon

    def wait(self, record, now) -> float:
        return 3

    def abandon(self, record) -> None:
        if self._abandon is not None:
            self._abandon(record)


def step(svc: SessionService, session_id: str, check, abandon=None):
    return svc.poll_step(session_id, Polled(check, abandon))


IDENTITY = Identity(country="EE", personal_code="60001019906", given_name="MARY ÄNN", surname="X")


def test_open_stores_pending_and_starts_polling_with_identifiers_only(service) -> None:
    svc, _, sfn = service
    session_id = open_session(svc)
    record = svc.read(session_id, "key-1")
    assert record.status == "pending" and record.next_action is not None
    assert record.to_out().model_dump()["next_action"] == {
        "type": "show_control_code",
        "control_code": "4231",
    }
    (started,) = sfn.started
    assert started["name"] == session_id
    assert "provider-token" not in started["input"]
    assert json.loads(started["input"]) == {
        "session_id": session_id,
        "poll_function": "arn:poll",
        "poll": {"final": False, "status": "pending", "wait_seconds": 3},
    }  # the method and the deadline are read from the record, not carried in execution state


def test_another_api_key_cannot_see_the_session(service) -> None:
    svc, _, _ = service
    session_id = open_session(svc)
    with pytest.raises(SessionNotFound):
        svc.read(session_id, "key-2")


def test_a_late_poll_result_never_overwrites_cancelled(service) -> None:
    svc, _, _ = service
    session_id = open_session(svc)
    # Given the integrator cancels while a poll is in flight
    assert svc.cancel(session_id, "key-1").status == "cancelled"
    # When the in-flight poll's result arrives
    answer = step(svc, session_id, lambda record: IDENTITY)
    # Then the cancel stands and the machine is told to stop
    assert answer == {"final": True, "status": "cancelled", "wait_seconds": 0}
    assert svc.read(session_id, "key-1").identity is None


def test_the_provider_checked_while_pending_but_cancel_won_the_write(service) -> None:
    svc, _, _ = service
    session_id = open_session(svc)

    def check_and_meanwhile_cancel(record):
        assert record.status == "pending"
        svc.cancel(session_id, "key-1")
        return IDENTITY

    assert step(svc, session_id, check_and_meanwhile_cancel)["status"] == "cancelled"
    assert svc.read(session_id, "key-1").status == "cancelled"


def test_cancel_after_completion_is_409_and_changes_nothing(service) -> None:
    svc, _, _ = service
    session_id = open_session(svc)
    assert step(svc, session_id, lambda r: IDENTITY)["status"] == "completed"
    with pytest.raises(ActionNotAllowed):
        svc.cancel(session_id, "key-1")
    record = svc.read(session_id, "key-1")
    assert record.status == "completed" and record.next_action is None and record.provider_ref == {}
    assert record.identity == IDENTITY


def test_cancelling_twice_is_fine(service) -> None:
    svc, _, _ = service
    session_id = open_session(svc)
    svc.cancel(session_id, "key-1")
    assert svc.cancel(session_id, "key-1").status == "cancelled"


def test_provider_outcome_fails_the_session_with_its_codes(service) -> None:
    svc, _, _ = service
    session_id = open_session(svc)

    def refuse(record):
        raise SessionOutcomeError("USER_CANCELLED", "cancelled", provider="dokobit", provider_code="7023")

    assert step(svc, session_id, refuse) == {"final": True, "status": "failed", "wait_seconds": 0}
    error = svc.read(session_id, "key-1").error
    assert error == SessionError(
        code="USER_CANCELLED", message="cancelled", provider="dokobit", provider_code="7023"
    )


def test_still_waiting_at_the_deadline_expires_with_timeout(service) -> None:
    svc, clock, _ = service
    session_id = open_session(svc)
    assert step(svc, session_id, lambda r: None) == {
        "final": False,
        "status": "pending",
        "wait_seconds": 3,
    }
    clock.now += timedelta(seconds=120)
    assert step(svc, session_id, lambda r: None) == {
        "final": True,
        "status": "expired",
        "wait_seconds": 0,
    }
    error = svc.read(session_id, "key-1").error
    assert error is not None and error.code == "TIMEOUT"


def test_reading_a_stranded_pending_session_records_expired(service) -> None:
    svc, clock, _ = service
    session_id = open_session(svc)
    clock.now += timedelta(seconds=120 + 29)
    assert svc.read(session_id, "key-1").status == "pending"
    clock.now += timedelta(seconds=2)
    record = svc.read(session_id, "key-1")
    assert record.status == "expired" and record.error is not None and record.error.code == "TIMEOUT"


def test_a_failure_recorded_by_the_state_machine_never_replaces_an_outcome(service) -> None:
    svc, _, _ = service
    session_id = open_session(svc)
    step(svc, session_id, lambda r: IDENTITY)
    answer = svc.polling_failed(session_id, "Sandbox.Timedout", 3)
    assert answer == {"final": True, "status": "completed", "wait_seconds": 0}


@pytest.mark.parametrize("fault", [ProviderUnavailable, ProviderBadResponse, InternalUnavailable])
def test_a_transient_fault_is_tried_again_until_it_outlasts_the_deadline(service, fault) -> None:
    svc, clock, _ = service
    session_id = open_session(svc)

    def failing(record):
        raise fault("down")

    assert step(svc, session_id, failing) == {"final": False, "status": "pending", "wait_seconds": 3}
    clock.now += timedelta(seconds=120)  # at the deadline: still within the fault grace
    assert step(svc, session_id, failing)["final"] is False
    assert step(svc, session_id, lambda r: IDENTITY)["status"] == "completed"  # and it recovers
    other = open_session(svc)
    clock.now += timedelta(seconds=120 + 15)
    assert step(svc, other, failing) == {"final": True, "status": "failed", "wait_seconds": 0}
    error = svc.read(other, "key-1").error
    assert error is not None and error.code in ("PROVIDER_UNAVAILABLE", "PROVIDER_ERROR", "INTERNAL_ERROR")


def test_the_catch_all_keeps_polling_before_the_deadline_and_fails_after_it(service) -> None:
    svc, clock, _ = service
    session_id = open_session(svc)
    assert svc.polling_failed(session_id, "Sandbox.Timedout", 3) == {
        "final": False,
        "status": "pending",
        "wait_seconds": 3,
    }
    clock.now += timedelta(seconds=136)
    assert svc.polling_failed(session_id, "ProviderUnavailable", 3)["status"] == "failed"
    error = svc.read(session_id, "key-1").error
    assert error is not None and error.code == "PROVIDER_UNAVAILABLE"


@pytest.mark.parametrize(
    "bad", ["", "x", "0B6C8C1E-3F7E-4D7A-9D59-0D8F3C1A2B44", "../etc", "a" * 5000, "\udcff"]
)
def test_a_malformed_session_id_is_not_found(service, bad: str) -> None:
    svc, _, _ = service
    with pytest.raises(SessionNotFound):
        svc.read(bad, "key-1")


def test_a_cancelled_session_is_abandoned_at_the_provider_once(service) -> None:
    svc, _, _ = service
    session_id = open_session(svc)
    svc.cancel(session_id, "key-1")
    abandoned: list[str] = []

    def abandon(record):
        abandoned.append(record.provider_ref["token"])

    assert step(svc, session_id, lambda r: None, abandon=abandon)["status"] == "cancelled"
    assert step(svc, session_id, lambda r: None, abandon=abandon)["status"] == "cancelled"
    assert abandoned == ["provider-token"]
    assert svc.read(session_id, "key-1").provider_ref == {}


def test_a_failing_abandon_still_stops_polling(service) -> None:
    svc, _, _ = service
    session_id = open_session(svc)
    svc.cancel(session_id, "key-1")

    def abandon(record):
        raise ConnectionError("provider down")

    assert step(svc, session_id, lambda r: None, abandon=abandon) == {
        "final": True,
        "status": "cancelled",
        "wait_seconds": 0,
    }


def test_a_long_poll_answers_once_the_session_is_final(service) -> None:
    svc, _, _ = service
    session_id = open_session(svc)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:  # the outcome is recorded during the third pause
            step(svc, session_id, lambda record: IDENTITY)

    svc._sleep = sleep  # type: ignore[method-assign]
    record = svc.read_waiting(session_id, "key-1", 20)

    assert record.status == "completed" and len(sleeps) == 3
    assert all(pause <= 0.5 for pause in sleeps)  # so the answer comes within 0.5 s of the outcome


def test_a_long_poll_of_a_final_session_or_with_no_wait_answers_at_once(service) -> None:
    svc, _, _ = service
    session_id = open_session(svc)
    svc._sleep = lambda seconds: pytest.fail("slept")  # type: ignore[method-assign]
    assert svc.read_waiting(session_id, "key-1", 0).status == "pending"
    svc.cancel(session_id, "key-1")
    assert svc.read_waiting(session_id, "key-1", 25).status == "cancelled"


def test_polls_keep_the_providers_grid_whatever_a_poll_takes(service) -> None:
    svc, clock, _ = service
    session_id = open_session(svc)  # created at clock.now, interval 3 s
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.now += timedelta(seconds=seconds)

    svc._sleep = sleep  # type: ignore[method-assign]
    method = ControlCodeLogin()
    method.check = lambda record: None  # type: ignore[method-assign]
    # Given the Wait state (whole seconds) ended 0.4 s before the 6 s grid point
    clock.now += timedelta(seconds=5.6)

    answer = svc.poll_step(session_id, method)

    # Then the poll waits for its grid point before asking the provider, and the next Wait aims at 9 s
    assert sleeps == [pytest.approx(0.4)] and answer["wait_seconds"] == 3
    # and a poll that took 0.7 s waits 2 s, then sleeps the last 0.3 s before asking again
    record = svc.read(session_id, "key-1")
    ended = record.created_at_dt() + timedelta(seconds=6.7)
    assert whole_seconds(method.wait(record, ended)) == 2
    assert method.due_in(record, ended + timedelta(seconds=2)) == pytest.approx(0.3)


def test_erasure_removes_the_personal_data_of_a_final_session_and_keeps_the_rest(service) -> None:
    svc, _, _ = service
    session_id = open_session(svc)
    with pytest.raises(ActionNotAllowed):
        svc.erase(session_id, "key-1")  # pending: cancel first
    step(svc, session_id, lambda record: IDENTITY)
    with pytest.raises(SessionNotFound):
        svc.erase(session_id, "key-2")

    erased = svc.erase(session_id, "key-1")

    assert erased.identity is None and erased.provider_ref == {} and erased.expected_subject_hmac is None
    assert erased.erased_at is not None
    out = erased.to_out().model_dump()
    assert out["status"] == "completed" and out["reference"] == "order-17" and out["erased_at"]
    assert svc.erase(session_id, "key-1").erased_at == erased.erased_at  # again: the same answer


def test_an_error_message_is_at_most_200_characters() -> None:
    error = SessionError(code="PROVIDER_ERROR", message="x" * 5000)
    assert len(error.message) == 200 and error.message.endswith("…")
    assert SessionError(code="TIMEOUT", message="short").message == "short"
