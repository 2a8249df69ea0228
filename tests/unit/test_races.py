"""Races between everything that can end a session — polls (twice, as at-least-once Express executions
do), an eeID webhook, a cancel, the expiry recorded on a late read, OTP submissions — in 1,000 seeded
interleavings of their DynamoDB calls against moto. No final state may ever change, and no outcome that
an actor was told it recorded may be lost."""

from __future__ import annotations

import contextlib
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from eid_broker.errors import BrokerError, Code, SessionOutcomeError
from eid_broker.methods import mosip
from eid_broker.methods.base import Method, Opening
from eid_broker.sessions import EnterOtp, Identity, SessionRepository, ShowControlCode
from eid_broker.sessions.models import utcnow
from eid_broker.sessions.service import SessionService
from tests.conftest import moto_table

TABLE = "sessions"
RUNS = 1000
VIOLATIONS = ("final_states_flipped", "told_another_outcome", "outcomes_lost", "tokens_leaked")
OWNER = "key-1"
RIGHT_OTP = "123456"
IDENTITY = Identity(country="EE", personal_code="60001019906", subject="PNOEE-60001019906")


class Scheduler:
    """Lets one actor thread at a time make its next DynamoDB call, picking the next one at random."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._cond = threading.Condition()
        self._waiting: dict[int, threading.Event] = {}
        self._live = 0
        self.steps = 0
        self._actor = threading.local()  # which actor a thread runs: thread ids differ from run to run

    def turn(self) -> None:
        event = threading.Event()
        with self._cond:
            self._waiting[self._actor.index] = event
            self._cond.notify_all()
        event.wait()

    def run(self, actors: list[Callable[[], None]]) -> None:
        def body(index: int, actor: Callable[[], None]) -> None:
            self._actor.index = index
            self.turn()
            try:
                actor()
            finally:
                with self._cond:
                    self._live -= 1
                    self._cond.notify_all()

        threads = [threading.Thread(target=body, args=pair) for pair in enumerate(actors)]
        self._live = len(threads)
        for thread in threads:
            thread.start()
        while True:
            with self._cond:
                self._cond.wait_for(lambda: len(self._waiting) == self._live)
                if not self._live:
                    break
                event = self._waiting.pop(self._rng.choice(sorted(self._waiting)))
                self.steps += 1
            event.set()
        for thread in threads:
            thread.join()


class Gated:
    """The DynamoDB client as the actors see it: each call waits its turn; after each write, the
    watcher reads the session's status (ungated) so that any change of a final status is seen."""

    def __init__(self, inner: Any, scheduler: Scheduler, watch: Callable[[], None]) -> None:
        self._inner, self._scheduler, self._watch = inner, scheduler, watch

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._inner, name)

        def gated(**kwargs: Any) -> Any:
            self._scheduler.turn()
            try:
                return call(**kwargs)
            finally:
                if name != "get_item":
                    self._watch()

        return gated


class FakeMosip:
    def __init__(self) -> None:
        self.issued: list[str] = []
        self.invalidated: list[str] = []

    def verify_otp(self, user_id: str, otp: str, app_id: str) -> tuple[str, float] | None:
        if otp != RIGHT_OTP:
            return None
        token = f"token-{len(self.issued)}"
        self.issued.append(token)
        return token, 4_000_000_000.0

    def invalidate_token(self, token: str) -> None:
        self.invalidated.append(token)


class NoStepFunctions:
    def start_execution(self, **kwargs: Any) -> dict:
        return {}


@pytest.fixture
def client() -> Iterator[Any]:
    with moto_table(TABLE, "session_id") as dynamodb:
        yield dynamodb


def status_of(dynamodb: Any, session_id: str) -> str:
    # Straight from moto's table (the watcher is no actor: it must not go through the scheduler).
    backend = dynamodb_backends[ACCOUNT]["eu-north-1"]
    item = backend.get_item(TABLE, {"session_id": DynamoType({"S": session_id})})
    assert item is not None
    return item.attrs["status"].value


class OtpLogin(Method):
    name = mosip.OTP_METHOD.name
    expiry_code = Code.OTP_EXPIRED

    def lifetime(self) -> float:
        return 120

    def begin(self, body: Any, session_id: str) -> Opening:
        action = EnterOtp(channels=["email"], attempts_left=3, expires_at="x")
        return Opening(next_action=action, provider_ref={"user_id": "alice", "app_id": "resident"})


class ControlCodeLogin(Method):
    interval_seconds = 3.0
    timeout_seconds = 120.0

    def __init__(self, name: str) -> None:
        self.name = name

    def begin(self, body: Any, session_id: str) -> Opening:
        return Opening(next_action=ShowControlCode(control_code="1234"), provider_ref={"token": "t"})


