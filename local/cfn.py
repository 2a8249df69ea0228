"""Read ``template.yaml`` and resolve its intrinsic functions for the local stack.

Why a small resolver of our own rather than running aws-sam-translator's full transform:
the translator needs S3 locations for ``CodeUri``/``DefinitionUri`` (it does not read local
paths), leaves ``Ref``/``GetAtt`` of parameters and resources unresolved, and turns one
``AWS::Serverless::Function`` into a function, a role, permissions and API resources that a
local stack would then have to fold back together. What we do take from it is the one part
whose rules are subtle and documented: ``Globals`` merging (``samtranslator``'s ``Globals``,
the exact code SAM CLI runs), so a function here gets the same properties as when deployed.

Physical names and ARNs are produced lazily: resolving ``!Ref X`` asks a *provisioner* for
``X``, which may create it (in moto) and return its real name/ARN. Only what is actually
referenced is resolved, in dependency order, with cycle detection.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml
from samtranslator.plugins.globals.globals import Globals

from local.lambda_runtime import FunctionConfig

__all__ = [
    "NO_VALUE",
    "CfnError",
    "Physical",
    "Provisioner",
    "Resolver",
    "StateMachineConfig",
    "Template",
    "default_physical",
    "env_name",
    "function_config",
    "load_yaml",
    "state_machine_config",
    "substitute_definition",
]

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")


class CfnError(Exception):
    """The template cannot be read or resolved locally."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()


@dataclass(frozen=True)
class Physical:
    """What ``Ref`` and ``Fn::GetAtt`` of a resource return."""

    ref: Any
    attrs: Mapping[str, Any] = field(default_factory=dict)


Provisioner = Callable[["Resolver", str, dict[str, Any]], Physical]


# --- YAML with CloudFormation short-form tags -------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that maps ``!Tag`` to long-form intrinsics and keeps dates as strings."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    tag = tag_suffix
    key = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {key: value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)
# CloudFormation treats unquoted 2012-10-17 as a string, not a date.
_CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


# --- the template -----------------------------------------------------------------------------


