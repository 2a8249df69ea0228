"""The log mask: every secret shape the broker handles is hidden, and ids that merely look like numbers
(a UUID whose last group is all digits, about 0.4 % of session ids) are never touched."""

from __future__ import annotations

import base64
import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eid_broker.observability import mask
from eid_broker.webhooks.base import new_secret

# A fixed secret of new_secret()'s shape: test ids must be the same in every xdist worker.
WEBHOOK_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode("ascii")
# And one fresh each run (its case has a fixed id too): whatever new_secret() makes is masked.
FRESH_WEBHOOK_SECRET = new_secret()


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        pytest.param(
            f'{{"secret": "{WEBHOOK_SECRET}"}}',
            WEBHOOK_SECRET.removeprefix("whsec_"),
            id="webhook-secret-json",
        ),
        ('{"previous_secret": "s3cr3t-previous"}', "s3cr3t-previous"),
        pytest.param(
            f"signing with {WEBHOOK_SECRET} now",
            WEBHOOK_SECRET.removeprefix("whsec_"),
            id="webhook-secret-text",
        ),
        pytest.param(
            f"signing with {FRESH_WEBHOOK_SECRET} now",
            FRESH_WEBHOOK_SECRET.removeprefix("whsec_"),
            id="webhook-secret-fresh",
        ),
        ('{"client_secret": "cl13nt-s3cr3t"}', "cl13nt-s3cr3t"),
        ("client_secret=cl13nt-s3cr3t&x=1", "cl13nt-s3cr3t"),
        ('{"hmac_key": "hm4c-k3y-value"}', "hm4c-k3y-value"),
        ("secret_key=mos1p-k3y", "mos1p-k3y"),
        ("?access_token=d0k0b1t-t0k3n&a=b", "d0k0b1t-t0k3n"),
        ('{"password": "hunter2-pw"}', "hunter2-pw"),
        ("passwd: hunter2-pw", "hunter2-pw"),
        ('{"api_key": "mobb1d-ap1-k3y"}', "mobb1d-ap1-k3y"),
        ('{"private_key": "-----BEGIN"}', "-----BEGIN"),
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        ("authorization=Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ('{\\"token\\": \\"m0s1p-t0k3n\\"}', "m0s1p-t0k3n"),  # JSON-escaped inside a JSON line
        ('{"otp": "123456"}', "123456"),
        ("id token eyJhbGciOi.eyJzdWIi.c2ln", "eyJhbGciOi"),
    ],
)
def test_every_secret_shape_is_masked(line: str, secret: str) -> None:
    assert secret not in mask(line)


def test_the_fixed_webhook_secret_has_the_shape_new_secret_makes() -> None:
    shape = re.compile(r"whsec_[A-Za-z0-9+/]{43}=")
    assert shape.fullmatch(new_secret()) and shape.fullmatch(WEBHOOK_SECRET)


def test_phones_and_personal_codes_alone_are_still_masked() -> None:
    for value in ("+37200000766", "37200000766", "60001019906", "050405-10009", "372 5555 1234"):
        assert value not in mask(f"start for {value} at once"), value
        assert value not in mask(f'{{"phone": "{value}"}}'), value


@settings(max_examples=2000)
@given(st.uuids(version=4))
def test_session_ids_are_never_masked(session_id: uuid.UUID) -> None:
    text = str(session_id)
    line = f'{{"message": "session erased", "session_id": "{text}", "trigger": "retention"}}'
    assert mask(line) == line
    assert mask(f"session {text} erased") == f"session {text} erased"


@given(st.integers(min_value=0, max_value=10**12 - 1))
def test_a_uuid_whose_last_group_is_all_digits_is_kept(last: int) -> None:
    text = f"0b6c8c1e-3f7e-4d7a-9d59-{last:012d}"
    assert mask(f"erased {text}") == f"erased {text}"