class Polled(Method):
    def __init__(self, check: Callable[[Any], Identity | None]) -> None:
        self.check = check  # type: ignore[method-assign]

    def wait(self, record: Any, now: Any) -> float:
        return 3


def one_run(dynamodb: Any, seed: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    rng = random.Random(seed)
    scheduler = Scheduler(rng)
    setup = SessionService(SessionRepository(TABLE, dynamodb), NoStepFunctions(), "arn:sm")
    otp_session = rng.random() < 0.4
    method = OtpLogin() if otp_session else ControlCodeLogin(rng.choice(["dokobit-mobile-id", "eeid"]))
    record, _ = setup.start(method, SimpleNamespace(reference=None), OWNER)
    session_id = record.session_id
    seen: list[str] = []

    def watch() -> None:
        now = status_of(dynamodb, session_id)
        if not seen or seen[-1] != now:
            seen.append(now)

    repo = SessionRepository(TABLE, Gated(dynamodb, scheduler, watch))
    service = SessionService(repo, NoStepFunctions(), "arn:sm")
    late = SessionService(repo, NoStepFunctions(), "arn:sm", clock=lambda: utcnow() + timedelta(seconds=200))
    claimed: list[str] = []  # final statuses actors were told they recorded
    definite = False
    fake = FakeMosip()
    handed: list[str] = []
    monkeypatch.setattr(mosip, "client", lambda: fake)

    def outcome_check() -> Callable[[Any], Identity | None]:
        kind = rng.choice(["completed", "failed", "pending"])

        def check(record: Any) -> Identity | None:
            if kind == "completed":
                return IDENTITY
            if kind == "failed":
                raise SessionOutcomeError("USER_CANCELLED", "cancelled", provider="dokobit")
            return None

        return check

    actors: list[Callable[[], None]] = []

    def poll() -> None:
        answer = service.poll_step(session_id, Polled(checks.pop()))
        if answer["final"] and answer["status"] != "missing":
            claimed.append(answer["status"])

    def webhook() -> None:
        current = repo.get(session_id)
        if current is not None:
            service.settle_once(current, checks.pop(), claim_seconds=30)

    def cancel() -> None:
        with contextlib.suppress(BrokerError):  # 409: another outcome was there first
            claimed.append(service.cancel(session_id, OWNER).status)

    def expire_on_read() -> None:
        claimed.append(late.read(session_id, OWNER).status)

    def submit(otp: str) -> Callable[[], None]:
        def run() -> None:
            try:
                _, credentials = mosip.submit_otp(
                    session_id, OWNER, mosip.OtpSubmission(otp=otp), sessions=service
                )
            except BrokerError:
                return  # 409: no attempt left, or the session ended meanwhile
            if credentials is not None:
                handed.append(credentials.token)
                claimed.append("completed")

        return run

    checks: list[Callable[[Any], Identity | None]] = []
    if otp_session:
        guesses = [RIGHT_OTP if rng.random() < 0.3 else f"{rng.randrange(10**6):06d}" for _ in range(4)]
        actors += [submit(guess) for guess in guesses]
        definite = RIGHT_OTP in guesses or sum(g != RIGHT_OTP for g in guesses) >= 3
    else:
        checks = [outcome_check() for _ in range(3)]
        actors += [poll, poll]
        if record.method == "eeid":
            actors.append(webhook)
    if rng.random() < 0.5:
        actors.append(cancel)
        definite = True
    if rng.random() < 0.5:
        actors.append(expire_on_read)
        definite = True
    rng.shuffle(actors)
    scheduler.run(actors)

    final = status_of(dynamodb, session_id)
    finals = [s for s in seen if s != "pending"]
    return {
        "runs": 1,
        "otp_sessions": int(otp_session),
        "calls_interleaved": scheduler.steps,
        "final_states_flipped": int(len(set(finals)) > 1),
        "told_another_outcome": int(any(status != final for status in claimed)),
        "outcomes_lost": int(definite and final == "pending"),
        "tokens_leaked": int(sorted(handed + fake.invalidated) != sorted(fake.issued) or len(handed) > 1),
        f"final_{final}": 1,
    }


def test_a_thousand_interleavings_never_flip_a_final_state_nor_lose_an_outcome(client, monkeypatch) -> None:
    totals: Counter[str] = Counter()
    failing: list[int] = []
    for seed in range(RUNS):
        run = one_run(client, seed, monkeypatch)
        totals.update(run)
        if any(run[key] for key in VIOLATIONS):
            failing.append(seed)
    print(f"\nraces: {dict(totals)}")
    assert totals["runs"] == RUNS and totals["otp_sessions"] > 100
    assert all(totals[key] == 0 for key in VIOLATIONS), f"violations with seeds {failing[:10]}"
