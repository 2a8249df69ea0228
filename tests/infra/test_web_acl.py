"""The deployment's web ACL: every route without an API key is throttled per source address."""

from __future__ import annotations

from typing import Any

from local.emulator.cfn import Template
from tests.infra.test_template import ROOT

TEMPLATE = Template.load(ROOT / "template.yaml")
RESOURCES = TEMPLATE.resources
PARAMETERS = TEMPLATE.document["Parameters"]
CONDITIONS = TEMPLATE.document["Conditions"]


def public_paths() -> set[str]:
    """The API routes that carry no API key (the usage plan cannot throttle them), plus discovery."""
    paths = {"/.well-known/openid-configuration"}
    for _, function in TEMPLATE.of_type("AWS::Serverless::Function"):
        for event in function["Properties"].get("Events", {}).values():
            props = event["Properties"]
            if event["Type"] == "Api" and props.get("Auth", {}).get("ApiKeyRequired") is False:
                paths.add(props["Path"])
    return paths


def rule(name: str) -> dict[str, Any]:
    rules = RESOURCES["PublicWebAcl"]["Properties"]["Rules"]
    found = [r for r in rules if isinstance(r, dict) and r.get("Name") == name]
    found += [r["Fn::If"][1] for r in rules if "Fn::If" in r and r["Fn::If"][1]["Name"] == name]
    (only,) = found
    return only


def search_strings(statement: dict[str, Any]) -> list[str]:
    return [s["ByteMatchStatement"]["SearchString"] for s in statement["OrStatement"]["Statements"]]


def test_the_web_acl_is_on_by_default_and_guards_the_api_stage() -> None:
    assert PARAMETERS["WebAclEnabled"]["Default"] == "true"
    assert CONDITIONS["HasWebAcl"] == {"Fn::Equals": [{"Ref": "WebAclEnabled"}, "true"]}
    acl = RESOURCES["PublicWebAcl"]
    assert acl["Condition"] == "HasWebAcl" and acl["Properties"]["Scope"] == "REGIONAL"
    assert acl["Properties"]["DefaultAction"] == {"Allow": {}}
    association = RESOURCES["PublicWebAclAssociation"]["Properties"]
    assert association["WebACLArn"] == {"Fn::GetAtt": ["PublicWebAcl", "Arn"]}
    assert "/restapis/${BrokerApi}/stages/${BrokerApi.Stage}" in association["ResourceArn"]["Fn::Sub"]


def test_every_route_without_an_api_key_is_rate_limited_per_source_address() -> None:
    limited = rule("public-routes-per-source-address")
    statement = limited["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "IP"
    assert statement["Limit"] == {"Ref": "PublicRouteRateLimit"}
    assert limited["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    patterns = search_strings(statement["ScopeDownStatement"])
    paths = public_paths()
    assert "/eeid/webhooks/identification_requests" in paths
    for path in paths:
        assert any(pattern in path.lower() for pattern in patterns), f"{path} is not throttled per address"
    # A whole hosted-page login (about 60 requests with a reloading waiting page) fits several times over.
    assert PARAMETERS["PublicRouteRateLimit"]["MinValue"] >= 100


def test_the_eeid_webhook_allow_list_applies_only_when_addresses_are_given() -> None:
    assert PARAMETERS["EeidWebhookAllowedCidrs"]["Default"] == ""
    ip_set = RESOURCES["EeidWebhookAllowList"]
    assert ip_set["Condition"] == "HasEeidAllowList"
    assert ip_set["Properties"]["Addresses"] == {"Fn::Split": [",", {"Ref": "EeidWebhookAllowedCidrs"}]}
    (on, not_empty) = CONDITIONS["HasEeidAllowList"]["Fn::And"]
    assert on == {"Condition": "HasWebAcl"} and "Fn::Not" in not_empty
    guarded = rule("eeid-webhook-allow-list")
    assert guarded["Action"] == {"Block": {}}
    path_match, outside = guarded["Statement"]["AndStatement"]["Statements"]
    assert path_match["ByteMatchStatement"]["SearchString"] == "/eeid/webhooks/"
    reference = outside["NotStatement"]["Statement"]["IPSetReferenceStatement"]["Arn"]
    assert reference == {"Fn::GetAtt": ["EeidWebhookAllowList", "Arn"]}


def test_the_web_acl_log_carries_no_query_string_cookie_or_credential() -> None:
    logging = RESOURCES["PublicWebAclLogging"]["Properties"]
    assert logging["ResourceArn"] == {"Fn::GetAtt": ["PublicWebAcl", "Arn"]}
    redacted = logging["RedactedFields"]
    assert {"QueryString": {}} in redacted
    headers = {field["SingleHeader"]["Name"] for field in redacted if "SingleHeader" in field}
    assert headers == {"cookie", "authorization"}
    name = RESOURCES["PublicWebAclLogGroup"]["Properties"]["LogGroupName"]["Fn::Sub"]
    assert name.startswith("aws-waf-logs-")
