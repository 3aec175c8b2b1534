"""A Terraform plan, as ``terraform show -json plan.out`` prints it, read into ``PlannedResource`` values.

The format is Terraform's documented JSON output (format_version 1.x,
https://developer.hashicorp.com/terraform/internals/json-format): ``resource_changes`` holds each resource's
``change`` (``actions``, ``before``, ``after``, ``after_unknown``), ``configuration`` the expressions each
attribute was written with and the ``references`` they name, ``prior_state`` the data sources read while
planning (the caller identity, the region). A value known only after apply (``after_unknown`` true) becomes a
``Ref`` when its expression names one resource attribute (``aws_kms_key.ebs.arn``), through module outputs
when it names a module's (``module.eks.key_arn``), and an ``Unknown`` otherwise. Attributes that hold a JSON
document (a key policy, a trust policy) are parsed. Each resource gets the line of the plan file where its
address first appears, for SARIF.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmslaunch.policy.errors import InputError

from .model import Action, Concat, Plan, PlannedResource, Pseudo, Ref, Source, Unknown
from .terraform_types import MAPPERS, Mapped

# The data sources whose values are the deployment's own (AWS::AccountId, AWS::Region, AWS::Partition), by the
# attribute a reference names.
PSEUDO_DATA: Mapping[str, Mapping[str, str]] = {
    "aws_caller_identity": {"account_id": "AWS::AccountId"},
    "aws_region": {"name": "AWS::Region", "id": "AWS::Region", "region": "AWS::Region"},
    "aws_partition": {"partition": "AWS::Partition", "dns_suffix": "AWS::URLSuffix"},
}
_REFERENCE = re.compile(
    r"^(?:(data)\.)?([a-z][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_-]*)(\[[^\]]*\])?\.([A-Za-z_][A-Za-z0-9_]*)"
)
_MODULE_OUTPUT = re.compile(r"^module\.([A-Za-z_][A-Za-z0-9_-]*)(?:\[[^\]]*\])?\.([A-Za-z_][A-Za-z0-9_]*)")
_RELEVANT = re.compile(r"kms|key|encrypt|polic|role|principal|grant|device|block|image|ami|snapshot|template|profile")
_NOT_RESOURCES = ("var", "local", "each", "count", "path", "terraform", "self")


def read_terraform_plan(path: Path) -> Plan:
    """Read ``terraform show -json`` output; ``InputError`` names the file, the element and what was expected."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(file, "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(file, "", "not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(file, "", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return parse_terraform_plan(data, file, text)


def is_terraform_plan(data: object) -> bool:
    """``terraform show -json`` output: a ``format_version`` and planned values or resource changes."""
    return (
        isinstance(data, dict) and "format_version" in data and ("planned_values" in data or "resource_changes" in data)
    )


def parse_terraform_plan(data: object, file: str, text: str = "") -> Plan:
    """The plan ``data`` (already parsed JSON); ``text`` is the file's text, for line numbers."""
    if not isinstance(data, dict):
        raise InputError(file, "$", "expected a JSON object (terraform show -json plan.out)")
    version = data.get("format_version")
    if not isinstance(version, str) or not version.startswith("1."):
        raise InputError(file, "format_version", f"expected a 1.x version of Terraform's JSON format, got {version!r}")
    reader = _Reader(file, text)
    reader.configuration(_obj(data, "configuration", file, "configuration"))
    reader.prior_state(_obj(data, "prior_state", file, "prior_state"))
    changes = data.get("resource_changes", [])
    if not isinstance(changes, list):
        raise InputError(file, "resource_changes", "expected a list of resource changes")
    if not changes and "planned_values" in data:
        # A plan printed without resource_changes (older or trimmed output): planned_values alone, all creates.
        changes = [
            {**r, "change": {"actions": ["create"], "after": r.get("values"), "after_unknown": {}}}
            for r in _planned(_obj(data, "planned_values", file, "planned_values").get("root_module"), file)
        ]
    for i, rc in enumerate(changes):
        reader.change(rc, f"resource_changes[{i}]")
    return Plan(
        file=file,
        format="terraform",
        resources=tuple(reader.resources),
        region=reader.region,
        account=reader.account,
        unmodelled=tuple(reader.unmodelled),
    )


def symbolic_values(data: Mapping[str, Any], file: str = "plan.json") -> dict[str, Any]:
    """Every managed resource's planned attributes (``after``) by address, whatever its type, with the values
    known only after apply made ``Ref``/``Pseudo``/``Unknown`` as the reader makes them."""
    reader = _Reader(file, "")
    reader.configuration(_obj(data, "configuration", file, "configuration"))
    out: dict[str, Any] = {}
    for rc in data.get("resource_changes") or []:
        if isinstance(rc, dict) and rc.get("mode") == "managed" and isinstance(rc.get("change"), dict):
            address = str(rc.get("address"))
            change = rc["change"]
            config = reader.configs.get(_config_address(address)) or _Config({}, "")
            out[address] = reader._symbolic(
                change.get("after"),
                change.get("after_unknown"),
                config.expressions,
                _module_instance(address),
                address,
                "",
            )
    return out


def _obj(data: Mapping[str, Any], key: str, file: str, path: str) -> dict[str, Any]:
    value = data.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(file, path, f"expected an object, got {type(value).__name__}")
    return value


def _planned(module: object, file: str, path: str = "planned_values.root_module") -> list[dict[str, Any]]:
    if not isinstance(module, dict):
        return []
    out = [r for r in module.get("resources", []) if isinstance(r, dict)]
    for i, child in enumerate(module.get("child_modules", []) or []):
        out += _planned(child, file, f"{path}.child_modules[{i}]")
    return out


@dataclass
class _Config:
    """One resource's configuration: its expressions and the module its references are relative to."""

    expressions: dict[str, Any]
    module: str  # "" for the root module, else "module.eks" or "module.a.module.b"


@dataclass
class _Reader:
    file: str
    text: str
    resources: list[PlannedResource] = field(default_factory=list)
    unmodelled: list[tuple[str, str]] = field(default_factory=list)
    region: str | None = None
    account: str | None = None
    configs: dict[str, _Config] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # module address -> output name -> expression
    calls: dict[str, str] = field(default_factory=dict)  # module address -> parent
    # module address -> the module call's argument expressions (what ``var.x`` inside it is)
    arguments: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- configuration ------------------------------------------------------------------------------------------
    def configuration(self, config: Mapping[str, Any]) -> None:
        providers = config.get("provider_config") or {}
        if isinstance(providers, dict):
            aws = providers.get("aws")
            if isinstance(aws, dict):
                region = ((aws.get("expressions") or {}).get("region") or {}).get("constant_value")
                if isinstance(region, str):
                    self.region = region
        self._module(config.get("root_module"), "")

    def _module(self, module: object, prefix: str) -> None:
        if not isinstance(module, dict):
            return
        for r in module.get("resources", []) or []:
            if isinstance(r, dict) and isinstance(r.get("address"), str):
                self.configs[_join(prefix, r["address"])] = _Config(r.get("expressions") or {}, prefix)
        self.outputs[prefix] = {
            k: v.get("expression") or {} for k, v in (module.get("outputs") or {}).items() if isinstance(v, dict)
        }
        for name, call in (module.get("module_calls") or {}).items():
            if isinstance(call, dict):
                child = _join(prefix, f"module.{name}")
                self.calls[child] = prefix
                self.arguments[child] = call.get("expressions") or {}
                self._module(call.get("module"), child)

    def prior_state(self, state: Mapping[str, Any]) -> None:
        values = state.get("values") or {}
        for r in _planned(values.get("root_module") if isinstance(values, dict) else None, self.file):
            if r.get("mode") == "data":
                self._pseudo_data(str(r.get("type")), r.get("values") or {})

    def _pseudo_data(self, type_: str, values: Mapping[str, Any]) -> None:
        if type_ == "aws_caller_identity" and isinstance(values.get("account_id"), str):
            self.account = values["account_id"]
        if type_ == "aws_region":
            name = values.get("name") or values.get("region")
            if isinstance(name, str) and self.region is None:
                self.region = name

    # -- resources ----------------------------------------------------------------------------------------------
    def change(self, rc: object, path: str) -> None:
        if not isinstance(rc, dict):
            raise InputError(self.file, path, "expected a resource change object")
        address, type_ = rc.get("address"), rc.get("type")
        if not isinstance(address, str) or not isinstance(type_, str):
            raise InputError(self.file, path, "expected a resource change with string 'address' and 'type'")
        change = rc.get("change")
        if not isinstance(change, dict):
            raise InputError(self.file, f"{path}.change", "expected an object with actions, before and after")
        actions = change.get("actions")
        if not isinstance(actions, list) or not actions or not all(isinstance(a, str) for a in actions):
            raise InputError(
                self.file, f"{path}.change.actions", 'expected a list of actions such as ["create"] or ["delete"]'
            )
        action = _action(actions, self.file, f"{path}.change.actions")
        if rc.get("mode") == "data":
            self._pseudo_data(type_, change.get("after") or {})
            return
        mapper = MAPPERS.get(type_)
        if mapper is None:
            if type_.startswith("aws_"):
                self.unmodelled.append((type_, address))
            return
        raw = change.get("before") if action == "delete" else change.get("after")
        if not isinstance(raw, dict):
            raise InputError(
                self.file,
                f"{path}.change.{'before' if action == 'delete' else 'after'}",
                f"expected the {type_}'s attributes as an object",
            )
        unknown = {} if action == "delete" else change.get("after_unknown") or {}
        config = self.configs.get(_config_address(address)) or _Config({}, _module_of(address))
        # References are relative to the module instance the resource is in (module.nodes["a"]), so that each
        # instance of a module refers to its own resources.
        values = self._symbolic(raw, unknown, config.expressions, _module_instance(address), address, "")
        source = Source(self.file, address, *self._place(address))
        try:
            mapped: Mapped = mapper(_Attrs(values, self.file, f"{path}.change.after"))
        except InputError:
            raise
        self.resources.append(
            PlannedResource(
                address=address,
                kind=mapped.kind,
                values=mapped.values,
                source=source,
                action=action,
                native_type=type_,
                ignored=mapped.ignored,
            )
        )

    def _symbolic(self, value: Any, unknown: Any, expr: Any, module: str, address: str, at: str) -> Any:
        """``value`` with every leaf ``after_unknown`` marks replaced by a Ref or an Unknown."""
        if unknown is True:
            return self._unknown(expr, module, address, at)
        if isinstance(expr, dict) and ("references" in expr or "constant_value" in expr):
            # One expression for a whole object-valued attribute (jsonencode, a map, an object): its references
            # are the candidates for every value inside it.
            expr_for_all: Any = expr
            if isinstance(value, dict) or isinstance(unknown, dict):
                dv0 = value if isinstance(value, dict) else {}
                du0 = unknown if isinstance(unknown, dict) else {}
                keys0 = list(dv0) + [k for k in du0 if k not in dv0]
                return {
                    k: self._symbolic(dv0.get(k), du0.get(k), expr_for_all, module, address, _dot(at, k)) for k in keys0
                }
        if isinstance(value, dict) or isinstance(unknown, dict):
            dv: dict[str, Any] = value if isinstance(value, dict) else {}
            du: dict[str, Any] = unknown if isinstance(unknown, dict) else {}
            de: dict[str, Any] = expr if isinstance(expr, dict) else {}
            keys = list(dv) + [k for k in du if k not in dv]
            return {k: self._symbolic(dv.get(k), du.get(k), de.get(k), module, address, _dot(at, k)) for k in keys}
        if isinstance(value, list) or isinstance(unknown, list):
            v = value if isinstance(value, list) else []
            u = unknown if isinstance(unknown, list) else []
            # A nested block's expressions are a list of one object per block, in order (a dynamic block: one).
            e = expr if isinstance(expr, list) else []
            n = max(len(v), len(u))
            return [
                self._symbolic(
                    v[i] if i < len(v) else None,
                    u[i] if i < len(u) else None,
                    e[i] if i < len(e) else (e[0] if len(e) == 1 else None),
                    module,
                    address,
                    f"{at}[{i}]",
                )
                for i in range(n)
            ]
        return value

    def _unknown(self, expr: Any, module: str, address: str, at: str) -> Ref | Pseudo | Unknown:
        refs = expr.get("references") if isinstance(expr, dict) else None
        why = f"{address}.{at} is known only after apply"
        if not isinstance(refs, list):
            return Unknown(why)
        return self._reference([r for r in refs if isinstance(r, str)], module, why, set())

    def _reference(self, refs: list[str], module: str, why: str, seen: set[str]) -> Ref | Pseudo | Unknown:
        """The one resource attribute ``refs`` name (the first of Terraform's list, which is the most specific),
        through module outputs; several distinct attributes or none: Unknown (the expression combines them)."""
        named: list[Ref | Pseudo | Unknown] = []
        for ref in refs:
            m = _REFERENCE.match(ref)
            data_without_attribute = ref.startswith("data.") and m is not None and not m.group(1)
            if m and m.group(2) not in _NOT_RESOURCES and not ref.startswith("module.") and not data_without_attribute:
                data, type_, name, index, attr = m.groups()
                if data and type_ in PSEUDO_DATA and attr in PSEUDO_DATA[type_]:
                    named.append(Pseudo(PSEUDO_DATA[type_][attr]))
                else:
                    resource = f"{'data.' if data else ''}{type_}.{name}{index or ''}"
                    named.append(Ref(_join(module, resource), attr))
                continue
            if ref.startswith("var.") and _config_address(module) in self.calls:
                name = ref.split(".")[1].split("[")[0]
                key = f"{module}.var.{name}"
                argument = self.arguments.get(_config_address(module), {}).get(name)
                if key not in seen and isinstance(argument, dict):
                    inner = [r for r in argument.get("references") or [] if isinstance(r, str)]
                    named.append(self._reference(inner, _parent_instance(module), why, seen | {key}))
                continue
            mo = _MODULE_OUTPUT.match(ref)
            if mo:
                child = _join(module, f"module.{mo.group(1)}")
                key = f"{child}.{mo.group(2)}"
                expression = self.outputs.get(_config_address(child), {}).get(mo.group(2))
                if key in seen or not isinstance(expression, dict):
                    named.append(Unknown(f"{why} (it comes from output {key})"))
                    continue
                inner = [r for r in expression.get("references") or [] if isinstance(r, str)]
                named.append(self._reference(inner, child, why, seen | {key}))
        distinct = list(dict.fromkeys(named))
        # Terraform lists "aws_iam_role.x.arn" and "aws_iam_role.x": the attribute is the one that says most.
        attrs = [n for n in distinct if not isinstance(n, Unknown)]
        if len(attrs) == 1:
            return attrs[0]
        if len(attrs) > 1:
            names = ", ".join(f"{a.address}.{a.attribute}" if isinstance(a, Ref) else a.name for a in attrs)
            return Unknown(f"{why} (it combines {names})")
        return distinct[0] if distinct else Unknown(why)

    def _place(self, address: str) -> tuple[int | None, int | None]:
        """The 1-based line and column of the plan file where ``"address": "<address>"`` first appears."""
        if not self.text:
            return None, None
        needle = json.dumps(address)
        at = self.text.find(needle)
        while at >= 0:
            before = self.text[max(0, at - 40) : at]
            if re.search(r'"address"\s*:\s*$', before):
                line_start = self.text.rfind("\n", 0, at) + 1
                return self.text.count("\n", 0, at) + 1, at - line_start + 1
            at = self.text.find(needle, at + 1)
        return None, None


class _Attrs:
    """A resource's attributes for a mapper: typed reads that name the element on bad input."""

    def __init__(self, values: Mapping[str, Any], file: str, path: str) -> None:
        self.values = values
        self.file = file
        self.path = path
        self.used: set[str] = set()
        self.unknown_blocks: list[str] = []

    def get(self, name: str) -> Any:
        self.used.add(name)
        return self.values.get(name)

    def block(self, name: str) -> dict[str, Any] | None:
        """The first of a nested block (Terraform renders a block as a list of objects)."""
        got = self.blocks(name)
        return got[0] if got else None

    def blocks(self, name: str) -> list[dict[str, Any]]:
        value = self.get(name)
        if value is None:
            return []
        if isinstance(value, Ref | Pseudo | Unknown | Concat):
            # A whole block known only after apply (a dynamic block over unknown values): nothing to read.
            self.unknown_blocks.append(name)
            return []
        if isinstance(value, dict):
            return [value]
        if not isinstance(value, list) or not all(isinstance(b, dict) for b in value):
            raise InputError(self.file, f"{self.path}.{name}", "expected a list of blocks (objects)")
        return value

    def rest(self, skip: frozenset[str]) -> tuple[str, ...]:
        """Attributes with a value that no mapper read and whose name says they could bear on a launch's KMS
        calls (a key, encryption, a policy, a role, a device, an image): reported, never silently dropped. The
        provider's many others (instance types, networking, tags) cannot change a KMS decision."""
        unread = sorted(
            k
            for k, v in self.values.items()
            if k not in self.used and k not in skip and v not in (None, [], {}, "") and _RELEVANT.search(k)
        )
        return (*unread, *(f"{b} (known only after apply)" for b in self.unknown_blocks))

    def error(self, name: str, expected: str) -> InputError:
        return InputError(self.file, f"{self.path}.{name}", expected)


def _action(actions: list[str], file: str, path: str) -> Action:
    """Terraform's action list as one action: a replace (delete then create, or create then delete) makes a
    new resource, so the pre-flight sees its create."""
    if "create" in actions:
        return "create"
    if actions == ["delete"]:
        return "delete"
    if actions == ["update"]:
        return "update"
    if actions == ["no-op"]:
        return "no-op"
    if actions == ["read"]:
        return "read"
    if actions == ["forget"]:
        return "no-op"  # removed from state, left in AWS
    raise InputError(file, path, f"expected Terraform actions (create, update, delete, no-op, read), got {actions}")


def _join(prefix: str, address: str) -> str:
    return f"{prefix}.{address}" if prefix else address


def _dot(at: str, key: str) -> str:
    return f"{at}.{key}" if at else key


def _config_address(address: str) -> str:
    """A resource instance's configuration address: without instance keys (``module.a["x"].aws_y.z[0]``)."""
    return re.sub(r"\[[^\]]*\]", "", address)


def _module_instance(address: str) -> str:
    """The module instance a resource instance is in: ``module.a["x"].module.b`` of
    ``module.a["x"].module.b.aws_y.z[0]``; "" at the root."""
    m = re.match(r"^((?:module\.[A-Za-z0-9_-]+(?:\[[^\]]*\])?\.)*)", address)
    return m.group(1).rstrip(".") if m else ""


def _parent_instance(module: str) -> str:
    """The module instance that calls ``module``: ``module.a["x"]`` of ``module.a["x"].module.b``."""
    parts = re.findall(r"module\.[A-Za-z0-9_-]+(?:\[[^\]]*\])?", module)
    return ".".join(parts[:-1])


def _module_of(address: str) -> str:
    parts = _config_address(address).split(".")
    mods = []
    i = 0
    while i + 1 < len(parts) and parts[i] == "module":
        mods.append(f"module.{parts[i + 1]}")
        i += 2
    return ".".join(mods)
