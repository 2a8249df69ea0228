"""The outbound webhooks' SSRF guard and signatures (Standard Webhooks' known-answer vector)."""

from __future__ import annotations

import socket

import pytest
from standardwebhooks.webhooks import Webhook

from eid_broker.webhooks import targets
from eid_broker.webhooks.base import delivery_id, new_secret, signature_headers


def answering(*addresses: str) -> targets.Resolver:
    def resolver(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        family = socket.AF_INET6 if ":" in addresses[0] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses]

    return resolver


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",  # the instance metadata address
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fd00:ec2::254",  # the metadata address over IPv6
        "fe80::1",
        "::ffff:10.0.0.1",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "224.0.0.1",
    ],
)
def test_an_internal_address_is_refused_deployed(address: str) -> None:
    with pytest.raises(targets.TargetRefused, match="resolves to a loopback, private"):
        targets.resolve("https://hooks.example/x", allow_loopback=False, resolver=answering(address))


def test_one_internal_address_among_public_ones_is_refused() -> None:
    with pytest.raises(targets.TargetRefused):
        targets.resolve(
            "https://hooks.example/", allow_loopback=False, resolver=answering("93.184.216.34", "10.0.0.1")
        )


def test_a_public_https_url_is_pinned_to_the_checked_address() -> None:
    target = targets.resolve(
        "https://hooks.example:8443/in?x=1", allow_loopback=False, resolver=answering("93.184.216.34")
    )
    assert target == targets.Target("https", "hooks.example", 8443, "93.184.216.34", "/in?x=1")


@pytest.mark.parametrize(
    ("url", "allow_loopback", "message"),
    [
        ("http://hooks.example/", False, "must be https"),
        ("http://hooks.example/", True, "must be https"),  # http only to loopback, even locally
        ("ftp://hooks.example/", False, "must be https"),
        ("https://user:pw@hooks.example/", False, "credentials"),
        ("https:///nohost", False, "must be https"),
        ("https://hooks.example:99999/", False, "not valid"),
        ("https://hooks.example/" + "a" * 2100, False, "at most 2048"),
    ],
)
def test_malformed_or_plain_http_urls_are_refused(url: str, allow_loopback: bool, message: str) -> None:
    with pytest.raises(targets.TargetRefused, match=message):
        targets.resolve(url, allow_loopback=allow_loopback, resolver=answering("93.184.216.34"))


def test_http_to_loopback_only_when_local() -> None:
    local = targets.resolve("http://127.0.0.1:8080/h", allow_loopback=True, resolver=answering("127.0.0.1"))
    assert (local.scheme, local.address, local.port) == ("http", "127.0.0.1", 8080)
    with pytest.raises(targets.TargetRefused):
        targets.resolve("http://127.0.0.1:8080/h", allow_loopback=False, resolver=answering("127.0.0.1"))


def test_a_host_that_does_not_resolve_is_refused() -> None:
    def fails(*_: object, **__: object) -> list[tuple[object, ...]]:
        raise socket.gaierror("no such host")

    with pytest.raises(targets.TargetRefused, match="does not resolve"):
        targets.resolve("https://nowhere.invalid/", allow_loopback=False, resolver=fails)


def test_signatures_match_the_standard_webhooks_known_answer() -> None:
    secret, body = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", b'{"test": 2432232314}'
    headers = signature_headers("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330.7, body, [secret])
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert headers["webhook-timestamp"] == "1614265330"


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    import time

    old, new = new_secret(), new_secret()
    body = b'{"type":"webhook.test"}'
    headers = signature_headers("msg_1", time.time(), body, [new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"type": "webhook.test"}


def test_secrets_are_32_random_bytes_and_ids_sort_by_time() -> None:
    import base64
    from datetime import UTC, datetime

    assert len(base64.b64decode(new_secret().removeprefix("whsec_"))) == 32
    earlier = delivery_id(datetime(2026, 12, 2, 10, 0, tzinfo=UTC), "0" * 32)
    later = delivery_id(datetime(2026, 12, 2, 10, 0, 1, tzinfo=UTC), "f" * 32)
    assert earlier < later and len(earlier) == len(later) == 4 + 12 + 32


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example/a b",
        "https://hooks.example/\x00",
        "https://bücher.example/",
        "https://h.example/\n",
    ],
)
def test_a_url_with_characters_no_request_can_carry_is_refused(url: str) -> None:
    with pytest.raises(targets.TargetRefused, match="must be ASCII"):
        targets.resolve(url, allow_loopback=False, resolver=answering("93.184.216.34"))


def test_validation_errors_of_stored_items_do_not_echo_secrets_or_personal_data() -> None:
    from pydantic import ValidationError

    from eid_broker.sessions import SessionRecord
    from eid_broker.webhooks.models import Endpoint

    with pytest.raises(ValidationError) as endpoint_error:
        Endpoint.model_validate(
            {"owner": "k", "url": "u", "created_at": 1, "updated_at": "t", "secret": ["whsec_x1"]}
        )
    assert "whsec_x1" not in str(endpoint_error.value)
    with pytest.raises(ValidationError) as session_error:
        SessionRecord.model_validate({"session_id": "s", "identity": {"personal_code": ["38001085718"]}})
    assert "38001085718" not in str(session_error.value)
