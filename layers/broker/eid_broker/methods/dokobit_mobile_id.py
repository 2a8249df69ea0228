"""dokobit-mobile-id: Dokobit Identity API Mobile-ID login through the shared Mobile-ID flow."""

from __future__ import annotations

from eid_broker.aws import provider_secret
from eid_broker.config import get_settings
from eid_broker.http import shared_session
from eid_broker.methods.mobile_id import MobileIdMethod
from eid_broker.providers.dokobit import DokobitClient


def client() -> DokobitClient:
    settings = get_settings()
    secret = provider_secret(
        settings.dokobit_secret_name, required=("access_token",), max_age=settings.secrets_max_age_seconds
    )
    return DokobitClient(settings.dokobit_base_url or "", secret["access_token"], shared_session())


METHOD = MobileIdMethod(name="dokobit-mobile-id", client=client)
