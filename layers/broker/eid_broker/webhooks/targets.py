"""Where a webhook may be sent (the SSRF guard), and the one HTTP attempt that sends it.

A URL is checked when it is set and again at every attempt, and the connection goes to the address
that was checked (pinned), so a DNS answer that changes between the check and the connection
(rebinding) cannot turn a delivery towards an internal host.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
TIMEOUT_SECONDS = 15.0
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# RFC 3986's characters: a URL with others (spaces, controls, non-ASCII) would fail at every attempt.
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")

Resolver = Callable[..., list[tuple[Any, ...]]]


class TargetRefused(ValueError):
    """The URL may not receive webhooks; the message says why, without echoing the URL."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as the URL names it: SNI, certificate check and Host header
    port: int
    address: str  # the checked address the connection is pinned to
    path: str  # path and query


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _allowed(address: str, *, allow_loopback: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        ip = inner
    if ip.is_loopback:
        return allow_loopback
    # is_global excludes private, link-local (the metadata address 169.254.169.254 included), shared
    # (100.64/10), reserved and documentation ranges.
    return ip.is_global and not ip.is_multicast


def resolve(url: str, *, allow_loopback: bool, resolver: Resolver = socket.getaddrinfo) -> Target:
    """The URL's target if it may receive webhooks: https (http only to loopback, and only locally),
    no credentials in the URL, every address the host resolves to public."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"The URL must be at most {MAX_URL_LENGTH} characters.")
    if not _URL_CHARACTERS.fullmatch(url):
        raise TargetRefused("The URL must be ASCII (punycode hosts, percent-encoded paths), without spaces.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused("The URL is not valid.") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TargetRefused("The URL must be https://host/...")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise TargetRefused("The URL may not hold credentials or a fragment.")
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise TargetRefused("The URL's host does not resolve.") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise TargetRefused("The URL's host does not resolve.")
    # Every address must pass: a host with one public and one private address could be steered.
    if not all(_allowed(address, allow_loopback=allow_loopback) for address in addresses):
        raise TargetRefused("The URL's host resolves to a loopback, private, link-local or reserved address.")
    loopback = all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses)
    if parts.scheme == "http" and not loopback:
        raise TargetRefused("The URL must be https://host/...")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, addresses[0], path)


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT_SECONDS) -> int:
    """POST once to the pinned address; the HTTP status (redirects are answers, never followed).

    Raises urllib3's errors (timeout, connection) for the caller to record.
    """
    import certifi
    import urllib3

    limits = urllib3.Timeout(connect=min(5.0, timeout), read=timeout, total=timeout)
    options: dict[str, Any] = {"timeout": limits, "retries": False, "maxsize": 1}
    if target.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            **options,
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, **options)
    default_port = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    host_header = host if target.port == default_port else f"{host}:{target.port}"
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            response.read(64 * 1024)  # a receiver's answer is not used; read a little and let go
        finally:
            response.release_conn()
        return int(response.status)
    finally:
        pool.close()
