"""Read ``template.yaml`` and resolve the intrinsics it uses, exactly as far as it uses them.

aws-sam-translator gives the YAML loader and ``Globals`` merging (SAM CLI's code); its full transform
would want S3 locations and expand each function into resources to fold back. ``!Ref X`` asks a
*provisioner* for ``X``, which may create it in moto: only what is referenced is resolved, in
dependency order, with cycle detection. tests/local/test_local_cfn.py fails when the template needs more.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from samtranslator.plugins.globals.globals import Globals
from samtranslator.yaml_helper import yaml_parse

from local.emulator.lambda_runtime import FunctionConfig

# What the resolver supports: the test of the same name compares these with what template.yaml uses.
INTRINSICS = frozenset({"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::If", "Fn::Split"})
CONDITION_FUNCTIONS = frozenset({"Fn::Equals", "Fn::Not", "Fn::And", "Condition"})
PSEUDO_PARAMETERS = frozenset({"AWS::NoValue", "AWS::Region", "AWS::AccountId"})
_SUB = re.compile(r"\$\{([^}]*)\}")


class CfnError(Exception):
    """The template cannot be read or resolved locally."""


NO_VALUE: Any = object()  # what !Ref AWS::NoValue resolves to: the key or item is dropped


@dataclass(frozen=True)
class Physical:
    """What ``Ref`` and ``Fn::GetAtt`` of a resource return."""

    ref: Any
    attrs: Mapping[str, Any] = field(default_factory=dict)


def env_name(parameter: str) -> str:
    """``DokobitBaseUrl`` -> ``DOKOBIT_BASE_URL``; ``ApiURLPrefix`` -> ``API_URL_PREFIX``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", parameter).upper()


