"""``python -m local [--port 3000]``: serve eid-broker offline (what ``make run`` runs)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 3000))
    args = parser.parse_args(argv)

    from local.emulator.stack import LocalStack, StartupError, isolate_from_aws

    environ = dict(os.environ)  # parameters and credentials come from the caller's environment
    isolate_from_aws()
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stack = LocalStack(REPO_ROOT, port=args.port, environ=environ)
    try:
        stack.start()
    except StartupError as exc:
        print(f"eid-broker: {exc}", file=sys.stderr)
        return 1
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        print("eid-broker: stopping", file=sys.stderr, flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
