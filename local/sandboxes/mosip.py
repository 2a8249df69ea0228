"""Fake of MOSIP's kernel auth manager and OTP manager: client-credential, OTP and
password logins, token validation and invalidation, OTP generation and validation. Bodies use MOSIP's
``{id, version, requesttime, metadata, request}`` envelope; every answer is HTTP 200 with
``{id, version, responsetime, metadata, response, errors}``. The users are listed in ``USERS``.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from local.sandboxes.base import Sandbox, iso_millis, json_response, jwt_decode, jwt_encode, same
from local.sandboxes.spec import SandboxSpec, env

__all__ = ["APP_IDS", "USERS", "MosipSandbox"]

# The secret eid-broker/{stage}/mosip's keys and the sandbox's defaults (`make run` seeds the secret with
# them unless MOSIP_{KEY} environment variables say otherwise).
CREDENTIALS: dict[str, str] = {"client_id": "sandbox-mosip-client", "secret_key": "sandbox-mosip-secret"}

AUTH = "/v1/authmanager"
OTP_MANAGER = "/v1/otpmanager/otp"
APP_IDS = ("preregistration", "registrationclient", "registrationprocessor", "ida", "admin", "resident")
CHANNELS = ("email", "phone")
DEV_OTP = "111111"
MAX_FAILURES = 3
FREEZE_SECONDS = 7200
REFRESH_TTL = 86400
COOKIE = "Authorization"

USERS: list[dict[str, Any]] = [
    dict(zip(("user_id", "user_id_type", "channels", "password", "name", "mail", "mobile"), row, strict=True))
    for row in (
        (
            "alice",
            "USERID",
            ["email", "phone"],
            "alice-password",
            "Alice Test",
            "alice@example.test",
            "9876543210",
        ),
        ("2345678901", "UIN", ["email"], "bob-password", "Bob Test", "bob@example.test", None),
        ("carol", "USERID", ["phone"], None, "Carol Test", None, "9123456780"),
    )
]
_USERS_BY_ID = {u["user_id"]: u for u in USERS}

_OTP_RESPONSE_IDS = {"otp_generate": "mosip.otp.generateOTP", "otp_validate": "mosip.otp.validateOTP"}

Error = tuple[str, str]
AUTH_FAILED: Error = ("KER-ATH-401", "Authentication failed")
INVALID_TOKEN: Error = ("KER-ATH-401", "Invalid token")
TOKEN_EXPIRED: Error = ("KER-ATH-402", "Token expired")
USER_NOT_FOUND: Error = ("KER-ATH-003", "User not found")
COOKIES_EMPTY: Error = ("KER-ATH-006", "Cookies are empty")
TOKEN_NOT_IN_COOKIES: Error = ("KER-ATH-007", "Token is not present in cookies")
INVALID_CREDENTIALS: Error = ("KER-ATH-023", "Invalid Credentials")
KEY_LENGTH: Error = ("KER-OTG-001", "Length of the key should be between 3 and 64")
OTP_EXPIRED: Error = ("KER-OTV-003", "OTP expired")
USER_BLOCKED: Error = ("KER-OTV-004", "User blocked")
GENERATE_FIRST: Error = ("KER-OTV-005", "Validation can't be performed against this key. Generate OTP first.")


def _invalid(field: str) -> Error:
    return ("KER-ATH-004", f"Invalid request: {field}")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


@dataclass
class _Otp:
    """One key's OTP as the OTP manager keeps it; ``otp`` None once it has been used up."""

    otp: str | None
    expires_at: float
    failures: int = 0
    frozen_until: float | None = None


