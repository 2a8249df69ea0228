"""dokobit-mobile-id: Dokobit Identity API Mobile-ID login through the shared Mobile-ID flow."""

from eid_broker.methods.mobile_id import MobileIdMethod
from eid_broker.providers.dokobit import DokobitClient

METHOD = MobileIdMethod(
    "dokobit-mobile-id", DokobitClient.configured, summary="Start a Dokobit Mobile-ID login"
)
