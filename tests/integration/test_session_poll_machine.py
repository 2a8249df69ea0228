"""The real session_poll.asl.json under moto's Step Functions interpreter, with the real handlers."""

from __future__ import annotations

import json
import time

import pytest

from eid_broker.errors import InternalUnavailable, ProviderBadResponse, ProviderUnavailable
from eid_broker.providers.dokobit import DokobitClient
from tests.conftest import Served
from tests.integration.conftest import Deployed

EE = {"phone": "+37200000766", "personal_code": "60001019906"}
NEVER = {"phone": "+37213100266", "personal_code": "60001019961"}


def entered(execution: dict) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in execution["events"] if "stateEnteredEventDetails" in e
    ]


def test_a_session_is_polled_to_completion_by_the_state_machine(deployed: Deployed, dokobit: Served) -> None:
    started = deployed.start(EE)
    assert started["status"] == 201
    session_id = started["body"]["session_id"]

    execution = deployed.execution(session_id)

    assert execution["status"] == "SUCCEEDED"
    assert deployed.session(session_id)["status"] == "completed"
    # Wait → Poll → Final? per poll, then Done; the sandbox answers ok 0.5 s after login, interval 1 s
    states = entered(execution)
    assert states[:3] == ["Wait", "Poll", "Final?"] and states[-1] == "Done"
    assert states.count("Poll") == dokobit.app.stats()["calls"]["status"] == 1
    # identifiers and timing only in execution state
    execution_input = json.loads(execution["input"])
    assert set(execution_input) == {"session_id", "poll_function", "poll"}
    history = json.dumps(execution["events"], default=str)
    for personal in ("60001019906", "+37200000766", "MARY", "sandbox-dokobit-token"):
        assert personal not in history


def test_the_deadline_expires_the_session_with_timeout(deployed: Deployed) -> None:
    session_id = deployed.start(NEVER)["body"]["session_id"]
    execution = deployed.execution(session_id)
    session = deployed.session(session_id)
    assert execution["status"] == "SUCCEEDED"
    assert session["status"] == "expired" and session["error"]["code"] == "TIMEOUT"
    assert 2 <= entered(execution).count("Poll") <= 5  # 4 s deadline, 1 s interval; fewer when loaded


def test_cancel_stops_the_execution_at_the_next_poll(deployed: Deployed, dokobit: Served) -> None:
    session_id = deployed.start(NEVER)["body"]["session_id"]
    time.sleep(0.5)
    cancelled = deployed.api(
        "SessionCancelFunction", "DELETE", "/v1/sessions/{session_id}", session_id=session_id
    )
    assert cancelled["status"] == 200 and cancelled["body"]["status"] == "cancelled"
    execution = deployed.execution(session_id)
    assert execution["status"] == "SUCCEEDED"
    assert entered(execution).count("Poll") <= 2
    assert deployed.session(session_id)["status"] == "cancelled"


def test_an_unexpected_failure_fails_the_session_instead_of_stranding_it(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(record: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(DokobitClient, "login_status", lambda self, token: broken(token))
    session_id = deployed.start(EE)["body"]["session_id"]
    execution = deployed.execution(session_id)
    session = deployed.session(session_id)
    assert "RecordFailure" in entered(execution) and execution["status"] == "SUCCEEDED"
    assert session["status"] == "failed" and session["error"]["code"] == "INTERNAL_ERROR"
    assert "a bug" not in json.dumps(session)


def test_an_unreachable_provider_is_polled_until_the_fault_outlasts_the_deadline(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []

    def unreachable(record: object) -> None:
        calls.append(time.monotonic())
        raise ProviderUnavailable("dokobit could not be reached (ConnectionError).")

    monkeypatch.setattr(DokobitClient, "login_status", lambda self, token: unreachable(token))
    session_id = deployed.start(EE)["body"]["session_id"]
    execution = deployed.execution(session_id, timeout=60)
    session = deployed.session(session_id)
    assert session["status"] == "failed" and session["error"]["code"] == "PROVIDER_UNAVAILABLE"
    # every poll until the 4 s deadline plus the fault grace (five polls at the 1 s interval)
    assert calls[-1] - calls[0] >= 4 + 5 - 2 and len(calls) >= 7
    assert execution["status"] == "SUCCEEDED"


@pytest.mark.parametrize("fault", [ProviderUnavailable, ProviderBadResponse, InternalUnavailable])
def test_a_provider_fault_for_a_few_polls_does_not_end_the_session(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch, fault: type[Exception]
) -> None:
    real = DokobitClient.login_status
    failures = iter(range(2))

    def flaky(self: DokobitClient, token: str) -> object:
        if next(failures, None) is not None:
            raise fault("injected")
        return real(self, token)

    monkeypatch.setattr(DokobitClient, "login_status", flaky)
    session_id = deployed.start(EE)["body"]["session_id"]
    deployed.execution(session_id, timeout=30)
    assert deployed.session(session_id)["status"] == "completed"


def test_a_poll_that_crashes_is_polled_again_not_failed(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = DokobitClient.login_status
    crashes = iter(range(1))

    def crashing(self: DokobitClient, token: str) -> object:
        if next(crashes, None) is not None:
            raise RuntimeError("a bug, or Lambda killing the invocation")
        return real(self, token)

    monkeypatch.setattr(DokobitClient, "login_status", crashing)
    session_id = deployed.start(EE)["body"]["session_id"]
    execution = deployed.execution(session_id, timeout=30)
    assert deployed.session(session_id)["status"] == "completed"
    assert any(
        e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "RecordFailure"
        for e in execution["events"]
    )


def test_both_mobile_id_providers_run_side_by_side_on_one_state_machine(
    deployed: Deployed, dokobit: Served, marksign: Served
) -> None:
    first = deployed.start(EE)["body"]["session_id"]
    second = deployed.start({"phone": "+37269000366", "personal_code": "60001017705"}, "marksign-mobile-id")
    second_id = second["body"]["session_id"]
    executions = [deployed.execution(first), deployed.execution(second_id)]
    assert {e["stateMachineArn"] for e in executions} == {deployed.state_machine_arn}
    assert {json.loads(e["input"])["poll_function"].rsplit(":", 1)[-1] for e in executions} == {
        "eid-broker-it-dokobit-poll",
        "eid-broker-it-marksign-poll",
    }
    assert deployed.session(first)["identity"]["personal_code"] == "60001019906"
    assert deployed.session(second_id)["identity"]["personal_code"] == "60001017705"
    assert dokobit.app.stats()["calls"]["status"] >= 1 and marksign.app.stats()["calls"]["status"] >= 1
