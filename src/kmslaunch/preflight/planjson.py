"""Terraform plans written in code, as ``terraform show -json plan.out`` prints them (format_version 1.2, the
shape Terraform 1.x writes: https://developer.hashicorp.com/terraform/internals/json-format): the bundled
pre-flight examples, the tests and the benchmark use this, so that a plan reads as the configuration it comes
from. A value known only after apply is left out of ``after`` and marked in ``after_unknown``; the
configuration's expressions carry the ``references`` Terraform records for it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

TERRAFORM_VERSION = "1.9.8"
# The attributes the AWS provider computes at apply for each type: unknown in a create's ``after``.
COMPUTED = {
    "aws_kms_key": ("arn", "id", "key_id"),
    "aws_kms_alias": ("arn", "id", "target_key_arn"),
    "aws_iam_role": ("arn", "id", "unique_id", "create_date"),
    "aws_iam_policy": ("arn", "id", "policy_id"),
    "aws_iam_instance_profile": ("arn", "id", "unique_id"),
    "aws_iam_service_linked_role": ("arn", "id", "name", "path", "unique_id"),
    "aws_launch_template": ("arn", "id", "latest_version", "default_version"),
    "aws_launch_configuration": ("arn", "id"),
    "aws_autoscaling_group": ("arn", "id"),
    "aws_eks_node_group": ("arn", "id", "resources", "status"),
    "aws_instance": ("arn", "id", "private_ip", "public_ip"),
    "aws_kms_grant": ("grant_id", "grant_token", "id"),
}


def _path(path: str) -> list[str | int]:
    out: list[str | int] = []
    for name, index in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", path):
        out.append(name if name else int(index))
    return out


def _set(tree: Any, path: list[str | int], value: Any) -> Any:
    """``tree`` with ``value`` at ``path`` (lists grown with empty objects as Terraform renders blocks)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(tree) if isinstance(tree, list) else []
        while len(items) <= head:
            items.append({})
        items[head] = _set(items[head], rest, value)
        return items
    node = dict(tree) if isinstance(tree, dict) else {}
    node[head] = _set(node.get(head), rest, value)
    return node


def _drop(tree: Any, path: list[str | int]) -> Any:
    if not path or tree is None:
        return tree
    head, rest = path[0], path[1:]
    if isinstance(head, int) and isinstance(tree, list) and head < len(tree):
        items = list(tree)
        items[head] = _drop(items[head], rest) if rest else None
        return items
    if isinstance(head, str) and isinstance(tree, dict) and head in tree:
        node = dict(tree)
        if rest:
            node[head] = _drop(node[head], rest)
        else:
            del node[head]
        return node
    return tree


@dataclass
class _Resource:
    address: str
    module: str
    type: str
    name: str
    index: int | str | None
    actions: list[str]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    unknown: dict[str, Any]
    expressions: dict[str, Any]
    sensitive: dict[str, Any]


