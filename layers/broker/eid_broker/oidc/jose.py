"""JOSE with joserfc: clients' public keys, and ID tokens signed by an AWS KMS key.

The private part of a signing key never leaves KMS: the broker sends the JWS signing input to
`kms:Sign` (RSASSA_PKCS1_V1_5_SHA_256, message type RAW, so KMS hashes it) and publishes the key's
public part, from `kms:GetPublicKey`, in the JWKS. A key's `kid` is its RFC 7638 thumbprint.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from eid_broker.errors import InternalUnavailable

CLIENT_ALGS = {"RSA": "RS256", "EC": "ES256"}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def public_jwks(jwks: dict[str, Any]) -> dict[str, Any]:
    """A client's JWKS as stored: 1-10 public RSA (2048+ bits) or P-256 keys; ValueError otherwise."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not 1 <= len(keys) <= 10:
        raise ValueError("must be a JWK Set with 1-10 keys")
    cleaned = []
    for jwk in keys:
        if not isinstance(jwk, dict) or _PRIVATE_MEMBERS & set(jwk):
            raise ValueError("must hold public keys only")
        kty, alg = jwk.get("kty"), jwk.get("alg")
        if kty not in CLIENT_ALGS or alg not in (None, CLIENT_ALGS[kty]):
            raise ValueError("keys must be RSA (RS256) or EC P-256 (ES256)")
        try:
            key = RSAKey.import_key(jwk) if kty == "RSA" else ECKey.import_key(jwk)
        except (JoseError, ValueError, TypeError) as exc:
            raise ValueError("holds a key that cannot be read") from exc
        if isinstance(key, ECKey) and key.curve_name != "P-256":
            raise ValueError("EC keys must be on P-256")
        if isinstance(key, RSAKey) and key.raw_value.key_size < 2048:
            raise ValueError("RSA keys must have at least 2048 bits")
        named = {k: jwk[k] for k in ("kid", "use", "alg") if k in jwk}
        cleaned.append({**key.as_dict(private=False), **named})
    return {"keys": cleaned}


def client_keyset(jwks: dict[str, Any]) -> KeySet:
    return KeySet.import_key_set(jwks)  # type: ignore[arg-type]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class KmsSigner:
    """Signs with the current KMS key; publishes it and, during a rotation, the other one."""

    def __init__(self, kms: Any, key_id: str, other_key_ids: tuple[str, ...] = ()) -> None:
        self._kms = kms
        self.key_id = key_id
        self._others = tuple(k for k in other_key_ids if k and k != key_id)

    @cache  # noqa: B019 - one signer per container, and a key's public part never changes
    def public_key(self, key_id: str) -> RSAKey:
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        try:
            der = self._kms.get_public_key(KeyId=key_id)["PublicKey"]
        except Exception as exc:  # botocore's errors: the key cannot be read now
            raise InternalUnavailable("The signing key could not be read; try again.") from exc
        key = RSAKey.import_key(load_der_public_key(der))  # type: ignore[arg-type]
        return key

    def jwks(self) -> dict[str, Any]:
        keys = []
        for key_id in (self.key_id, *self._others):
            key = self.public_key(key_id)
            keys.append({**key.as_dict(private=False), "kid": key.thumbprint(), "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def sign(self, claims: dict[str, Any]) -> str:
        kid = self.public_key(self.key_id).thumbprint()
        header = {"alg": "RS256", "typ": "JWT", "kid": kid}
        signing_input = ".".join(
            b64url(json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
            for part in (header, claims)
        )
        try:
            signature = self._kms.sign(
                KeyId=self.key_id,
                Message=signing_input.encode("ascii"),
                MessageType="RAW",
                SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
            )["Signature"]
        except Exception as exc:
            raise InternalUnavailable("The ID token could not be signed; try again.") from exc
        return f"{signing_input}.{b64url(signature)}"
