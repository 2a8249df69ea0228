"""Certificates as providers send them: base64 of the PEM text (Dokobit), base64 applied twice to the
DER (MarkSign samples), or plain base64 DER. All become PEM text."""

from __future__ import annotations

import base64
import binascii
import textwrap

from pydantic import BaseModel


class Certificate(BaseModel):
    subject: dict[str, str] = {}
    issuer: dict[str, str] = {}
    valid_from: str | None = None
    valid_to: str | None = None
    pem: str | None = None


def _b64(value: str | bytes) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _pem(der: bytes) -> str:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def pem_from_value(value: str | None) -> str | None:
    if not value:
        return None
    once = _b64(value.strip())
    if once is None:
        return None
    if once.lstrip().startswith(b"-----BEGIN"):
        return once.decode("ascii", "replace").strip() + "\n"
    # A DER certificate starts with a SEQUENCE tag (0x30); base64 text of one starts with "MII".
    if once[:1] != b"\x30":
        twice = _b64(once.strip())
        if twice is not None and twice[:1] == b"\x30":
            return _pem(twice)
        return None
    return _pem(once)


def serial_matches(serial_number: str | None, country: str, code: str) -> bool:
    """A subject serialNumber is PNO{CC}-{code} (ETSI) or, in older certificates, the bare code."""
    if not serial_number:
        return True
    return serial_number in (f"PNO{country}-{code}", code)
