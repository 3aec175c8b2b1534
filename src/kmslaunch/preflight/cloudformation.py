"""Read a CloudFormation template (YAML or JSON, or a CDK ``cdk.out`` directory) into a ``Plan``.

The template is decoded by cfn-lint's decoder (``cfnlint.decode``), which knows the short-form tags (``!Ref``,
``!GetAtt X.Arn``, ``!Sub``...) and keeps each node's line. Parameters take the values given, else their
``Default``; conditions are decided from them; a resource whose condition is false is dropped; intrinsic functions
are evaluated (``intrinsics.py``) and each modelled type's properties are put in the AWS API's shape
(``cfn_types.py``).

Addresses: ``PlannedResource.address`` is the logical id (what ``Ref``/``Fn::GetAtt`` name, so ``Ref.address``
matches it); ``Source.address`` is what the user knows the resource by: the logical id, or for a CDK template
the construct path followed by the logical id, ``AsgCmkStack/VolumeKey (VolumeKeyB3FBD601)`` (CDK's
``/Resource`` leaf, the default child of a construct, is left out).

A resource whose ``Condition`` cannot be decided (it compares ``AWS::Region``, say) is kept, with the condition
listed in ``ignored``: a launch path that may not exist is checked rather than hidden.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kmslaunch.policy.errors import InputError, KmslaunchError
from kmslaunch.preflight import cfn_types
from kmslaunch.preflight.intrinsics import NO_VALUE, Evaluator, Parameter, shape
from kmslaunch.preflight.model import Plan, PlannedResource, Source, Unknown

# Types that create nothing in the account a launch depends on: CDK's usage metadata.
_SKIPPED_TYPES = frozenset({"AWS::CDK::Metadata"})
_SSM_PREFIX = "AWS::SSM::Parameter::Value<"
_CDK_PATH = "aws:cdk:path"


def read_template(
    path: Path,
    parameters: Mapping[str, str] | None = None,
    *,
    stack_name: str | None = None,
    account: str | None = None,
    region: str | None = None,
    ssm: Mapping[str, str] | None = None,
) -> Plan:
    """The resources a CloudFormation template would create, in the vocabulary of ``model.py``.

    ``parameters`` overrides parameter defaults (as ``--parameter K=V`` would). ``ssm`` gives the values of SSM
    parameters by name, for parameters of an ``AWS::SSM::Parameter::Value<...>`` type (CDK's AMI lookups): without
    it their value is unknown, since CloudFormation reads it when the stack is deployed. ``stack_name``, ``account`` and
    ``region`` are what a CDK manifest says about the stack; when the template sits in a ``cdk.out`` next to a
    ``manifest.json`` naming it, they are read from there unless given. Raises ``KmslaunchError`` (an
    ``InputError`` naming the file and the element) for anything that is not a readable template.
    """
    file = str(path)
    text = _read_text(path)
    if stack_name is None and account is None and region is None:
        stack_name, account, region = _cdk_environment(path)
    return _read(file, _decode(file, text), dict(parameters or {}), stack_name, account, region, dict(ssm or {}))


def read_cloudformation(
    path: Path, parameters: Mapping[str, str] | None = None, *, ssm: Mapping[str, str] | None = None
) -> list[Plan]:
    """A template file (one plan) or a CDK cloud assembly directory (one plan per stack)."""
    if path.is_dir():
        return read_cdk_out(path, parameters, ssm=ssm)
    return [read_template(path, parameters, ssm=ssm)]


def read_cdk_out(
    directory: Path, parameters: Mapping[str, str] | None = None, *, ssm: Mapping[str, str] | None = None
) -> list[Plan]:
    """One ``Plan`` per CloudFormation stack of a CDK cloud assembly (``cdk.out``), in the manifest's order;
    nested assemblies (CDK stages) are read too. The stack's environment gives each plan its account and region
    unless CDK left them environment-agnostic."""
    plans: list[Plan] = []
    for template, name, account, region in _cdk_stacks(directory):
        plans.append(read_template(template, parameters, stack_name=name, account=account, region=region, ssm=ssm))
    if not plans:
        raise InputError(
            str(directory / "manifest.json"), "artifacts", "no CloudFormation stack in this cloud assembly"
        )
    return plans


# -- decoding ------------------------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise InputError(
            str(path), "", "is a directory: give a template file, or read a cdk.out with read_cdk_out"
        ) from None
    except FileNotFoundError:
        raise InputError(str(path), "", "no such file") from None
    except UnicodeDecodeError:
        raise InputError(str(path), "", "is not UTF-8 text: expected a YAML or JSON template") from None
    except OSError as err:
        raise InputError(str(path), "", f"cannot be read ({err.strerror})") from None


def _decode(file: str, text: str) -> Any:
    try:
        from cfnlint.decode import decode_str  # noqa: PLC0415 - an optional dependency, only for templates
    except ImportError:
        raise KmslaunchError(
            f"{file}: reading a CloudFormation template needs cfn-lint: pip install 'kmslaunch[check]'"
        ) from None
    template, matches = decode_str(text)
    if matches or template is None:
        first = matches[0] if matches else None
        where = f"line {first.linenumber}" if first is not None and first.linenumber else ""
        message = first.message if first is not None else "empty document"
        raise InputError(file, where, f"not a YAML or JSON template: {message}")
    return template


def _line(node: object) -> int | None:
    # cfn-lint's nodes carry a 0-based start mark, for YAML and JSON alike.
    mark = getattr(node, "start_mark", None)
    line = getattr(mark, "line", None)
    return line + 1 if isinstance(line, int) else None


def _plain(node: object) -> object:
    """cfn-lint's str/dict/list subclasses as plain values, so that values compare and print as data."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    if isinstance(node, datetime.date):
        # An unquoted 2012-10-17 is a YAML date; CloudFormation reads it as the string (policy Version).
        return node.isoformat()
    return node


# -- the template --------------------------------------------------------------------------------------------


def _read(
    file: str,
    decoded: Any,
    given: dict[str, str],
    stack: str | None,
    account: str | None,
    region: str | None,
    ssm: dict[str, str] | None = None,
) -> Plan:
    if not isinstance(decoded, dict):
        raise InputError(file, "", "expected a template: a map with Resources")
    resources_node = decoded.get("Resources")
    if not isinstance(resources_node, dict):
        got = "nothing" if resources_node is None else shape(_plain(resources_node))
        raise InputError(file, "Resources", f"expected a map of logical ids to resources, got {got}")
    lines = {str(k): _line(k) for k in resources_node}
    template = _plain(decoded)
    assert isinstance(template, dict)
    resources: dict[str, dict[str, Any]] = {}
    foreach: list[str] = []
    for logical, body in template["Resources"].items():
        if logical.startswith("Fn::ForEach::"):
            # AWS::LanguageExtensions expands these into resources when the stack is deployed: not modelled.
            foreach.append(logical)
            continue
        if not isinstance(body, dict) or not isinstance(body.get("Type"), str):
            raise InputError(file, f"Resources.{logical}", "expected a resource: a map with Type (a string)")
        if not isinstance(body.get("Properties", {}), dict):
            raise InputError(file, f"Resources.{logical}.Properties", "expected a map of properties")
        resources[logical] = body
    evaluator = Evaluator(
        file=file,
        parameters=_parameters(file, _section(file, template, "Parameters"), given, ssm or {}),
        resources={k: v["Type"] for k, v in resources.items()},
        condition_defs=_section(file, template, "Conditions"),
        mappings=_section(file, template, "Mappings"),
    )
    # Conditions first: a reference to a dropped resource is an error wherever it is met.
    notes: dict[str, str] = {}
    dropped: dict[str, str] = {}
    for logical, body in resources.items():
        if "Condition" in body:
            decided = evaluator.condition(body["Condition"], f"Resources.{logical}.Condition")
            if decided is False:
                dropped[logical] = body["Condition"]
            elif isinstance(decided, Unknown):
                notes[logical] = f"Condition {body['Condition']} (undecided: {decided.why}; read as created)"
    evaluator.dropped = dropped

    planned: list[PlannedResource] = []
    unmodelled: list[tuple[str, str]] = [("Fn::ForEach", logical) for logical in foreach]
    for logical, body in resources.items():
        if logical in dropped or body["Type"] in _SKIPPED_TYPES:
            continue
        source = Source(file, _friendly_address(logical, body), lines.get(logical))
        mapping = cfn_types.TYPES.get(body["Type"])
        if mapping is None:
            unmodelled.append((body["Type"], source.address))
            continue
        kind, take = mapping
        path = f"Resources.{logical}.Properties"
        values = evaluator.value(body.get("Properties", {}), path)
        if values is NO_VALUE:
            values = {}
        elif isinstance(values, Unknown):
            # Properties chosen by an undecided Fn::If: none of them is known.
            notes[logical] = f"Properties ({values.why})"
            values = {}
        elif not isinstance(values, dict):
            raise InputError(file, path, "expected a map of properties")
        props = cfn_types.Properties(file=file, path=path, logical=logical, stack=stack, given=values)
        take(props)
        ignored = props.ignored() + ((notes[logical],) if logical in notes else ())
        planned.append(
            PlannedResource(
                address=logical,
                kind=kind,
                values=props.out,
                source=source,
                native_type=body["Type"],
                ignored=ignored,
            )
        )
    return Plan(
        file=file,
        format="cloudformation",
        resources=tuple(planned),
        region=region,
        account=account,
        unmodelled=tuple(unmodelled),
    )


def _section(file: str, template: dict[str, Any], name: str) -> dict[str, Any]:
    section = template.get(name, {})
    if not isinstance(section, dict):
        raise InputError(file, name, f"expected a map, got {shape(section)}")
    return section


def _parameters(
    file: str, declared: dict[str, Any], given: dict[str, str], ssm: dict[str, str]
) -> dict[str, Parameter]:
    """Each parameter's value: the one given, else its Default; SSM parameter types are resolved by CloudFormation
    when the stack is deployed (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html)."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        names = ", ".join(sorted(declared)) or "none"
        raise InputError(file, "Parameters", f"no parameter {unknown[0]!r} in the template (it declares: {names})")
    out: dict[str, Parameter] = {}
    for name, spec in declared.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("Type"), str):
            raise InputError(file, f"Parameters.{name}", "expected a parameter: a map with Type (a string)")
        kind = spec["Type"]
        raw = given.get(name, spec.get("Default"))
        value: object
        if raw is None:
            value = Unknown(f"template parameter {name} has no Default and no value was given for it")
        elif kind.startswith(_SSM_PREFIX):
            if str(raw) in ssm:
                value = ssm[str(raw)]
            else:
                value = Unknown(f"resolved by CloudFormation from SSM parameter {raw} when the stack is deployed")
        elif isinstance(raw, bool):
            value = "true" if raw else "false"
        elif kind == "CommaDelimitedList" or kind.startswith("List<"):
            value = [item.strip() for item in str(raw).split(",")]
        else:
            value = str(raw) if not isinstance(raw, list) else ",".join(str(r) for r in raw)
        out[name] = Parameter(name, value)
    return out


# -- CDK -----------------------------------------------------------------------------------------------------


def _friendly_address(logical: str, body: dict[str, Any]) -> str:
    metadata = body.get("Metadata")
    cdk_path = metadata.get(_CDK_PATH) if isinstance(metadata, dict) else None
    if not isinstance(cdk_path, str) or not cdk_path:
        return logical
    cdk_path = cdk_path.removesuffix("/Resource")
    return f"{cdk_path} ({logical})"


def _manifest(directory: Path) -> dict[str, Any]:
    file = directory / "manifest.json"
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(str(file), "", "no such file: expected a CDK cloud assembly (cdk.out)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(str(file), "", f"not a CDK manifest: {err}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("artifacts", {}), dict):
        raise InputError(str(file), "artifacts", "expected a map of artifacts")
    return manifest


def _cdk_stacks(directory: Path) -> list[tuple[Path, str, str | None, str | None]]:
    """(template, stack name, account, region) for each stack artifact of the assembly and its nested ones."""
    out: list[tuple[Path, str, str | None, str | None]] = []
    for artifact_id, artifact in _manifest(directory).get("artifacts", {}).items():
        where = f"artifacts.{artifact_id}"
        if not isinstance(artifact, dict):
            raise InputError(str(directory / "manifest.json"), where, "expected an artifact (a map with type)")
        properties = artifact.get("properties", {})
        if artifact.get("type") == "aws:cloudformation:stack":
            template = properties.get("templateFile") if isinstance(properties, dict) else None
            if not isinstance(template, str):
                raise InputError(
                    str(directory / "manifest.json"), f"{where}.properties.templateFile", "expected a file name"
                )
            account, region = _environment(artifact.get("environment"))
            name = properties.get("stackName") or artifact.get("displayName") or artifact_id
            out.append((directory / template, str(name), account, region))
        elif artifact.get("type") == "cdk:cloud-assembly" and isinstance(properties, dict):
            nested = properties.get("directoryName")
            if isinstance(nested, str):
                out.extend(_cdk_stacks(directory / nested))
    return out


def _environment(environment: object) -> tuple[str | None, str | None]:
    # aws://ACCOUNT/REGION; an environment-agnostic stack has unknown-account / unknown-region.
    if not isinstance(environment, str) or not environment.startswith("aws://"):
        return None, None
    account, _, region = environment.removeprefix("aws://").partition("/")
    return (
        account if account and account != "unknown-account" else None,
        region if region and region != "unknown-region" else None,
    )


def _cdk_environment(template: Path) -> tuple[str | None, str | None, str | None]:
    """The stack name, account and region a ``manifest.json`` beside the template gives it, if any."""
    if not (template.parent / "manifest.json").is_file():
        return None, None, None
    try:
        stacks = _cdk_stacks(template.parent)
    except InputError:
        return None, None, None  # a broken manifest does not make the template unreadable
    for file, name, account, region in stacks:
        if file.name == template.name:
            return name, account, region
    return None, None, None
