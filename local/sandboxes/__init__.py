"""The built-in provider sandboxes of `make run`: one module per provider, registered here once."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from local.sandboxes import dokobit, eeid, marksign, mobbid, mosip
from local.sandboxes.base import CREDENTIALS


@dataclass(frozen=True)
class SandboxSpec:
    provider: str  # secret eid-broker/{stage}/{provider}, mounted at /{provider}
    base_url_parameter: str  # the template parameter the sandbox's URL fills in
    credentials: dict[str, str]  # secret keys -> sandbox defaults ({PROVIDER}_{KEY} env vars override)
    factory: Callable[..., Any]  # the WSGI app, with .stats() and .reset(); gets the credential keys it names
    printable: tuple[str, ...] = ()  # keys `make run` may show while they hold the sandbox defaults
    personas: Sequence[Mapping[str, Any]] = field(default=(), compare=False)  # listed by `python -m`


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


# Each factory takes the secret's keys by name; options given to `python -m local.sandboxes` win over
# the environment variables `make run` reads.
def _dokobit(access_token: str, **options: Any) -> dokobit.DokobitSandbox:
    return dokobit.DokobitSandbox(
        access_token, **{"ok_after": float(_env("DOKOBIT_SANDBOX_OK_AFTER", "7")), **options}
    )


def _marksign(access_token: str, **options: Any) -> marksign.MarkSignSandbox:
    ok_after = float(_env("MARKSIGN_SANDBOX_OK_AFTER", "7"))
    return marksign.MarkSignSandbox(access_token, **{"ok_after": ok_after, **options})


def _eeid(
    client_id: str, client_secret: str, previous_client_secret: str = "", **options: Any
) -> eeid.EeidSandbox:
    # The webhook is signed with the current secret only; the previous one is the broker's to accept.
    webhook_url = f"{_env('LOCAL_BROKER_URL', 'http://127.0.0.1:3000')}/eeid/webhooks/identification_requests"
    return eeid.EeidSandbox(client_id, client_secret, **{"webhook_url": webhook_url, **options})


def _mobbid(application_id: str, api_key: str, **options: Any) -> mobbid.MobbidSandbox:
    step_seconds = float(_env("MOBBID_SANDBOX_STEP_SECONDS", "1"))
    return mobbid.MobbidSandbox(application_id, api_key, **{"step_seconds": step_seconds, **options})


def _mosip(client_id: str, secret_key: str, **options: Any) -> mosip.MosipSandbox:
    # MOSIP's development setting: every OTP is 111111 (mosip.kernel.auth.proxy-otp).
    dev_otp = _env("MOSIP_SANDBOX_DEV_OTP", "false").lower() == "true"
    return mosip.MosipSandbox(client_id, secret_key, **{"dev_otp": dev_otp, **options})


SANDBOXES: list[SandboxSpec] = [
    SandboxSpec("dokobit", "DokobitBaseUrl", CREDENTIALS["dokobit"], _dokobit, (), dokobit.ALL_PERSONAS),
    SandboxSpec("marksign", "MarksignBaseUrl", CREDENTIALS["marksign"], _marksign, (), marksign.ALL_PERSONAS),
    SandboxSpec(
        "eeid", "EeidBaseUrl", CREDENTIALS["eeid"], _eeid, ("client_id", "client_secret"), eeid.PERSONS
    ),
    SandboxSpec("mobbid", "MobbidBaseUrl", CREDENTIALS["mobbid"], _mobbid, (), mobbid.PERSONAS),
    SandboxSpec("mosip", "MosipBaseUrl", CREDENTIALS["mosip"], _mosip, (), mosip.USERS),
]
