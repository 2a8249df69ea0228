"""marksign-mobile-id: MarkSign gateway mobile-ID login through the shared Mobile-ID flow."""

from __future__ import annotations

from eid_broker.aws import provider_secret
from eid_broker.config import get_settings
from eid_broker.http import shared_session
from eid_broker.methods.mobile_id import MobileIdMethod
from eid_broker.providers.marksign import MarkSignClient


def client() -> MarkSignClient:
    settings = get_settings()
    secret = provider_secret(
        settings.marksign_secret_name, required=("access_token",), max_age=settings.secrets_max_age_seconds
    )
    return MarkSignClient(
        settings.marksign_base_url or "",
        secret["access_token"],
        shared_session(),
        locale_prefix="/en" if settings.marksign_locale == "en" else "",
        peps=settings.marksign_peps_check,
        sanctions=settings.marksign_sanctions_check,
    )


METHOD = MobileIdMethod(name="marksign-mobile-id", client=client)