def env_name(parameter: str) -> str:
    """``DokobitBaseUrl`` -> ``DOKOBIT_BASE_URL``; ``ApiURLPrefix`` -> ``API_URL_PREFIX``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", parameter).upper()


class Template:
    """A parsed SAM/CloudFormation template with ``Globals`` merged into its resources."""

    def __init__(self, document: dict[str, Any], path: Path) -> None:
        if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
            raise CfnError(f"{path}: not a CloudFormation template (no Resources)")
        self.path = path
        self.root = path.parent
        self.document = document
        self.parameters: dict[str, dict[str, Any]] = dict(document.get("Parameters") or {})
        self.conditions: dict[str, Any] = dict(document.get("Conditions") or {})
        self.mappings: dict[str, Any] = dict(document.get("Mappings") or {})
        self.globals: dict[str, Any] = dict(document.get("Globals") or {})
        try:
            merger = Globals(document)
        except Exception as exc:  # samtranslator raises its own exception types
            raise CfnError(f"{path}: invalid Globals section: {exc}") from exc
        self.resources: dict[str, dict[str, Any]] = {}
        for logical_id, resource in document["Resources"].items():
            if not isinstance(resource, dict) or "Type" not in resource:
                raise CfnError(f"{path}: resource {logical_id} has no Type")
            merged = dict(resource)
            properties = dict(resource.get("Properties") or {})
            if str(resource["Type"]).startswith("AWS::Serverless::"):
                properties = merger.merge(
                    resource["Type"], properties, logical_id, resource.get("IgnoreGlobals")
                )
            merged["Properties"] = properties
            self.resources[logical_id] = merged

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Template:
        file = Path(path).resolve()
        try:
            document = load_yaml(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise CfnError(f"cannot read {file}: {exc}") from exc
        return cls(document, file)

    def of_type(self, *types: str) -> list[tuple[str, dict[str, Any]]]:
        return [(lid, res) for lid, res in self.resources.items() if res["Type"] in types]

    def parameter_values(
        self, environ: Mapping[str, str], overrides: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Each parameter from ``ENV_NAME`` if set, else ``overrides``, else its ``Default``.

        ``AllowedPattern`` is deliberately not enforced: locally a base URL may well be plain
        http on loopback, which a production pattern (``^https://``) refuses.
        """
        overrides = overrides or {}
        values: dict[str, str] = {}
        for name, spec in self.parameters.items():
            variable = env_name(name)
            if variable in environ:
                value = environ[variable]
            elif name in overrides:
                value = overrides[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise CfnError(f"template parameter {name} has no value: set {variable}")
            value = str(value)
            self._check_parameter(name, spec, value, variable)
            values[name] = value
        return values

    @staticmethod
    def _check_parameter(name: str, spec: Mapping[str, Any], value: str, variable: str) -> None:
        allowed = spec.get("AllowedValues")
        if allowed and value not in [str(a) for a in allowed]:
            raise CfnError(f"parameter {name} ({variable}) must be one of {', '.join(map(str, allowed))}")
        if spec.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                raise CfnError(f"parameter {name} ({variable}) must be a number") from None
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise CfnError(f"parameter {name} ({variable}) must be >= {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise CfnError(f"parameter {name} ({variable}) must be <= {spec['MaxValue']}")


# --- physical names that need no AWS call ----------------------------------------------------------


def _short_hash(*parts: str, length: int = 12) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _generated_name(resolver: Resolver, logical_id: str, limit: int = 64) -> str:
    return f"{resolver.stack_name}-{logical_id}"[:limit]


def default_physical(resolver: Resolver, logical_id: str, resource: dict[str, Any]) -> Physical:
    """Deterministic names and ARNs, as CloudFormation would produce them, without creating anything."""
    rtype = resource["Type"]
    props = resource.get("Properties") or {}
    region, account = resolver.region, resolver.account_id

    def prop(key: str, default: str) -> str:
        return str(resolver.resolve(props[key])) if key in props else default

    if rtype in FUNCTION_TYPES:
        name = prop("FunctionName", _generated_name(resolver, logical_id))
        return Physical(name, {"Arn": f"arn:aws:lambda:{region}:{account}:function:{name}"})
    if rtype == "AWS::DynamoDB::Table":
        name = prop("TableName", _generated_name(resolver, logical_id, 255))
        arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        return Physical(name, {"Arn": arn, "StreamArn": f"{arn}/stream/local"})
    if rtype == "AWS::SecretsManager::Secret":
        name = prop("Name", _generated_name(resolver, logical_id))
        arn = f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-{_short_hash(name, length=6)}"
        return Physical(arn, {"Id": arn})
    if rtype in STATE_MACHINE_TYPES:
        name = prop(
            "Name" if "Name" in props else "StateMachineName", f"{logical_id}-{_short_hash(logical_id)}"
        )
        arn = f"arn:aws:states:{region}:{account}:stateMachine:{name}"
        return Physical(arn, {"Arn": arn, "Name": name})
    if rtype == "AWS::Logs::LogGroup":
        name = prop("LogGroupName", _generated_name(resolver, logical_id, 512))
        return Physical(name, {"Arn": f"arn:aws:logs:{region}:{account}:log-group:{name}:*"})
    if rtype in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
        name = prop("LayerName", _generated_name(resolver, logical_id))
        return Physical(f"arn:aws:lambda:{region}:{account}:layer:{name}:1")
    if rtype in ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi"):
        api_id = _short_hash(resolver.stack_name, logical_id, length=10)
        return Physical(api_id, {"RootResourceId": _short_hash(api_id, length=10)})
    if rtype == "AWS::IAM::Role":
        name = prop("RoleName", _generated_name(resolver, logical_id))
        return Physical(name, {"Arn": f"arn:aws:iam::{account}:role/{name}", "RoleId": _short_hash(name)})
    if rtype == "AWS::SQS::Queue":
        name = prop("QueueName", _generated_name(resolver, logical_id, 80))
        return Physical(
            f"https://sqs.{region}.amazonaws.com/{account}/{name}",
            {"Arn": f"arn:aws:sqs:{region}:{account}:{name}", "QueueName": name},
        )
    name = _generated_name(resolver, logical_id)
    return Physical(name, {"Arn": f"arn:aws:local:{region}:{account}:{logical_id}"})


# --- intrinsic functions ----------------------------------------------------------------------

PSEUDO_PARAMETERS = (
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
)

_SUB_RE = re.compile(r"\$\{([^}]*)\}")


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
        provision: Provisioner | None = None,
    ) -> None:
        self.template = template
        self.parameters = dict(parameters)
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self._provision = provision or default_physical
        self._physical: dict[str, Physical] = {}
        self._pending: list[str] = []
        self._conditions: dict[str, bool] = {}

    # resources

    def physical(self, logical_id: str) -> Physical:
        if logical_id in self._physical:
            return self._physical[logical_id]
        if logical_id not in self.template.resources:
            raise CfnError(f"unknown resource or parameter: {logical_id}")
        if logical_id in self._pending:
            cycle = " -> ".join([*self._pending[self._pending.index(logical_id) :], logical_id])
            raise CfnError(f"circular reference: {cycle}")
        resource = self.template.resources[logical_id]
        if "Condition" in resource and not self.condition(str(resource["Condition"])):
            # CloudFormation does not create it; nothing may use it then (cfn-lint checks that).
            self._physical[logical_id] = Physical("", {})
            return self._physical[logical_id]
        self._pending.append(logical_id)
        try:
            result = self._provision(self, logical_id, resource)
        finally:
            self._pending.pop()
        self._physical[logical_id] = result
        return result

    def is_provisioned(self, logical_id: str) -> bool:
        return logical_id in self._physical

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            spec = self.template.parameters.get(name, {})
            value = self.parameters[name]
            ptype = str(spec.get("Type", "String"))
            if ptype == "CommaDelimitedList" or ptype.startswith("List<"):
                return [item.strip() for item in value.split(",")] if value else []
            return value
        if name in PSEUDO_PARAMETERS:
            return self._pseudo(name)
        return self.physical(name).ref

    def get_att(self, logical_id: str, attribute: str) -> Any:
        attrs = self.physical(logical_id).attrs
        if attribute not in attrs:
            rtype = self.template.resources[logical_id]["Type"]
            raise CfnError(f"Fn::GetAtt {logical_id}.{attribute}: attribute not known locally for {rtype}")
        return attrs[attribute]

    def _pseudo(self, name: str) -> Any:
        return {
            "AWS::AccountId": self.account_id,
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
            "AWS::Partition": "aws",
            "AWS::Region": self.region,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/"
                f"{_short_hash(self.stack_name, length=32)}"
            ),
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }[name]

    # conditions

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self.template.conditions:
                raise CfnError(f"unknown condition: {name}")
            self._conditions[name] = self._truth(self.template.conditions[name])
        return self._conditions[name]

    def _truth(self, expression: Any) -> bool:
        if isinstance(expression, bool):
            return expression
        if isinstance(expression, str) and expression.lower() in ("true", "false"):
            return expression.lower() == "true"
        if isinstance(expression, dict) and len(expression) == 1:
            ((key, arg),) = expression.items()
            if key == "Condition":
                return self.condition(str(arg))
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._truth(arg[0])
            if key == "Fn::And":
                return all(self._truth(item) for item in arg)
            if key == "Fn::Or":
                return any(self._truth(item) for item in arg)
        raise CfnError(f"unsupported condition expression: {expression!r}")

    # values

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                handler = self._INTRINSICS.get(key)
                if handler is not None:
                    return handler(self, arg)
            result = {}
            for key, item in value.items():
                resolved = self.resolve(item)
                if resolved is not NO_VALUE:
                    result[key] = resolved
            return result
        if isinstance(value, list):
            return [r for r in (self.resolve(item) for item in value) if r is not NO_VALUE]
        return value

    def _fn_ref(self, arg: Any) -> Any:
        return self.ref(str(self.resolve(arg)))

    def _fn_get_att(self, arg: Any) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not isinstance(arg, list) or len(arg) != 2:
            raise CfnError(f"malformed Fn::GetAtt: {arg!r}")
        return self.get_att(str(arg[0]), str(self.resolve(arg[1])))

    def _fn_sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[1], dict):
                raise CfnError(f"malformed Fn::Sub: {arg!r}")
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}
        if not isinstance(text, str):
            raise CfnError(f"malformed Fn::Sub: {arg!r}")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                value = variables[name]
            elif name in self.parameters or name in PSEUDO_PARAMETERS or name in self.template.resources:
                value = self.ref(name)
            elif "." in name:
                logical_id, attribute = name.split(".", 1)
                value = self.get_att(logical_id, attribute)
            else:
                raise CfnError(f"Fn::Sub: unknown variable ${{{name}}}")
            if isinstance(value, (list, dict)) or value is NO_VALUE:
                raise CfnError(f"Fn::Sub: ${{{name}}} is not a string")
            return str(value)

        return _SUB_RE.sub(replace, text)

    def _fn_join(self, arg: Any) -> str:
        delimiter, items = arg
        items = self.resolve(items)
        return str(delimiter).join(str(item) for item in items)

    def _fn_select(self, arg: Any) -> Any:
        index, items = self.resolve(arg[0]), self.resolve(arg[1])
        return items[int(index)]

    def _fn_split(self, arg: Any) -> list[str]:
        delimiter, text = arg
        return str(self.resolve(text)).split(str(delimiter))

    def _fn_if(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(str(name)) else when_false)

    def _fn_find_in_map(self, arg: Any) -> Any:
        name, first, second = (self.resolve(item) for item in arg[:3])
        try:
            return self.resolve(self.template.mappings[name][first][second])
        except KeyError:
            if len(arg) > 3 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self.resolve(arg[3]["DefaultValue"])
            raise CfnError(f"Fn::FindInMap: no {name}.{first}.{second}") from None

    def _fn_base64(self, arg: Any) -> str:
        return base64.b64encode(str(self.resolve(arg)).encode()).decode()

    def _fn_get_azs(self, arg: Any) -> list[str]:
        region = self.resolve(arg) or self.region
        return [f"{region}{suffix}" for suffix in "abc"]

    def _fn_to_json_string(self, arg: Any) -> str:
        return json.dumps(self.resolve(arg), separators=(",", ":"))

    def _fn_length(self, arg: Any) -> int:
        return len(self.resolve(arg))

    def _fn_unsupported(self, arg: Any) -> Any:
        raise CfnError(f"intrinsic not available locally: {arg!r}")

    _INTRINSICS: ClassVar[dict[str, Callable[[Resolver, Any], Any]]] = {
        "Ref": _fn_ref,
        "Fn::GetAtt": _fn_get_att,
        "Fn::Sub": _fn_sub,
        "Fn::Join": _fn_join,
        "Fn::Select": _fn_select,
        "Fn::Split": _fn_split,
        "Fn::If": _fn_if,
        "Fn::FindInMap": _fn_find_in_map,
        "Fn::Base64": _fn_base64,
        "Fn::GetAZs": _fn_get_azs,
        "Fn::ToJsonString": _fn_to_json_string,
        "Fn::Length": _fn_length,
        "Fn::ImportValue": _fn_unsupported,
        "Fn::Equals": lambda self, arg: self._truth({"Fn::Equals": arg}),
        "Fn::Not": lambda self, arg: self._truth({"Fn::Not": arg}),
        "Fn::And": lambda self, arg: self._truth({"Fn::And": arg}),
        "Fn::Or": lambda self, arg: self._truth({"Fn::Or": arg}),
    }


