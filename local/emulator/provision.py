"""The template's resources created in moto: the one provisioning path of ``make run``
(:mod:`local.emulator.stack`, moto served over HTTP) and of the integration tests (moto in-process,
``mock_aws``). Tables get their keys, indexes, stream and TTL; queues their redrive policy; secrets their
value; KMS keys (the OIDC signing keys) their spec and usage; functions and state machines their
configuration. What has no local counterpart (the layer, log groups, the API) keeps its default physical
id."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from local.emulator import cfn
from local.emulator.cfn import Physical, Resolver, Template
from local.emulator.lambda_runtime import FunctionConfig

# moto wants code; ours runs from CodeUri (the stack's workers, or the tests' in-process handlers).
EMPTY_ZIP = b"PK\x05\x06" + bytes(18)
# The clients the resources are created with, one per service.
SERVICES = ("dynamodb", "dynamodbstreams", "sqs", "secretsmanager", "lambda", "stepfunctions", "iam", "kms")
_TABLE_KEYS = (
    "KeySchema",
    "AttributeDefinitions",
    "BillingMode",
    "StreamSpecification",
    "GlobalSecondaryIndexes",
)
_QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "RedrivePolicy")
# Values below a parameter's MinValue that only a local run may use (the test suites and the bench reuse
# the sandboxes' few test persons): PERSON_START_LIMIT=0 turns the person limit off locally, never deployed.
LOCAL_ONLY_VALUES = {"PERSON_START_LIMIT": "0"}

# A secret's value, given its name and its resolved GenerateSecretString (None when it has none).
SecretValue = Callable[[str, "dict[str, Any] | None"], "dict[str, str]"]


def generated_secret(generate: Mapping[str, Any], value: str) -> dict[str, str]:
    """What GenerateSecretString makes: its template, with the generated key set to `value`."""
    secret = json.loads(generate.get("SecretStringTemplate") or "{}")
    secret[generate["GenerateStringKey"]] = value
    return secret


def local_parameters(
    template: Template, environ: Mapping[str, str], overrides: Mapping[str, str] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """The template's parameter values (:meth:`~local.emulator.cfn.Template.parameter_values`), and apart
    the :data:`LOCAL_ONLY_VALUES` that `environ` asks for: no parameter may take those, so they are left out
    of the parameters' checks and go straight into every function's environment (``local_environment``
    of :func:`provision`)."""
    local_only = {key: value for key, value in LOCAL_ONLY_VALUES.items() if environ.get(key) == value}
    checked = {key: value for key, value in environ.items() if key not in local_only}
    return template.parameter_values(checked, overrides), local_only


@dataclass
class Provisioner:
    """A :class:`~local.emulator.cfn.Resolver`'s provisioner: creates each resource the first time it is
    referenced. Each function's environment gets `local_environment` (what only a local run sets, over the
    template's values); `on_function` then sees (and may extend) the function before moto registers it."""

    clients: Mapping[str, Any]
    role_arn: str
    secret_value: SecretValue
    local_environment: Mapping[str, str] = field(default_factory=dict)
    on_function: Callable[[FunctionConfig], FunctionConfig] = lambda function: function
    hash_keys: dict[str, str] = field(default_factory=dict)  # table -> its partition key attribute
    functions: dict[str, FunctionConfig] = field(default_factory=dict)  # function name -> its configuration

    def __call__(self, resolver: Resolver, logical_id: str, resource: dict[str, Any]) -> Physical:
        kind, physical = resource["Type"], cfn.default_physical(resolver, logical_id, resource)
        if kind == "AWS::DynamoDB::Table":
            return self._table(resolver, resource, physical)
        if kind == "AWS::SQS::Queue":
            props = resolver.resolve(resource["Properties"])
            attributes = {
                key: json.dumps(props[key]) if isinstance(props[key], dict) else str(props[key])
                for key in _QUEUE_ATTRIBUTES
                if key in props
            }
            name = physical.ref.rsplit("/", 1)[-1]
            url = self.clients["sqs"].create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            return Physical(url, physical.attrs)
        if kind == "AWS::SecretsManager::Secret":
            props = resolver.resolve(resource["Properties"])
            value = self.secret_value(str(props["Name"]), props.get("GenerateSecretString"))
            created = self.clients["secretsmanager"].create_secret(
                Name=props["Name"], SecretString=json.dumps(value)
            )
            return Physical(created["ARN"], {"Id": created["ARN"]})
        if kind == "AWS::KMS::Key":  # the OIDC signing keys: moto's KMS signs as KMS does
            props = resolver.resolve(resource["Properties"])
            key = self.clients["kms"].create_key(
                Description=str(props.get("Description", "")),
                KeySpec=str(props.get("KeySpec", "SYMMETRIC_DEFAULT")),
                KeyUsage=str(props.get("KeyUsage", "ENCRYPT_DECRYPT")),
            )["KeyMetadata"]
            return Physical(key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]})
        if kind == "AWS::Serverless::Function":
            return self._function(resolver, logical_id)
        if kind == "AWS::Serverless::StateMachine":
            machine = cfn.state_machine_config(resolver, logical_id)
            arn = self.clients["stepfunctions"].create_state_machine(
                name=machine.name, definition=machine.definition, roleArn=self.role_arn, type=machine.type
            )["stateMachineArn"]
            return Physical(arn, {"Arn": arn, "Name": machine.name})
        return physical

    def _table(self, resolver: Resolver, resource: dict[str, Any], physical: Physical) -> Physical:
        props = resolver.resolve(resource["Properties"])
        keys = {k: props[k] for k in _TABLE_KEYS if k in props}
        self.hash_keys[physical.ref] = next(
            k["AttributeName"] for k in keys["KeySchema"] if k["KeyType"] == "HASH"
        )
        if "StreamSpecification" in keys:
            keys["StreamSpecification"] = {**keys["StreamSpecification"], "StreamEnabled": True}
        table = self.clients["dynamodb"].create_table(TableName=physical.ref, **keys)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled"):
            self.clients["dynamodb"].update_time_to_live(
                TableName=physical.ref,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        return Physical(
            physical.ref, {"Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn", "")}
        )

    def _function(self, resolver: Resolver, logical_id: str) -> Physical:
        function = cfn.function_config(resolver, logical_id)
        function = replace(function, environment={**function.environment, **self.local_environment})
        function = self.on_function(function)
        self.functions[function.name] = function
        answer = self.clients["lambda"].create_function(
            FunctionName=function.name,
            Runtime=function.runtime,
            Role=self.role_arn,
            Handler=function.handler,
            Code={"ZipFile": EMPTY_ZIP},
            Timeout=function.timeout,
            MemorySize=function.memory_size,
            Environment={"Variables": function.environment},
        )
        return Physical(function.name, {"Arn": answer["FunctionArn"]})


def provision(
    template: Template,
    parameters: Mapping[str, str],
    clients: Mapping[str, Any],
    *,
    stack_name: str,
    region: str,
    account_id: str,
    secret_value: SecretValue,
    local_environment: Mapping[str, str] | None = None,
    on_function: Callable[[FunctionConfig], FunctionConfig] | None = None,
) -> tuple[Resolver, Provisioner]:
    """Create every resource of `template` through `clients`; the resolver answers Ref and GetAtt after."""
    role = clients["iam"].create_role(RoleName=f"{stack_name}-local-role", AssumeRolePolicyDocument="{}")
    provisioner = Provisioner(clients, role["Role"]["Arn"], secret_value, dict(local_environment or {}))
    if on_function is not None:
        provisioner = replace(provisioner, on_function=on_function)
    resolver = Resolver(
        template,
        dict(parameters),
        region=region,
        account_id=account_id,
        stack_name=stack_name,
        provision=provisioner,
    )
    for logical_id in template.resources:
        resolver.physical(logical_id)
    return resolver, provisioner
