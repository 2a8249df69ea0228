"""The template's at-rest encryption, backups and scanner skips (checkov itself runs in `make check`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from local.emulator.cfn import Template
from tests.infra.test_limits import CORE

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Template.load(ROOT / "template.yaml")
FUNCTIONS = TEMPLATE.of_type("AWS::Serverless::Function")
TABLES = TEMPLATE.of_type("AWS::DynamoDB::Table")
SECRETS = TEMPLATE.of_type("AWS::SecretsManager::Secret")
LOG_GROUPS = TEMPLATE.of_type("AWS::Logs::LogGroup")

NO_VALUE = {"Ref": "AWS::NoValue"}
THE_KEY_IF_GIVEN = {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, NO_VALUE]}
# Provider access tokens: renewable and TTL-expired, so they stay out of backups.
NOT_BACKED_UP = {"TokensTable": "CKV_AWS_28"}
CHECKOV_CONFIG = ROOT / ".checkov.yaml"
GLOBAL_SKIPS = yaml.safe_load(CHECKOV_CONFIG.read_text())["skip-check"]


def checkov_skips(resource: dict) -> dict[str, str]:
    skips = ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []
    return {skip["id"]: skip.get("comment", "") for skip in skips}


def test_the_kms_key_is_optional() -> None:
    parameter = TEMPLATE.parameters["KmsKeyArn"]
    assert parameter["Type"] == "String" and parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "")
    assert re.fullmatch(parameter["AllowedPattern"], "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab")
    assert not re.fullmatch(parameter["AllowedPattern"], "alias/aws/dynamodb")
    assert TEMPLATE.conditions["HasKmsKey"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]}


@pytest.mark.parametrize(("logical_id", "table"), TABLES)
def test_every_table_uses_the_key_when_given(logical_id: str, table: dict) -> None:
    assert table["Properties"]["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": {"Fn::If": ["HasKmsKey", "KMS", NO_VALUE]},
        "KMSMasterKeyId": THE_KEY_IF_GIVEN,
    }


@pytest.mark.parametrize(("logical_id", "secret"), SECRETS)
def test_every_secret_uses_the_key_when_given(logical_id: str, secret: dict) -> None:
    assert secret["Properties"]["KmsKeyId"] == THE_KEY_IF_GIVEN


@pytest.mark.parametrize(("logical_id", "group"), LOG_GROUPS)
def test_every_log_group_uses_the_key_when_given(logical_id: str, group: dict) -> None:
    assert group["Properties"]["KmsKeyId"] == THE_KEY_IF_GIVEN
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


@pytest.mark.parametrize(("logical_id", "function"), FUNCTIONS)
def test_every_function_encrypts_its_environment_with_the_key_and_may_reserve_concurrency(
    logical_id: str, function: dict
) -> None:
    props = function["Properties"]
    assert props["KmsKeyArn"] == THE_KEY_IF_GIVEN
    everyone = {"Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, NO_VALUE]}
    if logical_id in CORE:  # tests/infra/test_limits.py: poll and record functions reserve their own
        everyone = {"Fn::If": ["HasCoreReservedConcurrency", {"Ref": "CoreReservedConcurrency"}, everyone]}
    assert props["ReservedConcurrentExecutions"] == everyone


def test_reserved_concurrency_is_optional_and_positive() -> None:
    parameter = TEMPLATE.parameters["ReservedConcurrency"]
    assert parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "") and re.fullmatch(parameter["AllowedPattern"], "25")
    assert not re.fullmatch(parameter["AllowedPattern"], "0")
    assert TEMPLATE.conditions["HasReservedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, ""]}]
    }


def test_every_function_role_may_use_the_key_when_given() -> None:
    policy = TEMPLATE.resources["KmsKeyUsePolicy"]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy" and policy["Condition"] == "HasKmsKey"
    roles = [role["Ref"] for role in policy["Properties"]["Roles"]]
    assert sorted(roles) == sorted(f"{logical_id}Role" for logical_id, _ in FUNCTIONS)
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        assert statement["Resource"] == {"Ref": "KmsKeyArn"}
        assert "kms:Decrypt" in statement["Action"]


def test_state_tables_have_point_in_time_recovery_and_token_caches_do_not() -> None:
    def pitr(table: dict) -> bool:
        spec = table["Properties"].get("PointInTimeRecoverySpecification") or {}
        return spec.get("PointInTimeRecoveryEnabled") is True

    backed_up = {logical_id for logical_id, table in TABLES if pitr(table)}
    assert {"SessionsTable", "IdempotencyTable", "PersonThrottleTable"} <= backed_up
    # every other table is a deliberate exception, skipped in checkov with its reason
    assert {logical_id for logical_id, _ in TABLES} - backed_up == set(NOT_BACKED_UP)
    for logical_id, check in NOT_BACKED_UP.items():
        assert "PointInTimeRecoverySpecification" not in TEMPLATE.resources[logical_id]["Properties"]
        assert checkov_skips(TEMPLATE.resources[logical_id]).get(check)


@pytest.mark.parametrize("logical_id", sorted(TEMPLATE.resources))
def test_every_checkov_skip_says_why(logical_id: str) -> None:
    for check, comment in checkov_skips(TEMPLATE.resources[logical_id]).items():
        assert re.fullmatch(r"CKV2?_AWS_\d+", check), check
        assert len(comment) >= 20, f"{logical_id} skips {check} without a reason"


def test_the_checkov_configuration_says_why_once_for_each_global_skip() -> None:
    lines = CHECKOV_CONFIG.read_text().splitlines()
    assert set(GLOBAL_SKIPS) == {"CKV_AWS_116", "CKV_AWS_117"}
    for check in GLOBAL_SKIPS:
        at = lines.index(f"  - {check}")
        reason = []
        while lines[at - 1 - len(reason)].lstrip().startswith("#"):
            reason.append(lines[at - 1 - len(reason)])
        assert check in reason[-1] and len(" ".join(reason)) >= 80, f"{check} is skipped without a reason"


@pytest.mark.parametrize("logical_id", sorted(TEMPLATE.resources))
def test_no_resource_repeats_a_global_skip_inline(logical_id: str) -> None:
    assert not set(checkov_skips(TEMPLATE.resources[logical_id])) & set(GLOBAL_SKIPS)


def test_every_event_source_mapping_sends_its_failures_to_a_dead_letter_queue() -> None:
    """The reason CKV_AWS_116 is skipped for all: what a mapping cannot deliver is kept, not lost."""
    queues = dict(TEMPLATE.of_type("AWS::SQS::Queue"))
    for logical_id, function in FUNCTIONS:
        for event in (function["Properties"].get("Events") or {}).values():
            props = event["Properties"]
            if event["Type"] == "DynamoDB":
                assert props["DestinationConfig"]["OnFailure"]["Type"] == "SQS", logical_id
            elif event["Type"] == "SQS":
                queue = queues[props["Queue"]["Fn::GetAtt"][0]]
                assert "deadLetterTargetArn" in queue["Properties"]["RedrivePolicy"], logical_id
            else:
                assert event["Type"] in {"Api", "Schedule"}, f"{logical_id}: {event['Type']} needs a reason"