def substitute_definition(definition: str, substitutions: Mapping[str, Any]) -> str:
    """Apply a state machine's resolved ``DefinitionSubstitutions`` (``${Key}`` placeholders)."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in substitutions:
            return match.group(0)
        value = substitutions[key]
        return value if isinstance(value, str) else json.dumps(value)

    return _SUB_RE.sub(replace, definition)


# --- what the local stack needs from a function or a state machine ----------------------------------


def _string_env(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise CfnError(f"environment value must be a string, got {value!r}")
    return str(value)


def _layer_dirs(template: Template, layers: Any) -> list[Path]:
    dirs: list[Path] = []
    for layer in layers or []:
        if not (isinstance(layer, dict) and set(layer) == {"Ref"}):
            continue  # an external layer ARN: nothing local to put on the path
        resource = template.resources.get(str(layer["Ref"]))
        if not resource or resource["Type"] != "AWS::Serverless::LayerVersion":
            continue
        content = resource["Properties"].get("ContentUri")
        if not isinstance(content, str):
            raise CfnError(f"layer {layer['Ref']}: ContentUri must be a local path to run locally")
        root = (template.root / content).resolve()
        # Lambda puts /opt/python on sys.path; `sam build` copies a BuildMethod layer's source there.
        dirs.append(root)
        if (root / "python").is_dir():
            dirs.append(root / "python")
    return dirs


def function_config(resolver: Resolver, logical_id: str) -> FunctionConfig:
    """Resolve a function's name, code location, handler, limits and environment."""
    resource = resolver.template.resources[logical_id]
    if resource["Type"] != "AWS::Serverless::Function":
        raise CfnError(f"{logical_id}: only AWS::Serverless::Function runs locally")
    props = resource["Properties"]
    if props.get("PackageType", "Zip") != "Zip":
        raise CfnError(f"{logical_id}: only Zip functions run locally")
    runtime = str(resolver.resolve(props.get("Runtime", "")))
    if not runtime.startswith("python"):
        raise CfnError(f"{logical_id}: runtime {runtime!r} cannot run locally (python only)")
    code_uri = resolver.resolve(props.get("CodeUri", "."))
    if not isinstance(code_uri, str):
        raise CfnError(f"{logical_id}: CodeUri must be a local path to run locally")
    name = str(resolver.resolve(props.get("FunctionName") or _generated_name(resolver, logical_id)))
    variables = resolver.resolve((props.get("Environment") or {}).get("Variables") or {})
    logging_config = resolver.resolve(props.get("LoggingConfig") or {})
    return FunctionConfig(
        logical_id=logical_id,
        name=name,
        arn=f"arn:aws:lambda:{resolver.region}:{resolver.account_id}:function:{name}",
        code_dir=(resolver.template.root / code_uri).resolve(),
        handler=str(resolver.resolve(props.get("Handler", ""))),
        runtime=runtime,
        timeout=int(resolver.resolve(props.get("Timeout", 3))),
        memory_size=int(resolver.resolve(props.get("MemorySize", 128))),
        environment={str(k): _string_env(v) for k, v in variables.items()},
        python_path=tuple(_layer_dirs(resolver.template, props.get("Layers"))),
        log_group=str(logging_config.get("LogGroup") or f"/aws/lambda/{name}"),
    )


