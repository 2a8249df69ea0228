import base64
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from eid_broker.certificates import pem_from_value, serial_matches


@pytest.fixture(scope="module")
def certificate() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, "PNOEE-60001017705")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def encodings(cert: x509.Certificate) -> dict[str, str]:
    der = cert.public_bytes(serialization.Encoding.DER)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    return {
        "base64 of the PEM text (Dokobit)": base64.b64encode(pem).decode(),
        "base64 twice over the DER (MarkSign)": base64.b64encode(base64.b64encode(der)).decode(),
        "base64 DER": base64.b64encode(der).decode(),
    }


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["dokobit-pem", "marksign-double", "der"])
def test_every_provider_encoding_becomes_the_same_pem(certificate: x509.Certificate, kind: int) -> None:
    value = list(encodings(certificate).values())[kind]
    pem = pem_from_value(value)
    assert pem is not None
    assert x509.load_pem_x509_certificate(pem.encode()) == certificate


@pytest.mark.parametrize("value", [None, "", "not base64!", base64.b64encode(b"hello").decode()])
def test_what_is_not_a_certificate_gives_none(value: str | None) -> None:
    assert pem_from_value(value) is None


def test_serial_numbers_name_the_person() -> None:
    assert serial_matches("PNOEE-60001017705", "EE", "60001017705")
    assert serial_matches("60001017705", "EE", "60001017705")
    assert serial_matches(None, "EE", "60001017705")
    assert not serial_matches("PNOEE-60001017705", "EE", "39001010011")
    assert not serial_matches("PNOLT-60001017705", "EE", "60001017705")