class Template:
    """A parsed SAM template with ``Globals`` merged into its resources."""

    def __init__(self, document: Any, path: Path) -> None:
        if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
            raise CfnError(f"{path}: not a CloudFormation template (no Resources)")
        self.path, self.root, self.document = path, path.parent, document
        self.parameters: dict[str, dict[str, Any]] = dict(document.get("Parameters") or {})
        self.conditions: dict[str, Any] = dict(document.get("Conditions") or {})
        try:
            merger = Globals(document)
        except Exception as exc:  # samtranslator raises its own exception types
            raise CfnError(f"{path}: invalid Globals section: {exc}") from exc
        self.resources: dict[str, dict[str, Any]] = {}
        for logical_id, resource in document["Resources"].items():
            properties = dict(resource.get("Properties") or {})
            if resource["Type"].startswith("AWS::Serverless::"):
                properties = merger.merge(
                    resource["Type"], properties, logical_id, resource.get("IgnoreGlobals")
                )
            self.resources[logical_id] = {**resource, "Properties": properties}

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Template:
        file = Path(path).resolve()
        try:
            return cls(yaml_parse(file.read_text(encoding="utf-8")), file)
        except (OSError, yaml.YAMLError) as exc:
            raise CfnError(f"cannot read {file}: {exc}") from exc

    def of_type(self, *types: str) -> list[tuple[str, dict[str, Any]]]:
        return [(lid, res) for lid, res in self.resources.items() if res["Type"] in types]

    def parameter_values(
        self, environ: Mapping[str, str], overrides: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Each parameter from ``ENV_NAME`` if set, else ``overrides``, else its ``Default``.

        ``AllowedPattern`` is not enforced: locally a base URL is plain http on loopback.
        """
        overrides = overrides or {}
        values: dict[str, str] = {}
        for name, spec in self.parameters.items():
            variable = env_name(name)
            value = environ.get(variable, overrides.get(name, spec.get("Default")))
            if value is None:
                raise CfnError(f"template parameter {name} has no value: set {variable}")
            values[name] = value = str(value)
            where = f"parameter {name} ({variable})"
            allowed = [str(a) for a in spec.get("AllowedValues") or []]
            if allowed and value not in allowed:
                raise CfnError(f"{where} must be one of {', '.join(allowed)}")
            if spec.get("Type") == "Number":
                try:
                    number = float(value)
                except ValueError:
                    raise CfnError(f"{where} must be a number") from None
                if number < float(spec.get("MinValue", number)):
                    raise CfnError(f"{where} must be >= {spec['MinValue']}")
                if number > float(spec.get("MaxValue", number)):
                    raise CfnError(f"{where} must be <= {spec['MaxValue']}")
        return values


# Per resource type: the property naming it, the longest generated name, what Ref gives, and the GetAtt
# attributes; {n}ame, {r}egion, {a}ccount, {h}ash of the name and, in attributes, {ref} are filled in.
_PHYSICAL: dict[str, tuple[str, int, str, dict[str, str]]] = {
    "AWS::CloudWatch::Alarm": ("AlarmName", 255, "{n}", {"Arn": "arn:aws:cloudwatch:{r}:{a}:alarm:{n}"}),
    "AWS::CloudWatch::Dashboard": ("DashboardName", 255, "{n}", {}),
    "AWS::DynamoDB::Table": (
        "TableName",
        255,
        "{n}",
        {
            "Arn": "arn:aws:dynamodb:{r}:{a}:table/{n}",
            "StreamArn": "arn:aws:dynamodb:{r}:{a}:table/{n}/stream/1970-01-01T00:00:00.000",
        },
    ),
    "AWS::KMS::Key": ("", 0, "{h:.8}-0000-4000-8000-{h:.12}", {"Arn": "arn:aws:kms:{r}:{a}:key/{ref}"}),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName", 64, "arn:aws:iam::{a}:policy/{n}", {}),
    "AWS::Logs::LogGroup": ("LogGroupName", 512, "{n}", {"Arn": "arn:aws:logs:{r}:{a}:log-group:{n}:*"}),
    "AWS::SQS::Queue": (
        "QueueName",
        80,
        "https://sqs.{r}.amazonaws.com/{a}/{n}",
        {"Arn": "arn:aws:sqs:{r}:{a}:{n}", "QueueName": "{n}"},
    ),
    "AWS::SecretsManager::Secret": ("Name", 64, "arn:aws:secretsmanager:{r}:{a}:secret:{n}-{h:.6}", {}),
    "AWS::Serverless::Api": ("Name", 64, "{h:.10}", {}),
    # The web ACL guards the deployed stage only; locally these are names, nothing is created.
    "AWS::WAFv2::IPSet": (
        "Name",
        128,
        "{n}|{h:.8}|REGIONAL",
        {"Arn": "arn:aws:wafv2:{r}:{a}:regional/ipset/{n}"},
    ),
    "AWS::WAFv2::LoggingConfiguration": ("ResourceArn", 2048, "{n}", {}),
    "AWS::WAFv2::WebACL": (
        "Name",
        128,
        "{n}|{h:.8}|REGIONAL",
        {"Arn": "arn:aws:wafv2:{r}:{a}:regional/webacl/{n}"},
    ),
    "AWS::WAFv2::WebACLAssociation": ("ResourceArn", 2048, "{n}", {}),
    "AWS::Serverless::Function": ("FunctionName", 64, "{n}", {"Arn": "arn:aws:lambda:{r}:{a}:function:{n}"}),
    "AWS::Serverless::LayerVersion": ("LayerName", 64, "arn:aws:lambda:{r}:{a}:layer:{n}:1", {}),
    "AWS::Serverless::StateMachine": (
        "Name",
        80,
        "arn:aws:states:{r}:{a}:stateMachine:{n}",
        {"Arn": "{ref}", "Name": "{n}"},
    ),
}
RESOURCE_TYPES = frozenset(_PHYSICAL)


def default_physical(resolver: Resolver, logical_id: str, resource: dict[str, Any]) -> Physical:
    """Names and ARNs as CloudFormation would give them, without creating anything."""
    if resource["Type"] not in _PHYSICAL:
        raise CfnError(f"{logical_id}: resource type {resource['Type']} is not supported locally")
    key, limit, ref, attrs = _PHYSICAL[resource["Type"]]
    props = resource.get("Properties") or {}
    name = (
        str(resolver.resolve(props[key])) if key in props else f"{resolver.stack_name}-{logical_id}"[:limit]
    )
    fields = {"n": name, "r": resolver.region, "a": resolver.account_id}
    fields["ref"] = ref.format(**fields, h=hashlib.sha256(name.encode()).hexdigest())
    attributes = {attr: value.format(**fields) for attr, value in attrs.items()}
    if "StageName" in props:  # an API's GetAtt .Stage is its stage's name
        attributes["Stage"] = str(resolver.resolve(props["StageName"]))
    return Physical(fields["ref"], attributes)


class Resolver:
    """Resolves intrinsics against parameter values and lazily provisioned resources."""

    def __init__(
        self,
        template: Template,
        parameters: Mapping[str, str],
        *,
        region: str,
        account_id: str,
        stack_name: str,
        provision: Callable[[Resolver, str, dict[str, Any]], Physical] | None = None,
    ) -> None:
        self.template = template
        self.parameters = dict(parameters)
        self.region, self.account_id, self.stack_name = region, account_id, stack_name
        self._provision = provision or default_physical
        self._physical: dict[str, Physical] = {}
        self._pending: list[str] = []

    def physical(self, logical_id: str) -> Physical:
        if logical_id in self._physical:
            return self._physical[logical_id]
        if logical_id not in self.template.resources:
            raise CfnError(f"unknown resource or parameter: {logical_id}")
        if logical_id in self._pending:
            cycle = " -> ".join([*self._pending[self._pending.index(logical_id) :], logical_id])
            raise CfnError(f"circular reference: {cycle}")
        resource = self.template.resources[logical_id]
        if "Condition" in resource and not self.condition(resource["Condition"]):
            # CloudFormation does not create it, so nothing may use it (cfn-lint checks that).
            result = Physical("")
        else:
            self._pending.append(logical_id)
            try:
                result = self._provision(self, logical_id, resource)
            finally:
                self._pending.pop()
        self._physical[logical_id] = result
        return result

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name == "AWS::AccountId":
            return self.account_id
        return self.region if name == "AWS::Region" else self.physical(name).ref

    def get_att(self, logical_id: str, attribute: str) -> Any:
        attrs = self.physical(logical_id).attrs
        if attribute not in attrs:
            rtype = self.template.resources[logical_id]["Type"]
            raise CfnError(f"Fn::GetAtt {logical_id}.{attribute}: attribute not known locally for {rtype}")
        return attrs[attribute]

    def condition(self, name: str) -> bool:
        if name not in self.template.conditions:
            raise CfnError(f"unknown condition: {name}")
        return self._truth(self.template.conditions[name])

    def _truth(self, expression: Any) -> bool:
        if isinstance(expression, dict) and "Fn::Equals" in expression:
            left, right = (self.resolve(item) for item in expression["Fn::Equals"])
            return str(left) == str(right)
        if isinstance(expression, dict) and "Fn::Not" in expression:
            return not self._truth(expression["Fn::Not"][0])
        if isinstance(expression, dict) and "Fn::And" in expression:
            return all(self._truth(item) for item in expression["Fn::And"])
        if isinstance(expression, dict) and "Condition" in expression:
            return self.condition(expression["Condition"])
        raise CfnError(f"unsupported condition expression: {expression!r}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in map(self.resolve, value) if r is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self.get_att(*arg)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Split":
                delimiter, text = arg
                return str(self.resolve(text)).split(delimiter)
            if key == "Fn::If":
                condition, when_true, when_false = arg
                return self.resolve(when_true if self.condition(condition) else when_false)
            if key.startswith("Fn::"):
                raise CfnError(f"{key} is not supported locally")
        return {k: r for k, r in ((k, self.resolve(v)) for k, v in value.items()) if r is not NO_VALUE}

    def _sub(self, text: Any) -> str:
        if not isinstance(text, str):
            raise CfnError(f"only the string form of Fn::Sub is supported locally: {text!r}")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            dotted = "." in name and name not in self.parameters
            value = self.get_att(*name.split(".", 1)) if dotted else self.ref(name)
            if not isinstance(value, str):
                raise CfnError(f"Fn::Sub: ${{{name}}} is not a string")
            return value

        return _SUB.sub(replace, text)


def function_config(resolver: Resolver, logical_id: str) -> FunctionConfig:
    """Resolve a function's name, code location, handler, limits, environment and layers."""
    template = resolver.template
    resource = template.resources[logical_id]
    if resource["Type"] != "AWS::Serverless::Function":
        raise CfnError(f"{logical_id}: only AWS::Serverless::Function runs locally")
    skip = ("Events", "Policies")  # the front door's and IAM's business, not the function's
    props = {k: resolver.resolve(v) for k, v in resource["Properties"].items() if k not in skip}
    if not str(props.get("Runtime", "")).startswith("python"):
        raise CfnError(f"{logical_id}: runtime {props.get('Runtime')!r} cannot run locally (python only)")
    # Lambda puts /opt/python on sys.path, where `sam build` copies a BuildMethod layer's source.
    layers = [x["Ref"] for x in resource["Properties"].get("Layers") or [] if isinstance(x, dict)]
    python_path = tuple(
        (template.root / template.resources[x]["Properties"]["ContentUri"]).resolve() for x in layers
    )
    name = str(props.get("FunctionName") or f"{resolver.stack_name}-{logical_id}"[:64])
    return FunctionConfig(
        logical_id=logical_id,
        name=name,
        arn=f"arn:aws:lambda:{resolver.region}:{resolver.account_id}:function:{name}",
        code_dir=(template.root / props.get("CodeUri", ".")).resolve(),
        handler=str(props.get("Handler", "")),
        runtime=str(props["Runtime"]),
        timeout=int(props.get("Timeout", 3)),
        memory_size=int(props.get("MemorySize", 128)),
        environment={k: str(v) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()},
        python_path=python_path,
        log_group=str((props.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{name}"),
        label=name.removeprefix(f"{resolver.stack_name}-"),  # log prefix: what names the function here
    )


@dataclass(frozen=True)
class StateMachineConfig:
    logical_id: str
    name: str
    type: str
    definition: str


def state_machine_config(resolver: Resolver, logical_id: str) -> StateMachineConfig:
    """Name, type and the ``DefinitionUri`` file with ``DefinitionSubstitutions`` applied."""
    props = resolver.template.resources[logical_id]["Properties"]
    uri = props.get("DefinitionUri")
    if not isinstance(uri, str):
        raise CfnError(f"{logical_id}: only a local DefinitionUri file runs locally")
    try:
        text = (resolver.template.root / uri).read_text(encoding="utf-8")
    except OSError as exc:
        raise CfnError(f"{logical_id}: cannot read DefinitionUri {uri}: {exc}") from exc
    substitutions = resolver.resolve(props.get("DefinitionSubstitutions") or {})

    def replace(match: re.Match[str]) -> str:
        value = substitutions.get(match.group(1), match.group(0))
        return value if isinstance(value, str) else json.dumps(value)

    definition = _SUB.sub(replace, text)
    name = props.get("Name")
    return StateMachineConfig(
        logical_id=logical_id,
        name=str(resolver.resolve(name) if name else f"{resolver.stack_name}-{logical_id}"[:80]),
        type=str(resolver.resolve(props.get("Type", "STANDARD"))),
        definition=definition,
    )
