"""`GET /.well-known/openid-configuration`: what a relying party configures itself from."""

from __future__ import annotations

from typing import Any

from eid_broker.oidc.catalog import ACR_LEVELS, FAMILY_SCOPES
from eid_broker.oidc.issuer import endpoint, issuer

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
UI_LOCALES = ["et", "en", "ru", "lt", "lv"]
PERSON_CLAIMS = ["given_name", "family_name", "birthdate", "profile_attributes"]
CLAIMS = [
    "sub",
    "iss",
    "aud",
    "azp",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "session_id",
    *PERSON_CLAIMS,
    "phone_number",
    "phone_number_verified",
]


def configuration() -> dict[str, Any]:
    return {
        "issuer": issuer(),
        "authorization_endpoint": endpoint("/oidc/authorize"),
        "token_endpoint": endpoint("/oidc/token"),
        "userinfo_endpoint": endpoint("/oidc/userinfo"),
        "jwks_uri": endpoint("/oidc/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "scopes_supported": ["openid", "profile", "phone", *sorted(FAMILY_SCOPES)],
        "claims_supported": CLAIMS,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "acr_values_supported": list(ACR_LEVELS),
        "ui_locales_supported": UI_LOCALES,
        "authorization_response_iss_parameter_supported": True,
    }
