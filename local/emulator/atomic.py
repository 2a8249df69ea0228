"""DynamoDB applies each write atomically and a read never sees half of one; moto's backend gives
neither under threads (a read can see a final status without its error, or crash on an item being
updated). The local stack and the integration tests serialise moto's item operations."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

_ITEMS = threading.RLock()
OPERATIONS = ("get_item", "put_item", "update_item", "delete_item", "transact_write_items", "query", "scan")


def atomic_items(patch: Callable[[Any, str, Any], None] = setattr) -> None:
    """Make moto's item operations atomic (`patch`: `setattr`, or a test's `monkeypatch.setattr`)."""
    for name in OPERATIONS:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "eid_atomic", False):
            continue

        def atomic(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            # A copy: moto serialises the returned item after the call, while another write may change it.
            with _ITEMS:
                return copy.deepcopy(__original(self, *args, **kwargs))

        atomic.eid_atomic = True  # type: ignore[attr-defined]
        patch(DynamoDBBackend, name, atomic)
