"""The integration stack is provisioned as `make run` provisions it (local.emulator.provision): every table
with its stream and TTL, every queue with its redrive policy, every KMS key (the OIDC signing keys), every
secret, function and state machine."""

from __future__ import annotations

import json

import boto3

from tests.integration.conftest import REGION, Deployed


def test_every_table_has_the_keys_stream_and_ttl_the_template_gives_it(deployed: Deployed) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    template = deployed.resolver.template
    for logical_id, table in template.of_type("AWS::DynamoDB::Table"):
        props = table["Properties"]
        name = deployed.resolver.physical(logical_id).ref
        described = dynamodb.describe_table(TableName=name)["Table"]
        assert described["KeySchema"] == props["KeySchema"], logical_id
        if "StreamSpecification" in props:
            assert described["StreamSpecification"]["StreamEnabled"] is True, logical_id
            assert deployed.resolver.physical(logical_id).attrs["StreamArn"] == described["LatestStreamArn"]
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if (props.get("TimeToLiveSpecification") or {}).get("Enabled"):
            assert ttl["TimeToLiveStatus"] == "ENABLED", logical_id
            assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"]


def test_every_queue_exists_with_its_redrive_policy(deployed: Deployed) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queues = deployed.resolver.template.of_type("AWS::SQS::Queue")
    assert queues
    for logical_id, queue in queues:
        url = deployed.resolver.physical(logical_id).ref
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        if "RedrivePolicy" in queue["Properties"]:
            policy = json.loads(attributes["RedrivePolicy"])
            target = queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            assert policy["deadLetterTargetArn"] == deployed.resolver.physical(target).attrs["Arn"]


def test_every_secret_function_and_state_machine_exists(deployed: Deployed) -> None:
    template = deployed.resolver.template
    secrets = boto3.client("secretsmanager", region_name=REGION)
    for logical_id, _ in template.of_type("AWS::SecretsManager::Secret"):
        assert json.loads(
            secrets.get_secret_value(SecretId=deployed.resolver.physical(logical_id).ref)["SecretString"]
        )
    functions = {
        f["FunctionName"] for f in boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
    }
    assert functions == set(deployed.handlers)
    assert len(functions) == len(template.of_type("AWS::Serverless::Function"))
    machines = deployed.sfn.list_state_machines()["stateMachines"]
    assert len(machines) == len(template.of_type("AWS::Serverless::StateMachine"))


def test_every_kms_key_exists_with_its_spec_and_signs_for_the_functions_that_name_it(
    deployed: Deployed,
) -> None:
    kms = boto3.client("kms", region_name=REGION)
    keys = deployed.resolver.template.of_type("AWS::KMS::Key")
    assert keys
    arns = set()
    for logical_id, key in keys:
        physical = deployed.resolver.physical(logical_id)
        described = kms.describe_key(KeyId=physical.ref)["KeyMetadata"]
        assert described["Arn"] == physical.attrs["Arn"], logical_id
        assert described["KeySpec"] == key["Properties"]["KeySpec"], logical_id
        assert described["KeyUsage"] == key["Properties"]["KeyUsage"], logical_id
        signed = kms.sign(
            KeyId=physical.attrs["Arn"],
            Message=b"x",
            MessageType="RAW",
            SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
        )
        assert signed["Signature"], logical_id
        arns.add(physical.attrs["Arn"])
    functions = boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
    named = {
        value
        for function in functions
        for name, value in function.get("Environment", {}).get("Variables", {}).items()
        if name in ("OIDC_SIGNING_KEY_ID", "OIDC_NEXT_SIGNING_KEY_ID")
    }
    assert named == arns  # the OIDC functions sign and publish with exactly the keys provisioned
