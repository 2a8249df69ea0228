"""The OpenID Provider in template.yaml: KMS signing keys that never leave KMS, who may sign, and
which routes go without an API key."""

from __future__ import annotations

import json
from pathlib import Path

from eid_broker.oidc.catalog import OFFERS
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


def _start_function(method: str) -> dict:
    """The `/v1` function that starts `method`'s sessions."""
    for function in FUNCTIONS.values():
        for event in (function["Properties"].get("Events") or {}).values():
            if event.get("Properties", {}).get("Path") == f"/v1/sessions/{method}":
                return function
    raise AssertionError(f"no start function for {method}")


def test_the_login_page_starts_every_method_as_its_own_start_function_does() -> None:
    """Same poll function, same loop, same provider settings and secrets: a page session is a /v1 one."""
    page = FUNCTIONS["OidcLoginFunction"]["Properties"]
    variables = page["Environment"]["Variables"]
    polls = json.loads(variables["OIDC_POLL_FUNCTIONS"]["Fn::Sub"])
    machines = json.loads(variables["OIDC_POLL_MACHINES"]["Fn::Sub"])
    secrets = [
        policy["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"]
        for policy in page["Policies"]
        if isinstance(policy, dict) and "AWSSecretsManagerGetSecretValuePolicy" in policy
    ]
    machine_policies = [
        policy["StepFunctionsExecutionPolicy"]["StateMachineName"]["Fn::GetAtt"][0]
        for policy in page["Policies"]
        if isinstance(policy, dict) and "StepFunctionsExecutionPolicy" in policy
    ]
    assert set(polls) == set(OFFERS)
    for method in OFFERS:
        start = _start_function(method)["Properties"]["Environment"]["Variables"]
        poller = start["POLL_FUNCTION_ARN"]["Fn::GetAtt"][0]
        assert polls[method] == "${" + poller + ".Arn}", method
        machine = start["SESSION_POLL_STATE_MACHINE_ARN"]["Ref"]
        default = variables["SESSION_POLL_STATE_MACHINE_ARN"]["Ref"]
        assert machines.get(method, "${" + default + "}") == "${" + machine + "}", method
        assert machine in machine_policies, method
        for name, value in start.items():
            if name.endswith(("_BASE_URL", "_SECRET_NAME", "_APP_ID", "_OTP_TTL_SECONDS")):
                assert variables.get(name) == value, (method, name)
            if name.endswith("_SECRET_NAME"):
                assert value in secrets, (method, name)
