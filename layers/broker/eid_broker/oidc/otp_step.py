"""The hosted page's OTP form: the code goes through the same path as `POST /v1/sessions/{id}/otp`
(the session's three attempts, its lifetime), as the client's API key."""

from __future__ import annotations

from pydantic import ValidationError

from eid_broker.errors import ActionNotAllowed, BrokerError
from eid_broker.methods import mosip
from eid_broker.observability import logger
from eid_broker.oidc.transaction import LoginTransaction
from eid_broker.sessions.service import SessionService


def submit(transaction: LoginTransaction, otp: str, sessions: SessionService) -> str | None:
    """The problem to show on the OTP form (a FORM_PROBLEMS key), or None when the session moved on
    (completed, or ended by the third wrong code or by its deadline): the page then shows where it is."""
    try:
        submission = mosip.OtpSubmission.model_validate({"otp": otp.strip()})
    except ValidationError:
        return "otp_format"  # nothing was sent to MOSIP, no attempt taken
    try:
        record, credentials = mosip.submit_otp(
            transaction.session_id or "", transaction.owner, submission, sessions=sessions
        )
    except ActionNotAllowed:
        return None
    except BrokerError as refused:
        logger.warning("oidc otp check failed", extra={"reason": type(refused).__name__})
        return "unavailable"
    if credentials is not None:
        # Nobody receives MOSIP's token through OpenID Connect: it must not stay valid.
        mosip.discard(mosip.client(), credentials.token)
    return "otp_wrong" if record.status == "pending" else None
