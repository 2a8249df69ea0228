"""dokobit-smart-id: Smart-ID through the Dokobit Identity API."""

from eid_broker.methods.smart_id import SmartIdMethod
from eid_broker.providers.dokobit import DokobitSmartIdClient

METHOD = SmartIdMethod(
    "dokobit-smart-id",
    DokobitSmartIdClient.configured,
    summary="Start a Dokobit Smart-ID login",
    about="The person sees the same code in the Smart-ID app.",
)
