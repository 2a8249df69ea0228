"""The built-in provider sandboxes of `make run`: one module per provider, registered here once."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.sandboxes.dokobit import DokobitSandbox
from local.sandboxes.eeid import EeidSandbox
from local.sandboxes.marksign import MarkSignSandbox
from local.sandboxes.mobbid import MobbidSandbox
from local.sandboxes.mosip import MosipSandbox


@dataclass(frozen=True)
class SandboxSpec:
    provider: str  # secret eid-broker/{stage}/{provider}, mounted at /{provider}
    base_url_parameter: str  # the template parameter the sandbox's URL fills in
    credentials: dict[str, str]  # secret keys -> sandbox defaults ({PROVIDER}_{KEY} env vars override)
    factory: Callable[..., Any]  # the WSGI app, with .stats() and .reset(); gets the credential keys it names
    printable: tuple[str, ...] = ()  # keys `make run` may show while they hold the sandbox defaults


def _dokobit() -> DokobitSandbox:
    return DokobitSandbox(
        access_token=os.environ.get("DOKOBIT_ACCESS_TOKEN", "sandbox-dokobit-token"),
        ok_after=float(os.environ.get("DOKOBIT_SANDBOX_OK_AFTER", "7")),
    )


def _marksign() -> MarkSignSandbox:
    return MarkSignSandbox(
        access_token=os.environ.get("MARKSIGN_ACCESS_TOKEN", "sandbox-marksign-token"),
        ok_after=float(os.environ.get("MARKSIGN_SANDBOX_OK_AFTER", "7")),
    )


def _eeid(client_id: str, client_secret: str) -> EeidSandbox:
    broker = os.environ.get("LOCAL_BROKER_URL", "http://127.0.0.1:3000")
    return EeidSandbox(
        client_id=client_id,
        client_secret=client_secret,
        webhook_url=f"{broker}/eeid/webhooks/identification_requests",
    )


def _mobbid(application_id: str, api_key: str) -> MobbidSandbox:
    return MobbidSandbox(
        application_id=application_id,
        api_key=api_key,
        step_seconds=float(os.environ.get("MOBBID_SANDBOX_STEP_SECONDS", "1")),
    )


def _mosip(client_id: str, secret_key: str) -> MosipSandbox:
    # MOSIP's development setting: every OTP is 111111 (mosip.kernel.auth.proxy-otp).
    return MosipSandbox(
        client_id=client_id,
        secret_key=secret_key,
        dev_otp=os.environ.get("MOSIP_SANDBOX_DEV_OTP", "false").lower() == "true",
    )


SANDBOXES: list[SandboxSpec] = [
    SandboxSpec(
        provider="dokobit",
        base_url_parameter="DokobitBaseUrl",
        credentials={"access_token": "sandbox-dokobit-token"},
        factory=_dokobit,
    ),
    SandboxSpec(
        provider="marksign",
        base_url_parameter="MarksignBaseUrl",
        credentials={"access_token": "sandbox-marksign-token"},
        factory=_marksign,
    ),
    SandboxSpec(
        provider="eeid",
        base_url_parameter="EeidBaseUrl",
        credentials={
            "client_id": "sandbox-eeid-client",
            "client_secret": "sandbox-eeid-secret",
            "previous_client_secret": "",
        },
        factory=_eeid,
        printable=("client_id", "client_secret"),
    ),
    SandboxSpec(
        provider="mobbid",
        base_url_parameter="MobbidBaseUrl",
        credentials={"application_id": "sandbox-mobbid-app", "api_key": "sandbox-mobbid-key"},
        factory=_mobbid,
    ),
    SandboxSpec(
        provider="mosip",
        base_url_parameter="MosipBaseUrl",
        credentials={"client_id": "sandbox-mosip-client", "secret_key": "sandbox-mosip-secret"},
        factory=_mosip,
    ),
]
