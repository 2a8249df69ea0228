"""The SSRF guard: every address a webhook host resolves to must be global unicast. IPv6 forms that
carry an IPv4 address (mapped, translated, compatible, 6to4, NAT64) never smuggle a refused one."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eid_broker.webhooks import targets
from tests.unit.test_webhook_targets import answering

PUBLIC_V4 = "93.184.216.34"


def forms(v4: ipaddress.IPv4Address) -> dict[str, str]:
    value = int(v4)
    return {
        "mapped": str(ipaddress.IPv6Address((0xFFFF << 32) | value)),
        "translated": str(ipaddress.IPv6Address((0xFFFF0000 << 32) | value)),
        "compatible": str(ipaddress.IPv6Address(value)),
        "6to4": str(ipaddress.IPv6Address((0x2002 << 112) | (value << 80))),
        "nat64": str(ipaddress.IPv6Address((0x64FF9B << 96) | value)),
    }


def refused_v4(v4: ipaddress.IPv4Address) -> bool:
    return not v4.is_global or v4.is_multicast or v4.is_reserved or v4.is_private or v4.is_loopback


@pytest.mark.parametrize(
    "address",
    [
        "::169.254.169.254",  # IPv4-compatible form of the metadata address
        "::ffff:0:169.254.169.254",  # IPv4-translated
        "::ffff:0:10.0.0.1",
        "fec0::1",  # site-local
        "fc00::1",  # unique-local
        "64:ff9b:1::a00:1",  # local-use NAT64
        "240.0.0.1",  # reserved
        "100::1",  # discard-only
        "ff02::1",  # multicast
        "::",
        "2001:db8::1",  # documentation
    ],
)
def test_addresses_that_passed_before_are_refused(address: str) -> None:
    with pytest.raises(targets.TargetRefused, match="non-public"):
        targets.resolve("https://hooks.example/x", allow_loopback=False, resolver=answering(address))


@given(
    st.ip_addresses(v=4).filter(refused_v4),
    st.sampled_from(["mapped", "translated", "compatible", "6to4", "nat64"]),
)
def test_no_ipv6_form_of_a_refused_ipv4_passes(v4: ipaddress.IPv4Address, form: str) -> None:
    address = forms(v4)[form]
    assert not targets.allowed_address(address, allow_loopback=False), (form, address)


@given(st.ip_addresses())
def test_whatever_passes_is_global_unicast(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    if targets.allowed_address(str(ip), allow_loopback=False):
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack resolver's form of an IPv4 address: judged as that address
        assert ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_private or ip.is_loopback)
        assert not (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
        inner = targets.embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
        assert inner is None or not refused_v4(inner)


def test_public_addresses_and_their_mapped_and_6to4_forms_pass() -> None:
    public = ipaddress.IPv4Address(PUBLIC_V4)
    for address in (PUBLIC_V4, "2606:4700::1111", forms(public)["mapped"], forms(public)["6to4"]):
        assert targets.allowed_address(address, allow_loopback=False), address


def test_loopback_in_any_form_only_locally() -> None:
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert targets.allowed_address(address, allow_loopback=True)
        assert not targets.allowed_address(address, allow_loopback=False)


def test_a_name_lookup_that_hangs_is_cut_off() -> None:
    import threading
    import time

    release = threading.Event()

    def hangs(*_: object, **__: object) -> list[tuple[object, ...]]:
        release.wait(10)
        return []

    started = time.monotonic()
    with pytest.raises(targets.LookupTimedOut):
        targets.resolve(
            "https://slow.example/", allow_loopback=False, resolver=targets.bounded_lookup(0.3, hangs)
        )
    release.set()
    assert time.monotonic() - started < 1.0
