"""The OpenID Provider in template.yaml: KMS signing keys that never leave KMS, who may sign, and
which routes go without an API key."""

from __future__ import annotations

from pathlib import Path

from local.emulator.cfn import Template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Template.load(ROOT / "template.yaml")
FUNCTIONS = dict(TEMPLATE.of_type("AWS::Serverless::Function"))
KEYS = {"OidcSigningKeyBlue", "OidcSigningKeyGreen"}


def _actions(function: dict, resource_ref: str) -> set[str]:
    found: set[str] = set()
    for policy in function["Properties"].get("Policies") or []:
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            if any(isinstance(r, dict) and r.get("Fn::GetAtt", [None])[0] == resource_ref for r in resources):
                found |= set(statement["Action"])
    return found


def test_the_signing_keys_are_rsa_2048_sign_verify_kms_keys_kept_on_delete() -> None:
    for logical_id in KEYS:
        key = TEMPLATE.resources[logical_id]
        assert key["Type"] == "AWS::KMS::Key" and key["DeletionPolicy"] == "Retain"
        assert key["Properties"]["KeySpec"] == "RSA_2048" and key["Properties"]["KeyUsage"] == "SIGN_VERIFY"


def test_only_the_token_function_signs_and_both_keys_are_published() -> None:
    for name, function in FUNCTIONS.items():
        for key in KEYS:
            actions = _actions(function, key)
            assert ("kms:Sign" in actions) == (name == "OidcTokenFunction"), name
            assert not actions - {"kms:Sign", "kms:GetPublicKey"}, name  # never decrypt, never export
    for name in ("OidcDiscoveryFunction", "OidcTokenFunction"):
        variables = FUNCTIONS[name]["Properties"]["Environment"]["Variables"]
        signing, upcoming = (
            variables["OIDC_SIGNING_KEY_ID"]["Fn::If"],
            variables["OIDC_NEXT_SIGNING_KEY_ID"]["Fn::If"],
        )
        assert signing[0] == upcoming[0] == "OidcSignsWithGreen"
        assert {signing[1]["Fn::GetAtt"][0], upcoming[1]["Fn::GetAtt"][0]} == KEYS
        assert signing[1] == upcoming[2] and signing[2] == upcoming[1]


def test_the_open_routes_are_eeids_webhook_and_the_openid_providers_public_ones() -> None:
    open_routes = {
        (event["Properties"]["Method"], event["Properties"]["Path"], name)
        for name, function in FUNCTIONS.items()
        for event in (function["Properties"].get("Events") or {}).values()
        if event["Type"] == "Api" and (event["Properties"].get("Auth") or {}).get("ApiKeyRequired") is False
    }
    oidc = {route for route in open_routes if route[2] != "EeidWebhookFunction"}
    assert {path for _, path, _ in oidc} == {
        "/.well-known/openid-configuration",
        "/oidc/jwks",
        "/oidc/authorize",
        "/oidc/login",
        "/oidc/login/status",
        "/oidc/static/{name}",
        "/oidc/token",
        "/oidc/userinfo",
    }
    clients = FUNCTIONS["OidcClientsFunction"]["Properties"]["Events"]
    assert all("Auth" not in event["Properties"] for event in clients.values())  # the API's key
