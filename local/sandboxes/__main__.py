"""Serve one built-in sandbox alone: ``python -m local.sandboxes NAME [--port N] [--OPTION VALUE ...]``.

An option is any argument of the sandbox's constructor, dashed (``--ok-after 3``, ``--session-ttl 60``,
``--webhook-url URL``, ``--access-token T``, a bare ``--dev-otp``); a value is read as JSON where it
parses, else as text. Credentials and the other options default as for ``make run``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from typing import Any
from urllib.parse import urlsplit

from werkzeug.serving import WSGIRequestHandler, run_simple

from local.sandboxes import SANDBOXES

_ID_IN_PATH = re.compile(r"[0-9A-Fa-f-]{16,}")


class QuietRequestHandler(WSGIRequestHandler):
    """Request log without query strings (access tokens, OTPs) or the tokens and ids in paths."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = _ID_IN_PATH.sub("…", urlsplit(getattr(self, "path", "")).path)
        self.log("info", '"%s %s" %s %s', getattr(self, "command", "-"), path, code, size)


def _options(words: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    while words:
        word = words.pop(0)
        if not word.startswith("--"):
            raise SystemExit(f"unexpected argument {word!r}")
        name, has_value, text = word[2:].partition("=")
        if not has_value:
            text = words.pop(0) if words and not words[0].startswith("--") else "true"
        try:
            options[name.replace("-", "_")] = json.loads(text)
        except ValueError:
            options[name.replace("-", "_")] = text
    return options


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local.sandboxes", description=__doc__)
    parser.add_argument("name", choices=[spec.provider for spec in SANDBOXES])
    parser.add_argument("--port", type=int)
    args, rest = parser.parse_known_args(argv)
    spec = next(spec for spec in SANDBOXES if spec.provider == args.name)
    credentials = {
        key: os.environ.get(f"{spec.provider}_{key}".upper(), default)
        for key, default in spec.credentials.items()
    }
    app = spec.factory(**{**credentials, **_options(rest)})
    port = args.port or spec.port
    print(f"{spec.provider} sandbox on http://127.0.0.1:{port}/ with these test identities:")
    for row in spec.personas:
        print("  " + "  ".join("+".join(v) if isinstance(v, list) else str(v or "-") for v in row.values()))
    run_simple("127.0.0.1", port, app, threaded=True, request_handler=QuietRequestHandler)


if __name__ == "__main__":
    main()