@dataclass
class PlanBuilder:
    region: str = "us-east-1"
    account: str | None = "111122223333"
    resources: list[_Resource] = field(default_factory=list)
    outputs: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # module -> output -> references

    def add(
        self,
        address: str,
        after: dict[str, Any] | None,
        *,
        refs: dict[str, list[str]] | None = None,
        unknown: tuple[str, ...] = (),
        actions: tuple[str, ...] = ("create",),
        before: dict[str, Any] | None = None,
        sensitive: tuple[str, ...] = (),
    ) -> PlanBuilder:
        """A resource change; ``refs`` maps an attribute path (``launch_template[0].id``) to the references
        of its expression, which makes it unknown after apply unless ``after`` gives it."""
        m = re.match(
            r"^((?:module\.[A-Za-z0-9_-]+(?:\[[^\]]*\])?\.)*)([a-z0-9_]+)\.([A-Za-z0-9_-]+)(?:\[(.+)\])?$", address
        )
        assert m, address
        module = m.group(1).rstrip(".")
        type_, name, index = m.group(2), m.group(3), m.group(4)
        after_v = dict(after) if after is not None else None
        unknown_tree: dict[str, Any] = {}
        expressions: dict[str, Any] = {}
        create = "create" in actions
        computed = COMPUTED.get(type_, ("id",)) if create else ()
        for attr in computed:
            if after_v is not None and attr not in after_v:
                unknown_tree[attr] = True
        for path, references in (refs or {}).items():
            p = _path(path)
            expressions = _set(expressions, p, {"references": references})
            known = after_v is not None and _get(after_v, p) is not None
            if not known and actions != ("delete",):
                unknown_tree = _set(unknown_tree, p, True)
                after_v = _drop(after_v, p)
        for path in unknown:
            unknown_tree = _set(unknown_tree, _path(path), True)
            after_v = _drop(after_v, _path(path))
        for k, v in (after or {}).items():
            if k not in expressions and not isinstance(v, list | dict) and v is not None:
                expressions[k] = {"constant_value": v}
        sens: dict[str, Any] = {}
        for path in sensitive:
            sens = _set(sens, _path(path), True)
        idx: int | str | None = int(index) if index and index.isdigit() else (index.strip('"') if index else None)
        self.resources.append(
            _Resource(
                address, module, type_, name, idx, list(actions), before, after_v, unknown_tree, expressions, sens
            )
        )
        return self

    def output(self, module: str, name: str, references: list[str]) -> PlanBuilder:
        self.outputs.setdefault(module, {})[name] = references
        return self

    def to_json(self) -> dict[str, Any]:
        changes = []
        for r in self.resources:
            rc: dict[str, Any] = {
                "address": r.address,
                "mode": "managed",
                "type": r.type,
                "name": r.name,
                "provider_name": "registry.terraform.io/hashicorp/aws",
                "change": {
                    "actions": r.actions,
                    "before": r.before,
                    "after": r.after if r.actions != ["delete"] else None,
                    "after_unknown": r.unknown if r.actions != ["delete"] else {},
                    "before_sensitive": False if r.before is None else {},
                    "after_sensitive": r.sensitive if r.actions != ["delete"] else False,
                },
            }
            if r.module:
                rc = {
                    "address": r.address,
                    "module_address": r.module,
                    **{k: v for k, v in rc.items() if k != "address"},
                }
            if r.index is not None:
                rc["index"] = r.index
            if r.actions == ["delete", "create"]:
                rc["action_reason"] = "replace_because_cannot_update"
            changes.append(rc)
        data: dict[str, Any] = {
            "format_version": "1.2",
            "terraform_version": TERRAFORM_VERSION,
            "planned_values": {"root_module": self._planned("")},
            "resource_changes": changes,
            "prior_state": self._prior(),
            "configuration": {
                "provider_config": {
                    "aws": {
                        "name": "aws",
                        "full_name": "registry.terraform.io/hashicorp/aws",
                        "expressions": {"region": {"constant_value": self.region}},
                    }
                },
                "root_module": self._config(""),
            },
            "timestamp": "2026-01-15T09:30:00Z",
            "applyable": True,
            "complete": True,
            "errored": False,
        }
        return data

    def _children(self, module: str, *, config: bool = False) -> list[str]:
        """The module instances (planned values) or module calls (configuration: no instance keys) under
        ``module``."""
        mods = {_strip(r.module) if config else r.module for r in self.resources} | set(self.outputs)
        prefixes = set()
        for m in mods:
            parts = m.split(".") if m else []
            for i in range(2, len(parts) + 1, 2):
                prefixes.add(".".join(parts[:i]))
        depth = len(module.split(".")) if module else 0
        return sorted(p for p in prefixes if len(p.split(".")) == depth + 2 and p.startswith(module))

    def _planned(self, module: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        rows = []
        for r in self.resources:
            if r.module != module or r.actions == ["delete"]:
                continue
            row: dict[str, Any] = {
                "address": r.address,
                "mode": "managed",
                "type": r.type,
                "name": r.name,
                "provider_name": "registry.terraform.io/hashicorp/aws",
                "schema_version": 0,
                "values": r.after,
                "sensitive_values": r.sensitive,
            }
            if r.index is not None:
                row["index"] = r.index
            rows.append(row)
        if rows:
            out["resources"] = rows
        if module:
            out["address"] = module
        children = [self._planned(c) for c in self._children(module)]
        if children:
            out["child_modules"] = children
        return out

    def _config(self, module: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        rows = []
        seen = set()
        for r in self.resources:
            if _strip(r.module) != module:
                continue
            local = f"{r.type}.{r.name}"
            if local in seen:
                continue
            seen.add(local)
            rows.append(
                {
                    "address": local,
                    "mode": "managed",
                    "type": r.type,
                    "name": r.name,
                    "provider_config_key": "aws" if not module else f"{module.rsplit('.', maxsplit=1)[-1]}:aws",
                    "expressions": r.expressions,
                    "schema_version": 0,
                }
            )
        if rows:
            out["resources"] = rows
        if self.outputs.get(module):
            out["outputs"] = {name: {"expression": {"references": refs}} for name, refs in self.outputs[module].items()}
        calls = {}
        for child in self._children(module, config=True):
            calls[child.split(".")[-1]] = {"source": f"./modules/{child.split('.')[-1]}", "module": self._config(child)}
        if calls:
            out["module_calls"] = calls
        return out

    def _prior(self) -> dict[str, Any]:
        data = []
        if self.account:
            data.append(
                {
                    "address": "data.aws_caller_identity.current",
                    "mode": "data",
                    "type": "aws_caller_identity",
                    "name": "current",
                    "provider_name": "registry.terraform.io/hashicorp/aws",
                    "schema_version": 0,
                    "values": {
                        "account_id": self.account,
                        "arn": f"arn:aws:sts::{self.account}:assumed-role/terraform/ci",
                        "id": self.account,
                        "user_id": "AROAEXAMPLEID:ci",
                    },
                    "sensitive_values": {},
                }
            )
        data.append(
            {
                "address": "data.aws_region.current",
                "mode": "data",
                "type": "aws_region",
                "name": "current",
                "provider_name": "registry.terraform.io/hashicorp/aws",
                "schema_version": 0,
                "values": {
                    "id": self.region,
                    "name": self.region,
                    "description": "",
                    "endpoint": f"ec2.{self.region}.amazonaws.com",
                },
                "sensitive_values": {},
            }
        )
        return {
            "format_version": "1.0",
            "terraform_version": TERRAFORM_VERSION,
            "values": {"root_module": {"resources": data}},
        }


def _strip(address: str) -> str:
    return re.sub(r"\[[^\]]*\]", "", address)


def _get(tree: Any, path: list[str | int]) -> Any:
    for p in path:
        if isinstance(p, int):
            if not isinstance(tree, list) or p >= len(tree):
                return None
            tree = tree[p]
        else:
            if not isinstance(tree, dict):
                return None
            tree = tree.get(p)
    return tree
