"""marksign-smart-id: Smart-ID through the MarkSign gateway, with its PEP and sanctions screening."""

from eid_broker.methods.smart_id import SmartIdMethod
from eid_broker.providers.marksign import MarkSignSmartIdClient

METHOD = SmartIdMethod(
    "marksign-smart-id",
    MarkSignSmartIdClient.configured,
    summary="Start a MarkSign Smart-ID login",
    about="The person sees the same code in the Smart-ID app. A completed identity carries MarkSign's "
    "`sanctions` and `peps` data in `evidence`.",
)