@dataclass(frozen=True)
class StateMachineConfig:
    logical_id: str
    name: str
    type: str
    definition: str


def state_machine_config(resolver: Resolver, logical_id: str) -> StateMachineConfig:
    """Name, type and the definition with ``DefinitionSubstitutions`` applied."""
    resource = resolver.template.resources[logical_id]
    props = resource["Properties"]
    if resource["Type"] == "AWS::Serverless::StateMachine":
        name = resolver.resolve(props.get("Name")) or _generated_name(resolver, logical_id, 80)
        sm_type = str(resolver.resolve(props.get("Type", "STANDARD")))
        if "DefinitionUri" in props:
            uri = resolver.resolve(props["DefinitionUri"])
            if not isinstance(uri, str):
                raise CfnError(f"{logical_id}: DefinitionUri must be a local path to run locally")
            try:
                text = (resolver.template.root / uri).read_text(encoding="utf-8")
            except OSError as exc:
                raise CfnError(f"{logical_id}: cannot read DefinitionUri {uri}: {exc}") from exc
        elif "Definition" in props:
            text = json.dumps(resolver.resolve(props["Definition"]))
        else:
            raise CfnError(f"{logical_id}: no Definition or DefinitionUri")
    else:
        name = resolver.resolve(props.get("StateMachineName")) or _generated_name(resolver, logical_id, 80)
        sm_type = str(resolver.resolve(props.get("StateMachineType", "STANDARD")))
        if "DefinitionString" in props:
            text = str(resolver.resolve(props["DefinitionString"]))
        elif "Definition" in props:
            text = json.dumps(resolver.resolve(props["Definition"]))
        else:
            raise CfnError(f"{logical_id}: no Definition or DefinitionString")
    substitutions = resolver.resolve(props.get("DefinitionSubstitutions") or {})
    definition = substitute_definition(text, substitutions)
    try:
        json.loads(definition)
    except ValueError as exc:
        raise CfnError(f"{logical_id}: definition is not valid JSON after substitution: {exc}") from exc
    return StateMachineConfig(logical_id=logical_id, name=str(name), type=sm_type, definition=definition)
