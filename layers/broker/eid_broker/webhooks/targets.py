"""Where a webhook may be sent (the SSRF guard); the attempt itself is in `transport`.

A URL is checked when it is set and again at every attempt, and the connection goes to the address
that was checked (pinned), so a DNS answer that changes between the check and the connection
(rebinding) cannot turn a delivery towards an internal host.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
TIMEOUT_SECONDS = 15.0  # WEBHOOK_TIMEOUT_SECONDS' default: one attempt, name lookup to the last byte read
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # local-use NAT64 (RFC 8215): translator-specific
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
# RFC 3986's characters: a URL with others (spaces, controls, non-ASCII) would fail at every attempt.
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")

Resolver = Callable[..., list[tuple[Any, ...]]]


class TargetRefused(ValueError):
    """The URL may not receive webhooks; the message says why, without echoing the URL."""


class LookupTimedOut(TimeoutError):
    """The host's name lookup did not answer within the attempt's time."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as the URL names it: SNI, certificate check and Host header
    port: int
    address: str  # the checked address the connection is pinned to
    path: str  # path and query


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries: mapped (::ffff:a.b.c.d), translated (::ffff:0:a.b.c.d),
    compatible (::a.b.c.d), 6to4 (2002:AABB:CCDD::/48) or NAT64 (64:ff9b::a.b.c.d)."""
    value = int(ip)
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if value >> 32 == 0xFFFF0000 or (value >> 32 == 0 and value > 1):
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def allowed_address(address: str, *, allow_loopback: bool) -> bool:
    """A global unicast address (loopback only when `allow_loopback`); an IPv6 form that carries an
    IPv4 address is refused when that IPv4 address is, and otherwise judged as IPv6."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None and not allowed_address(str(inner), allow_loopback=allow_loopback):
            return False
        if ip.ipv4_mapped is not None:
            return True  # the IPv4 address itself, judged above
        if ip.is_site_local or ip in _LOCAL_NAT64:
            return False
    if ip.is_loopback:
        return allow_loopback
    # is_global alone lets some through (Python counts reserved ::/8, fec0::/10 and 6to4 as global).
    refused = ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    return ip.is_global and not refused


def bounded_lookup(seconds: float, resolver: Resolver = socket.getaddrinfo) -> Resolver:
    """`resolver` that gives up after `seconds` (getaddrinfo has no timeout of its own): the lookup runs
    on a daemon thread, which a stuck resolver may keep a while but never the attempt."""

    def lookup(*args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        answer: list[Any] = []

        def run() -> None:
            try:
                answer.append(resolver(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                answer.append(exc)

        worker = threading.Thread(target=run, name="webhook-lookup", daemon=True)
        worker.start()
        worker.join(max(0.0, seconds))
        if not answer:
            raise LookupTimedOut("name lookup timed out")
        if isinstance(answer[0], BaseException):
            raise answer[0]
        return answer[0]

    return lookup


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
    except LookupTimedOut:
        raise
    except (OSError, UnicodeError):
        raise TargetRefused("The URL's host does not resolve.") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise TargetRefused("The URL's host does not resolve.")
    # Every address must pass: a host with one public and one private address could be steered.
    if not all(allowed_address(address, allow_loopback=allow_loopback) for address in addresses):
        raise TargetRefused(
            "The URL's host resolves to a loopback, private, link-local, reserved or other non-public"
            " address."
        )
    loopback = all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses)
    if parts.scheme == "http" and not loopback:
        raise TargetRefused("The URL must be https://host/...")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, addresses[0], path)
