"""MobbID (Mobbeel) API v6: authorization JWT, gateway process, process status, biometric operation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from eid_broker.config import ProviderSettings
from eid_broker.errors import Code, ProviderBadResponse, ProviderUnavailable, SessionOutcomeError
from eid_broker.http import json_body, path_segment, send
from eid_broker.providers.base import TokenClient, null_as_no_list, null_as_no_object, unreadable
from eid_broker.tokens import Token, jwt_expiry

if TYPE_CHECKING:
    import requests

PROVIDER = "mobbid"
DEFAULT_TOKEN_SECONDS = 30 * 60


class Score(BaseModel):
    model_config = ConfigDict(extra="ignore")

    score: float
    scoreType: str


class OperationData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    result: bool | None = None
    userId: str | None = None
    liveness: str | None = None
    scores: list[Score] = []
    error: str | None = None

    _scores = field_validator("scores", mode="before")(null_as_no_list)


class Resource(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    type: str


class Operation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    status: Literal["SUCCESS", "PENDING", "PROCESSING", "ERROR"]
    data: OperationData = OperationData()
    resources: list[Resource] = []

    _data = field_validator("data", mode="before")(null_as_no_object)
    _resources = field_validator("resources", mode="before")(null_as_no_list)


class Process(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    status: Literal["CREATED", "STARTED", "QR", "IN_PROGRESS", "PROCESSING", "COMPLETED"]
    operationId: str | None = None


def refused(code: Code, message: str, status: int) -> SessionOutcomeError:
    return SessionOutcomeError(code, message, provider=PROVIDER, provider_code=f"HTTP_{status}")


class MobbidSettings(ProviderSettings):
    prefix = "MOBBID"


class MobbidClient(TokenClient):
    """`client_id` is MobbID's application id, `secret` its API key."""

    provider = PROVIDER
    settings_model = MobbidSettings
    credential_keys = ("application_id", "api_key")

    def _fetch_token(self) -> Token:
        """GET /api/v6/authorization with the applicationId and apiKey headers."""
        response = send(
            self._http,
            "GET",
            f"{self._base}/api/v6/authorization",
            provider=PROVIDER,
            headers={"applicationId": self._client_id, "apiKey": self._secret},
        )
        if response.status_code in (400, 401, 403):
            raise refused(
                Code.PROVIDER_MISCONFIGURED,
                "MobbID refused the broker's application id or API key.",
                response.status_code,
            )
        token = json_body(response, provider=PROVIDER).get("authToken")
        if response.status_code != 200 or not token:
            raise ProviderBadResponse(f"MobbID's authorization answered HTTP {response.status_code}.")
        return Token(str(token), jwt_expiry(str(token)) or self._clock() + DEFAULT_TOKEN_SECONDS)

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self._with_token(
            lambda token: send(
                self._http,
                method,
                f"{self._base}/api/v6/application/{self._client_id}{path}",
                provider=PROVIDER,
                headers={"Authorization": f"Bearer {token}"},
                **kwargs,
            ),
            lambda: refused(Code.PROVIDER_MISCONFIGURED, "MobbID refused a freshly issued token.", 401),
        )
        if response.status_code == 429:
            # MobbID bans a caller's IP for a while: an outage for the broker, not the person's fault.
            raise ProviderUnavailable("MobbID is refusing the broker's requests for now (HTTP 429).")
        return response

    def create_process(self, user_id: str, return_url: str) -> tuple[str, str]:
        """POST /gateway/process for a FACE VERIFICATION; returns (processId, gatewayUrl)."""
        response = self._call(
            "POST",
            "/gateway/process",
            json={
                "biometricMethod": "FACE",
                "operation": "VERIFICATION",
                "returnUrl": return_url,
                "userId": user_id,
            },
        )
        if response.status_code == 404:
            raise refused(Code.PROVIDER_MISCONFIGURED, "MobbID does not know the broker's application.", 404)
        if response.status_code == 422:
            raise refused(
                Code.PROVIDER_MISCONFIGURED, "Face verification is not available for the application.", 422
            )
        if response.status_code == 400:
            raise refused(Code.PROVIDER_ERROR, "MobbID refused the process parameters.", 400)
        body = json_body(response, provider=PROVIDER)
        if response.status_code not in (200, 201) or not body.get("processId") or not body.get("gatewayUrl"):
            raise ProviderBadResponse(f"MobbID answered HTTP {response.status_code} to a new process.")
        return str(body["processId"]), str(body["gatewayUrl"])

    def _read(self, collection: str, item_id: str, model: type[Any], what: str) -> Any:
        response = self._call("GET", f"{collection}/{path_segment(item_id, provider=PROVIDER)}")
        if response.status_code == 404:
            raise refused(Code.PROVIDER_SESSION_NOT_FOUND, f"MobbID no longer knows this {what}.", 404)
        if response.status_code != 200:
            raise ProviderBadResponse(f"MobbID answered HTTP {response.status_code} to a {what} read.")
        try:
            return model.model_validate(json_body(response, provider=PROVIDER))
        except ValidationError as exc:
            raise unreadable(PROVIDER, f"MobbID answered an unreadable {what}.", exc) from exc

    def process(self, process_id: str) -> Process:
        return self._read("/gateway/process", process_id, Process, "gateway process")

    def operation(self, operation_id: str) -> Operation:
        return self._read("/operation", operation_id, Operation, "biometric operation")
