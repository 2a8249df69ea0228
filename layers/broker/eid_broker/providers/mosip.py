"""MOSIP kernel auth manager (OTP and password logins, token validation) and OTP manager.

Requests and answers are wrapped in MOSIP's envelope; errors arrive inside HTTP 200 answers, in
`errors[]`, and are mapped here. Auth tokens come back as an `Authorization` cookie.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eid_broker.config import ProviderSettings
from eid_broker.errors import Code, Outcome, ProviderBadResponse, SessionOutcomeError, outcome_of
from eid_broker.http import json_body, send
from eid_broker.providers.base import TokenClient
from eid_broker.tokens import Token, jwt_expiry

if TYPE_CHECKING:
    import requests

PROVIDER = "mosip"
AUTH = "/v1/authmanager"
OTP_MANAGER = "/v1/otpmanager"
DEFAULT_TOKEN_SECONDS = 30 * 60
# "This OTP is wrong" in the AUTH_ERR_* form some MOSIP versions answer, an error rather than a
# failure status: one attempt used.
WRONG_OTP_CODES = frozenset({"AUTH_ERR_INVALIDOTP", "AUTH_ERR_OTPNOTVALID"})
# The OTP manager has no OTP waiting for the key (never generated, used up, or expired).
NO_OTP_CODES = frozenset({"KER-OTV-005", "KER-OTV-003", "AUTH_ERR_OTPEXPIRED"})

# MOSIP errorCode → (broker code, message, final session status). Codes MOSIP reuses for other
# meanings are read in context.
ERROR_CODES: dict[str | None, Outcome] = {
    "KER-ATH-003": (Code.USER_NOT_FOUND, "MOSIP does not know this user.", "failed"),
    "KER-ATH-023": (Code.INVALID_CREDENTIALS, "The user name or password is wrong.", "failed"),
    "KER-ATH-005": (Code.INVALID_CREDENTIALS, "The user name or password is wrong.", "failed"),
    "KER-ATH-401": (Code.PROVIDER_MISCONFIGURED, "MOSIP refused the broker's client credentials.", "failed"),
    "KER-ATH-004": (Code.PROVIDER_ERROR, "MOSIP refused the request.", "failed"),
    "KER-OTV-003": (Code.OTP_EXPIRED, "The OTP has expired.", "expired"),
    # The AUTH_ERR_* forms of useridOTP and the OTP manager, beside the kernel codes above.
    "AUTH_ERR_EXPIREDOTP": (Code.OTP_EXPIRED, "The OTP has expired.", "expired"),
    "AUTH_ERR_OTPEXPIRED": (Code.OTP_EXPIRED, "The OTP has expired.", "expired"),
    "KER-OTV-004": (
        Code.OTP_ATTEMPTS_EXHAUSTED,
        "Too many wrong OTPs: MOSIP has blocked the user for now.",
        "failed",
    ),
}


def mosip_time(moment: float) -> str:
    """MOSIP's request time format: UTC yyyy-MM-dd'T'HH:mm:ss.SSS'Z'."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _first_code(body: dict[str, Any]) -> str | None:
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("errorCode") or "")
    return None


def outcome_error(errors: list[dict[str, Any]]) -> SessionOutcomeError:
    code = _first_code({"errors": errors}) or None
    return outcome_of(ERROR_CODES, code, provider=PROVIDER, refused="MOSIP refused the request.")


class MosipSettings(ProviderSettings):
    prefix = "MOSIP"

    app_id: str = "resident"
    otp_ttl_seconds: float = 120.0