class MosipSandbox(Sandbox):
    def __init__(
        self,
        client_id: str = CREDENTIALS["client_id"],
        secret_key: str = CREDENTIALS["secret_key"],
        dev_otp: bool = False,
        otp_ttl: int = 120,
        token_ttl: int = 1800,
        clock: Callable[[], float] = time.time,
        on_otp: Callable[[str], None] | None = None,
    ) -> None:
        rules = [
            Rule(f"{AUTH}/authenticate/{name}", methods=["POST"], endpoint=name)
            for name in ("clientidsecretkey", "sendotp", "useridOTP")
        ]
        rules += [
            Rule(f"{AUTH}/authenticate/internal/useridPwd", methods=["POST"], endpoint="useridPwd"),
            Rule(f"{AUTH}/authorize/admin/validateToken", methods=["GET"], endpoint="validateToken"),
            Rule(f"{AUTH}/authorize/invalidateToken", methods=["POST"], endpoint="invalidateToken"),
            Rule(f"{OTP_MANAGER}/generate", methods=["POST"], endpoint="otp_generate"),
            Rule(f"{OTP_MANAGER}/validate", methods=["GET"], endpoint="otp_validate"),
        ]
        super().__init__(rules, clock)
        self._client_id = client_id
        self._secret_key = secret_key
        self._dev_otp = dev_otp
        self._otp_ttl = otp_ttl
        self._token_ttl = token_ttl
        self._on_otp = on_otp or functools.partial(print, flush=True)
        # Kept across reset() so a broker's cached token stays valid, as it would against the real service.
        self._signing_key = secrets.token_bytes(32)
        self._otps: dict[str, _Otp] = {}
        self._invalidated: set[str] = set()
        self._tokens_issued = 0

    def _state(self) -> dict[str, Any]:
        return {"tokens_issued": self._tokens_issued, "tokens_invalidated": len(self._invalidated)}

    def _clear(self) -> None:
        self._otps.clear()
        self._invalidated.clear()
        self._tokens_issued = 0

    def last_otp(self, user_id: str) -> str | None:
        with self._lock:
            entry = self._otps.get(user_id)
            return entry.otp if entry else None

    def _issue_jwt(self, subject: str, audience: str, ttl: int, *, refresh: bool = False) -> str:
        iat, typ = int(self._clock()), "Refresh" if refresh else "Bearer"
        payload = dict(jti=str(uuid.uuid4()), sub=subject, iat=iat, exp=iat + ttl, aud=audience, typ=typ)
        if not refresh:
            with self._lock:
                self._tokens_issued += 1
        return jwt_encode(self._signing_key, payload)

    def _auth_token(self, subject: str, audience: str) -> str:
        return self._issue_jwt(subject, audience, self._token_ttl)

    def _verify(self, token: str) -> tuple[dict[str, Any] | None, Error | None]:
        payload = jwt_decode(self._signing_key, token)
        if payload is None or payload.get("typ") != "Bearer":
            return None, INVALID_TOKEN
        with self._lock:
            if _token_hash(token) in self._invalidated:
                return None, INVALID_TOKEN
        exp = payload.get("exp")
        if not isinstance(exp, int | float) or self._clock() >= exp:
            return None, TOKEN_EXPIRED
        return payload, None

    def _cookie_token(self, request: Request) -> tuple[str | None, Error | None]:
        if not request.cookies:
            return None, COOKIES_EMPTY
        for name, value in request.cookies.items():
            if COOKIE in name and value:
                return value, None
        return None, TOKEN_NOT_IN_COOKIES

    def _with_token(self, response: Response, token: str) -> Response:
        # MOSIP puts the raw auth.jwt.expiry (milliseconds) into Max-Age, which browsers read as seconds.
        response.headers.add(
            "Set-Cookie", f"{COOKIE}={token}; Max-Age={self._token_ttl * 1000}; Path=/; HttpOnly"
        )
        response.headers["Authorization"] = token
        return response

    def _answer(
        self,
        endpoint: str,
        request_id: object = None,
        response: dict[str, Any] | None = None,
        error: Error | None = None,
    ) -> Response:
        if not isinstance(request_id, str):
            request_id = _OTP_RESPONSE_IDS.get(endpoint, f"mosip.authentication.{endpoint}")
        return json_response(
            {
                "id": request_id,
                "version": "1.0",
                "responsetime": iso_millis(self._clock()),
                "metadata": None,
                "response": None if error else response,
                "errors": [{"errorCode": error[0], "message": error[1]}] if error else None,
            }
        )

    def _handle(self, endpoint: str, request: Request, args: dict[str, Any]) -> Response:
        if endpoint in ("validateToken", "invalidateToken"):
            return self._authorize(endpoint, request)
        if endpoint.startswith("otp_"):
            token, error = self._cookie_token(request)
            payload, error = self._verify(token) if token else (None, error)
            if payload is None or payload.get("sub") != self._client_id:
                return self._answer(endpoint, error=AUTH_FAILED)
            if endpoint == "otp_validate":
                return self._otp_validate(request)
        body = request.get_json(force=True, silent=True)
        request_id = body.get("id") if isinstance(body, dict) else None
        inner = body.get("request") if isinstance(body, dict) else None
        if not isinstance(inner, dict):
            return self._answer(endpoint, request_id, error=_invalid("request"))
        answer: Response = getattr(self, f"_on_{endpoint}")(request_id, inner)
        return answer

    def _on_clientidsecretkey(self, request_id: object, req: dict[str, Any]) -> Response:
        for field in ("clientId", "secretKey", "appId"):
            if _text(req.get(field)) is None:
                return self._answer("clientidsecretkey", request_id, error=_invalid(field))
        if not (same(req["clientId"], self._client_id) and same(req["secretKey"], self._secret_key)):
            return self._answer("clientidsecretkey", request_id, error=AUTH_FAILED)
        token = self._auth_token(self._client_id, req["appId"])
        body = {
            "status": "success",
            "message": "Clientid and Token combination had been validated successfully",
        }
        return self._with_token(self._answer("clientidsecretkey", request_id, body), token)

    def _on_sendotp(self, request_id: object, req: dict[str, Any]) -> Response:
        user_id, channels, kind = _text(req.get("userId")), req.get("otpChannel"), req.get("useridtype")
        if user_id is None:
            return self._answer("sendotp", request_id, error=_invalid("userId"))
        if kind not in ("UIN", "USERID"):
            return self._answer("sendotp", request_id, error=_invalid("useridtype"))
        user = _USERS_BY_ID.get(user_id)
        if user is None or user["user_id_type"] != kind:
            return self._answer("sendotp", request_id, error=USER_NOT_FOUND)
        if (
            not isinstance(channels, list)
            or not channels
            or any(c not in CHANNELS or c not in user["channels"] for c in channels)
        ):
            return self._answer("sendotp", request_id, error=_invalid("otpChannel"))
        if req.get("appId") not in APP_IDS:
            return self._answer("sendotp", request_id, error=_invalid("appId"))
        otp = self._generate(user_id)
        if otp is None:
            return self._answer("sendotp", request_id, error=USER_BLOCKED)
        self._on_otp(f"MOSIP sandbox OTP for user {user_id} ({', '.join(channels)}): {otp}")
        return self._answer(
            "sendotp", request_id, {"status": "success", "message": "Otp generated successfully"}
        )

    def _on_useridOTP(self, request_id: object, req: dict[str, Any]) -> Response:
        for field in ("userId", "otp", "appId"):
            if _text(req.get(field)) is None:
                return self._answer("useridOTP", request_id, error=_invalid(field))
        user_id = req["userId"]
        if user_id not in _USERS_BY_ID:
            return self._answer("useridOTP", request_id, error=USER_NOT_FOUND)
        outcome = self._validate(user_id, req["otp"])
        if outcome == "VALIDATION_UNSUCCESSFUL":
            return self._answer(
                "useridOTP", request_id, {"status": "failure", "message": "Otp validation failed"}
            )
        error = {"OTP_EXPIRED": OTP_EXPIRED, "USER_BLOCKED": USER_BLOCKED, None: GENERATE_FIRST}.get(outcome)
        if error is not None:
            return self._answer("useridOTP", request_id, error=error)
        token = self._auth_token(user_id, req["appId"])
        body = {"status": "success", "message": "Otp validation successful"}
        return self._with_token(self._answer("useridOTP", request_id, body), token)

    def _on_useridPwd(self, request_id: object, req: dict[str, Any]) -> Response:
        for field in ("userName", "password", "appId", "clientId", "clientSecret"):
            if _text(req.get(field)) is None:
                return self._answer("useridPwd", request_id, error=_invalid(field))
        if not (same(req["clientId"], self._client_id) and same(req["clientSecret"], self._secret_key)):
            return self._answer("useridPwd", request_id, error=AUTH_FAILED)
        user = _USERS_BY_ID.get(req["userName"])
        if user is None or user["password"] is None or not same(req["password"], user["password"]):
            return self._answer("useridPwd", request_id, error=INVALID_CREDENTIALS)
        body = {
            "token": self._auth_token(user["user_id"], req["appId"]),
            "message": "success",
            "refreshToken": self._issue_jwt(user["user_id"], req["appId"], REFRESH_TTL, refresh=True),
            "expiryTime": self._token_ttl,
            "userId": user["user_id"],
            "status": "success",
            "refreshExpiryTime": REFRESH_TTL,
        }
        return self._answer("useridPwd", request_id, body)

    def _authorize(self, endpoint: str, request: Request) -> Response:
        token, error = self._cookie_token(request)
        payload, error = self._verify(token) if token else (None, error)
        if token is None or payload is None:
            return self._answer(endpoint, error=error)
        if endpoint == "invalidateToken":
            with self._lock:
                self._invalidated.add(_token_hash(token))
            return self._answer(
                endpoint, response={"status": "success", "message": "Token has been invalidated successfully"}
            )
        subject = str(payload.get("sub"))
        user = _USERS_BY_ID.get(subject, {})
        body = {
            "userId": subject,
            "mobile": user.get("mobile"),
            "mail": user.get("mail"),
            "langCode": "eng",
            "userPassword": None,
            "name": user.get("name", subject),
            "role": "RESIDENT" if user else "SERVICE_ACCOUNT",
            "rId": None,
            "token": token,
        }
        return self._with_token(self._answer(endpoint, response=body), token)

    def _generate(self, key: str) -> str | None:
        """A fresh OTP for the key, replacing the previous one; None while the key is frozen."""
        otp = DEV_OTP if self._dev_otp else f"{secrets.randbelow(10**6):06d}"
        with self._lock:
            now = self._clock()
            entry = self._otps.get(key)
            if entry is not None and entry.frozen_until is not None and now < entry.frozen_until:
                return None
            self._otps[key] = _Otp(otp=otp, expires_at=now + self._otp_ttl)
        return otp

    def _validate(self, key: str, otp: str) -> str | None:
        """The OTP manager's verdict (``VALIDATION_SUCCESSFUL`` …); None when no OTP awaits the key."""
        with self._lock:
            now = self._clock()
            entry = self._otps.get(key)
            if entry is None:
                return None
            if entry.frozen_until is not None:
                if now < entry.frozen_until:
                    return "USER_BLOCKED"
                entry.frozen_until, entry.failures = None, 0
            if entry.otp is None:
                return None
            if now >= entry.expires_at:
                return "OTP_EXPIRED"
            if not same(otp, entry.otp):
                entry.failures += 1
                if entry.failures >= MAX_FAILURES:
                    entry.frozen_until = now + FREEZE_SECONDS
                return "VALIDATION_UNSUCCESSFUL"
            entry.otp = None
            return "VALIDATION_SUCCESSFUL"

    def _on_otp_generate(self, request_id: object, req: dict[str, Any]) -> Response:
        key = req.get("key")
        if not isinstance(key, str) or not 3 <= len(key) <= 64:
            return self._answer("otp_generate", request_id, error=KEY_LENGTH)
        otp = self._generate(key)
        status = "USER_BLOCKED" if otp is None else "GENERATION_SUCCESSFUL"
        return self._answer("otp_generate", request_id, {"otp": otp, "status": status})

    def _otp_validate(self, request: Request) -> Response:
        key, otp = request.args.get("key", ""), request.args.get("otp", "")
        if not 3 <= len(key) <= 64:
            return self._answer(
                "otp_validate", error=("KER-OTV-001", "Length of the key should be between 3 and 64")
            )
        if not otp.isdigit():
            return self._answer("otp_validate", error=("KER-OTV-002", "OTP should contain only numbers"))
        outcome = self._validate(key, otp)
        if outcome is None:
            return self._answer("otp_validate", error=GENERATE_FIRST)
        status = "success" if outcome == "VALIDATION_SUCCESSFUL" else "failure"
        return self._answer("otp_validate", response={"status": status, "message": outcome})


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _factory(client_id: str, secret_key: str, **options: Any) -> MosipSandbox:
    # MOSIP's development setting: every OTP is 111111 (mosip.kernel.auth.proxy-otp).
    dev_otp = env("MOSIP_SANDBOX_DEV_OTP", "false").lower() == "true"
    return MosipSandbox(client_id, secret_key, **{"dev_otp": dev_otp, **options})


SANDBOX = SandboxSpec("mosip", "MosipBaseUrl", CREDENTIALS, _factory, 8091, (), USERS)
