"""Apache httpd with mod_auth_openidc (an OpenID-certified relying party), on a free loopback port,
protecting a CGI page that echoes the claims Apache received. Debian's packages (`make deps`)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")
NEEDED = (
    "mod_mpm_prefork.so",
    "mod_authn_core.so",
    "mod_authz_core.so",
    "mod_authz_user.so",
    "mod_cgi.so",
    "mod_alias.so",
)
OPENIDC = MODULES / "mod_auth_openidc.so"

CGI = """#!/usr/bin/env python3
import html, os
claims = sorted((k[11:], v) for k, v in os.environ.items() if k.startswith("OIDC_CLAIM_"))
print("Content-Type: text/html; charset=utf-8")
print()
print("<!doctype html><html><body><h1>Claims Apache received</h1><dl id='claims'>")
for name, value in claims:
    print(f"<dt>{html.escape(name)}</dt><dd id='claim-{html.escape(name)}'>{html.escape(value)}</dd>")
print("</dl></body></html>")
"""


def available() -> bool:
    return os.path.exists(APACHE) and OPENIDC.exists() and all((MODULES / m).exists() for m in NEEDED)


@dataclass
class Apache:
    process: subprocess.Popen[bytes]
    url: str
    redirect_uri: str
    directory: Path

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(
    directory: Path,
    issuer: str,
    client_id: str,
    client_secret: str,
    port: int,
    auth_request_params: Mapping[str, str] | None = None,
) -> Apache:
    """`auth_request_params`: fixed parameters Apache adds to every authorization request
    (`OIDCAuthRequestParams`, URL-encoded), e.g. a `login_hint`."""
    url = f"http://127.0.0.1:{port}"
    extra = f"OIDCAuthRequestParams {urlencode(auth_request_params)}" if auth_request_params else ""
    redirect_uri = f"{url}/protected/redirect_uri"
    script = directory / "claims.cgi"
    script.write_text(CGI, encoding="utf-8")
    script.chmod(0o755)
    directory.chmod(0o755)  # the CGI runs as Apache's unprivileged user
    modules = "\n".join(f"LoadModule {m[4:-3]}_module {MODULES / m}" for m in NEEDED)
    config = f"""
ServerRoot "{directory}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{directory}/httpd.pid"
ErrorLog "{directory}/error.log"
LogLevel warn auth_openidc:info
{"User nobody" + chr(10) + "Group nogroup" if os.geteuid() == 0 else ""}
{modules}
LoadModule auth_openidc_module {OPENIDC}
DocumentRoot "{directory}"
ScriptAlias /protected/claims "{script}"

OIDCProviderMetadataURL {issuer}/.well-known/openid-configuration
OIDCClientID {client_id}
OIDCClientSecret {client_secret}
OIDCRedirectURI {redirect_uri}
OIDCCryptoPassphrase {secrets.token_urlsafe(24)}
OIDCScope "openid phone"
OIDCPKCEMethod S256
OIDCProviderTokenEndpointAuth client_secret_basic
OIDCPassClaimsAs environment
OIDCSessionType client-cookie
{extra}

<Location /protected>
    AuthType openid-connect
    Require valid-user
</Location>
"""
    (directory / "httpd.conf").write_text(config, encoding="utf-8")
    env = {**os.environ, "APACHE_RUN_DIR": str(directory), "APACHE_LOCK_DIR": str(directory)}
    process = subprocess.Popen(
        [APACHE, "-f", str(directory / "httpd.conf"), "-DFOREGROUND"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"apache2 did not start: {said}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return Apache(process, url, redirect_uri, directory)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("apache2 did not listen in time")