class MosipClient(TokenClient):
    """`client_id`/`secret` are MOSIP's clientId/secretKey; the cached token is the broker's service token."""

    provider = PROVIDER
    settings_model = MosipSettings
    credential_keys = ("client_id", "secret_key")

    def __init__(
        self, base_url: str, client_id: str, secret: str, app_id: str, *args: Any, **kwargs: Any
    ) -> None:
        super().__init__(base_url, client_id, secret, *args, **kwargs)
        self._app_id = app_id

    def _envelope(self, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "mosip.io.eid-broker",
            "version": "1.0",
            "requesttime": mosip_time(self._clock()),
            "metadata": {},
            "request": request,
        }

    def _exchange(
        self,
        method: str,
        path: str,
        request: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[requests.Response, dict[str, Any]]:
        response = send(
            self._http,
            method,
            f"{self._base}{path}",
            provider=PROVIDER,
            json=self._envelope(request) if request is not None else None,
            params=params,
            # MOSIP reads the token from a cookie whose name contains "Authorization".
            headers={"Cookie": f"Authorization={token}"} if token else None,
        )
        body = json_body(response, provider=PROVIDER)
        if response.status_code != 200:
            raise ProviderBadResponse(f"MOSIP answered HTTP {response.status_code}.")
        return response, body

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("errors"):
            raise outcome_error(body["errors"])
        answer = body.get("response")
        if not isinstance(answer, dict):
            raise ProviderBadResponse("MOSIP answered without a response object.")
        return answer

    @staticmethod
    def _cookie_token(response: requests.Response) -> str | None:
        return response.cookies.get("Authorization") or response.headers.get("Authorization")

    def _fetch_token(self) -> Token:
        response, body = self._exchange(
            "POST",
            f"{AUTH}/authenticate/clientidsecretkey",
            {"clientId": self._client_id, "secretKey": self._secret, "appId": self._app_id},
        )
        self._answer(body)
        token = self._cookie_token(response)
        if not token:
            raise ProviderBadResponse("MOSIP issued no service token cookie.")
        # The cookie's Max-Age is MOSIP's raw millisecond setting read as seconds: trust the JWT's exp.
        return Token(token, jwt_expiry(token) or self._clock() + DEFAULT_TOKEN_SECONDS)

    def send_otp(
        self, user_id: str, user_id_type: str, channels: list[str], app_id: str, context: str | None
    ) -> None:
        _, body = self._exchange(
            "POST",
            f"{AUTH}/authenticate/sendotp",
            {
                "userId": user_id,
                "otpChannel": channels,
                "appId": app_id,
                "useridtype": user_id_type,
                "templateVariables": {},
                "context": context or "auth-otp",
            },
        )
        self._answer(body)

    def verify_otp(self, user_id: str, otp: str, app_id: str) -> tuple[str, float] | None:
        """The user's token and its expiry, or None when MOSIP says the OTP is wrong."""
        response, body = self._exchange(
            "POST", f"{AUTH}/authenticate/useridOTP", {"userId": user_id, "otp": otp, "appId": app_id}
        )
        if _first_code(body) in WRONG_OTP_CODES:
            return None
        answer = self._answer(body)
        if answer.get("status") != "success":
            return None
        token = self._cookie_token(response)
        if not token:
            raise ProviderBadResponse("MOSIP validated the OTP but issued no token.")
        return token, jwt_expiry(token) or self._clock() + DEFAULT_TOKEN_SECONDS

    def password_login(self, username: str, password: str, app_id: str) -> tuple[str, float]:
        _, body = self._exchange(
            "POST",
            f"{AUTH}/authenticate/internal/useridPwd",
            {
                "userName": username,
                "password": password,
                "appId": app_id,
                "clientId": self._client_id,
                "clientSecret": self._secret,
            },
        )
        answer = self._answer(body)
        token = answer.get("token")
        if not token:
            raise ProviderBadResponse("MOSIP's password login answered without a token.")
        expiry = jwt_expiry(str(token)) or self._clock() + float(
            answer.get("expiryTime") or DEFAULT_TOKEN_SECONDS
        )
        return str(token), expiry

    def validate_token(self, token: str) -> dict[str, Any] | None:
        """The token's user (userId, role, …), or None when MOSIP says it is not valid."""
        _, body = self._exchange("GET", f"{AUTH}/authorize/admin/validateToken", token=token)
        if (_first_code(body) or "").startswith("KER-ATH-"):
            return None
        return self._answer(body)

    def invalidate_token(self, token: str) -> bool:
        """True when MOSIP invalidated it; False when MOSIP says it was not a valid token anyway."""
        _, body = self._exchange("POST", f"{AUTH}/authorize/invalidateToken", {}, token=token)
        if (_first_code(body) or "").startswith("KER-ATH-"):
            return False
        self._answer(body)
        return True

    def generate_otp(self, key: str) -> dict[str, Any]:
        _, body = self._exchange("POST", f"{OTP_MANAGER}/otp/generate", {"key": key}, token=self._token())
        return self._answer(body)

    def validate_otp(self, key: str, otp: str) -> dict[str, Any]:
        """`{status, message}`; a wrong OTP or none waiting for the key is `status: failure`."""
        _, body = self._exchange(
            "GET", f"{OTP_MANAGER}/otp/validate", token=self._token(), params={"key": key, "otp": otp}
        )
        code = _first_code(body)
        if code in WRONG_OTP_CODES:
            return {"status": "failure", "message": "VALIDATION_UNSUCCESSFUL"}
        if code in NO_OTP_CODES:
            return {"status": "failure", "message": "OTP_NOT_FOUND_OR_EXPIRED"}
        return self._answer(body)
