"""marksign-mobile-id: MarkSign gateway mobile-ID login through the shared Mobile-ID flow."""

from eid_broker.methods.mobile_id import MobileIdMethod
from eid_broker.providers.marksign import MarkSignClient

METHOD = MobileIdMethod(
    "marksign-mobile-id",
    MarkSignClient.configured,
    summary="Start a MarkSign mobile-ID login",
    about="A completed identity carries MarkSign's `sanctions` and `peps` data in `evidence`.",
)
