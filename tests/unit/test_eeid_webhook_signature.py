"""eeID webhook signatures: hex HMAC-SHA256 of the raw body keyed by the client secret."""

import hashlib
import hmac

import pytest

from eid_broker.methods.eeid import signature_valid

SECRET = "sandbox-eeid-secret"
BODY = b'{"identification_request_id":"123","client_id":"c","reference":"r"}'


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_known_answer_vector() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert signature_valid(b"what do ya want for nothing?", expected, ["Jefe"])
    assert signature_valid(b"what do ya want for nothing?", expected.upper(), ["Jefe"])


def test_the_raw_body_and_its_whitespace_free_form_are_accepted() -> None:
    spaced = b'{"identification_request_id": "123", "client_id": "c", "reference": "r"}'
    assert signature_valid(BODY, sign(BODY), [SECRET])
    assert signature_valid(spaced, sign(spaced), [SECRET])  # raw
    assert signature_valid(spaced, sign(BODY), [SECRET])  # eeID's reference receiver strips whitespace


@pytest.mark.parametrize(
    ("body", "signature"),
    [
        (BODY.replace(b"123", b"124"), sign(BODY)),  # tampered body
        (BODY, sign(BODY)[:-1] + ("0" if sign(BODY)[-1] != "0" else "1")),  # flipped digit
        (BODY, sign(BODY, "another-secret")),  # wrong secret
        (BODY, None),  # missing header
        (BODY, ""),
        (BODY, "zz" * 32),
        (BODY, "é" * 64),  # not even ASCII
        (b'{"identification_request_id":"123","reference":"r","client_id":"c"}', sign(BODY)),  # re-serialised
    ],
)
def test_anything_else_is_refused(body: bytes, signature: str | None) -> None:
    assert not signature_valid(body, signature, [SECRET])


def test_the_previous_secret_works_during_a_rotation() -> None:
    assert signature_valid(BODY, sign(BODY, "old-secret"), [SECRET, "old-secret"])
    assert not signature_valid(BODY, sign(BODY, "old-secret"), [SECRET])
