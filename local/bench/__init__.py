"""``make bench`` (``python -m local.bench``): what a session costs and how fast the broker answers, measured
through an in-process local stack. One module per phase (Mobile-ID, Smart-ID, webhooks, eeID), the shared
client side in :mod:`local.bench.common`, the counting in :mod:`local.bench.counts`, the report in
:mod:`local.bench.render`."""

import sys
from pathlib import Path

# The bench reads the methods' own figures (poll intervals, fallback waits): the product's layer is imported.
_LAYER = str(Path(__file__).resolve().parents[2] / "layers" / "broker")
if _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)
