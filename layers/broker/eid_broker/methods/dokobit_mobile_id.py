"""dokobit-mobile-id: start a Dokobit Mobile-ID login, then one status check per poll."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from eid_broker.aws import provider_secret
from eid_broker.config import get_settings
from eid_broker.errors import SessionOutcomeError
from eid_broker.http import make_session
from eid_broker.methods.mobile_id import MobileIdStart
from eid_broker.observability import logger
from eid_broker.providers.dokobit import PROVIDER, DokobitClient, StatusResponse
from eid_broker.sessions import Certificate, Identity, NextAction, SessionRecord
from eid_broker.sessions.service import PollPlan, SessionService, subject_digest
from eid_broker.validation import birth_date

METHOD = "dokobit-mobile-id"
INTERVAL_SECONDS = 3.0
TIMEOUT_SECONDS = 120.0


@lru_cache(maxsize=1)
def _http() -> Any:
    return make_session()


def client() -> DokobitClient:
    settings = get_settings()
    secret = provider_secret(
        settings.dokobit_secret_name, required=("access_token",), max_age=settings.secrets_max_age_seconds
    )
    return DokobitClient(settings.dokobit_base_url or "", secret["access_token"], _http())


def start(request: MobileIdStart, *, owner: str, sessions: SessionService) -> SessionRecord:
    settings = get_settings()
    timeout = settings.timeout_for(TIMEOUT_SECONDS)
    try:
        started, _ = client().start_login(request.phone, request.personal_code)
    except SessionOutcomeError as refusal:
        if refusal.code == "PROVIDER_MISCONFIGURED":
            logger.error(
                "Dokobit refused the broker's credentials", extra={"provider_code": refusal.provider_code}
            )
        return sessions.record_refusal(
            method=METHOD, owner=owner, reference=request.reference, refusal=refusal, lifetime=timeout
        )
    return sessions.open_polled(
        method=METHOD,
        owner=owner,
        reference=request.reference,
        next_action=NextAction(type="show_control_code", control_code=started.control_code),
        provider_ref={"token": started.token},
        expected_subject_sha256=subject_digest(request.country, request.personal_code),
        plan=PollPlan(
            poll_function_arn=settings.poll_function_arn or "",
            interval_seconds=settings.interval_for(INTERVAL_SECONDS),
            timeout_seconds=timeout,
        ),
    )


def identity_from(status: StatusResponse) -> Identity:
    country, code = (status.country or "").upper(), status.code or ""
    born = birth_date(country, code)
    cert = status.certificate
    return Identity(
        country=country or None,
        personal_code=code or None,
        given_name=status.name,
        surname=status.surname,
        date_of_birth=born.isoformat() if born else None,
        subject=f"PNO{country}-{code}" if country and code else None,
        certificate=Certificate(
            subject=cert.subject,
            issuer=cert.issuer,
            valid_from=cert.valid_from,
            valid_to=cert.valid_to,
            pem=cert.pem(),
        )
        if cert
        else None,
        evidence={},
    )


def check(record: SessionRecord) -> Identity | None:
    """One status call. None while the person has not answered."""
    status = client().login_status(record.provider_ref["token"])
    if status.status != "ok":
        return None
    identity = identity_from(status)
    if record.expected_subject_sha256 != subject_digest(identity.country or "", identity.personal_code or ""):
        raise SessionOutcomeError(
            "IDENTITY_MISMATCH",
            "The provider confirmed a different person than the one asked for.",
            provider=PROVIDER,
        )
    return identity
