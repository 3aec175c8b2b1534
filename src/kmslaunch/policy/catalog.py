"""Which IAM actions and condition keys exist, so the parser can warn about what AWS accepts but no one means.

IAM accepts any ``service:action`` string and any condition key: ``kms:ReEncrypt`` (there is no such action;
the ReEncrypt API is authorized as ``kms:ReEncryptFrom`` and ``kms:ReEncryptTo``) or ``aws:SouceIp`` simply
never match, and the statement silently does nothing. This module knows enough of the vocabulary to say so,
with a "did you mean" (cedar's ``fuzzy_match.rs``), and never changes a decision.

Actions: for the services on the launch path the IAM actions are botocore's API operation names
(loaded lazily from botocore's installed models, names only), plus the permission-only actions AWS lists
in the Service Authorization Reference, minus operations that are not actions.
https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html

Condition keys: ``data/condition_keys.json``, one entry per key as the IAM User Guide and the Service
Authorization Reference document it (name, data type, single- or multivalued, doc URL). A name ending in
``/`` or ``:`` is a family whose suffix the policy author chooses (``aws:ResourceTag/<tag-key>``,
``kms:EncryptionContext:<context-key>``). Adding a key needs no Python.
"""

from __future__ import annotations

import difflib
import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from botocore.loaders import Loader

from kmslaunch.policy.errors import Issue, warning
from kmslaunch.policy.wildcard import compile_glob, has_wildcard

# Services whose IAM actions are their API operations, by IAM prefix -> botocore service name.
_BOTOCORE_SERVICES: Mapping[str, str] = {
    "kms": "kms",
    "ec2": "ec2",
    "iam": "iam",
    "sts": "sts",
    "autoscaling": "autoscaling",
    "organizations": "organizations",
}

# Actions that authorize something but are no API operation ("permission-only actions").
_PERMISSION_ONLY_ACTIONS: Mapping[str, tuple[str, ...]] = {
    # The ReEncrypt API is authorized twice, as ReEncryptFrom on the source key and ReEncryptTo on the
    # destination key; SynchronizeMultiRegionKey is used by KMS's service-linked role for multi-Region keys.
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awskeymanagementservice.html
    "kms": ("ReEncryptFrom", "ReEncryptTo", "SynchronizeMultiRegionKey"),
    # PassRole is checked when a role is handed to a service (an instance profile to EC2), never called.
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html
    "iam": ("PassRole",),
    # Checked alongside AssumeRole* when the request carries session tags, a source identity or context.
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html
    "sts": ("TagSession", "SetSourceIdentity", "SetContext"),
}

# API operations that are not IAM actions: the operation table of the Service Authorization Reference maps
# ReEncrypt to kms:ReEncryptFrom + kms:ReEncryptTo, so "kms:ReEncrypt" in a policy matches nothing.
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awskeymanagementservice.html
_NOT_ACTIONS: Mapping[str, frozenset[str]] = {
    "kms": frozenset({"ReEncrypt"}),
}

_MALFORMED = re.compile(r"\s")


@cache
def _loader() -> Any:
    return Loader()


@cache
def _actions(service: str) -> Mapping[str, str] | None:
    """Lower-cased action name -> canonical name, for one IAM prefix; None for services we don't know."""
    botocore_name = _BOTOCORE_SERVICES.get(service)
    if botocore_name is None:
        return None
    model = _loader().load_service_model(botocore_name, "service-2")
    # Only the names: the shapes of ec2's model are most of its size and are never looked at here.
    names = set(model["operations"]) - _NOT_ACTIONS.get(service, frozenset())
    names.update(_PERMISSION_ONLY_ACTIONS.get(service, ()))
    return {name.lower(): name for name in sorted(names)}


def known_actions(service: str) -> frozenset[str] | None:
    """The lower-cased ``service:action`` names of one service, or None for a service we don't know."""
    prefix = service.lower()
    actions = _actions(prefix)
    if actions is None:
        return None
    return frozenset(f"{prefix}:{name}" for name in actions)


def actions_matching(pattern: str) -> tuple[str, ...]:
    """The known actions (canonical case, ``kms:CreateGrant``) that an Action pattern matches.

    IAM matches actions case-insensitively, with ``*`` and ``?`` wildcards in either part.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
    """
    if pattern == "*":
        service_pattern, action_pattern = "*", "*"
    elif pattern.count(":") == 1:
        service_pattern, action_pattern = pattern.split(":")
    else:
        return ()
    service_matches = compile_glob(service_pattern, ignore_case=True)
    action_matches = compile_glob(action_pattern, ignore_case=True)
    found: list[str] = []
    for service in _BOTOCORE_SERVICES:
        if not service_matches(service):
            continue
        actions = _actions(service)
        assert actions is not None  # every _BOTOCORE_SERVICES prefix loads
        found.extend(f"{service}:{name}" for name in actions.values() if action_matches(name))
    return tuple(found)


def lint_action(action: str, path: str) -> list[Issue]:
    """Warnings for one Action/NotAction entry as written: malformed, or matching no action of its service.

    Services we have no catalog for (``s3:GetObject``) are never flagged: we cannot tell.
    """
    if action == "*":
        return []
    parts = action.split(":")
    if len(parts) != 2 or not all(parts) or _MALFORMED.search(action):
        return [warning(path, f"`{action}` is not of the form service:action")]
    service, name = parts
    if has_wildcard(service):
        return []
    actions = _actions(service.lower())
    if actions is None:
        return []
    if has_wildcard(name):
        matches = compile_glob(name, ignore_case=True)
        if any(matches(candidate) for candidate in actions):
            return []
        suggestion = _closest(name.replace("*", "").replace("?", ""), actions)
        return [
            warning(
                path,
                f"`{action}` matches no {service.lower()} action",
                f"{service}:{suggestion}" if suggestion else None,
            )
        ]
    if name.lower() in actions:
        return []
    return [warning(path, f"`{action}` matches no {service.lower()} action", _suggest_action(service, name, actions))]


def _suggest_action(service: str, name: str, actions: Mapping[str, str]) -> str | None:
    lowered = name.lower()
    extensions = [canonical for key, canonical in actions.items() if key.startswith(lowered)]
    if len(extensions) > 1:
        # "kms:ReEncrypt" -> "kms:ReEncrypt*": the author named a family (ReEncryptFrom, ReEncryptTo).
        return f"{service}:{name}*"
    if len(extensions) == 1:
        return f"{service}:{extensions[0]}"
    closest = _closest(name, actions)
    return f"{service}:{closest}" if closest else None


def _closest(word: str, candidates: Mapping[str, str]) -> str | None:
    """The canonical candidate closest to ``word``, comparing lower-cased (IAM names are case-insensitive)."""
    match = difflib.get_close_matches(word.lower(), list(candidates), n=1, cutoff=0.6)
    return candidates[match[0]] if match else None


# ---------------------------------------------------------------------------------------------------------
# Condition keys


class KeyType(enum.Enum):
    """A condition key's data type, as the IAM docs name it (``ArrayOf*`` is ``multivalued`` plus this)."""

    STRING = "String"
    ARN = "ARN"
    IP = "IPAddress"
    BOOL = "Bool"
    DATE = "Date"
    NUMERIC = "Numeric"
    BINARY = "Binary"


@dataclass(frozen=True, slots=True)
class ConditionKey:
    """One documented condition key. ``name`` ends in ``/`` or ``:`` for a family (``aws:ResourceTag/``)."""

    name: str
    type: KeyType
    multivalued: bool
    doc: str
    # Further types the key's docs accept: aws:EpochTime is a Date that also compares as Numeric.
    also: tuple[KeyType, ...] = ()

    @property
    def is_family(self) -> bool:
        return self.name.endswith(("/", ":"))

    def accepts(self, kind: KeyType) -> bool:
        return kind is self.type or kind in self.also


@dataclass(frozen=True, slots=True)
class _KeyCatalog:
    exact: Mapping[str, ConditionKey]  # lower-cased full name
    families: tuple[ConditionKey, ...]  # longest prefix first
    by_prefix: Mapping[str, tuple[ConditionKey, ...]]  # "kms" -> its keys


@cache
def _keys() -> _KeyCatalog:
    text = resources.files("kmslaunch").joinpath("data/condition_keys.json").read_text(encoding="utf-8")
    entries: list[dict[str, Any]] = json.loads(text)
    exact: dict[str, ConditionKey] = {}
    families: list[ConditionKey] = []
    by_prefix: dict[str, list[ConditionKey]] = {}
    for entry in entries:
        key = ConditionKey(
            name=entry["name"],
            type=KeyType(entry["type"]),
            multivalued=bool(entry["multivalued"]),
            doc=entry["doc"],
            also=tuple(KeyType(t) for t in entry.get("also", ())),
        )
        if key.is_family:
            families.append(key)
        exact[key.name.lower()] = key
        by_prefix.setdefault(key.name.split(":", 1)[0].lower(), []).append(key)
    families.sort(key=lambda k: len(k.name), reverse=True)
    return _KeyCatalog(exact, tuple(families), {p: tuple(ks) for p, ks in by_prefix.items()})


def lookup_condition_key(key: str) -> ConditionKey | None:
    """The documented key ``key`` names, case-insensitively; family members resolve to their family.

    Condition key names are case-insensitive: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html
    """
    catalog = _keys()
    lowered = key.lower()
    found = catalog.exact.get(lowered)
    if found is not None and not found.is_family:
        return found
    for family in catalog.families:
        prefix = family.name.lower()
        if lowered.startswith(prefix) and len(lowered) > len(prefix):
            return family
    return None


_SET_OPERATORS = ("forallvalues:", "foranyvalue:")

# Where to look for a key written under the wrong prefix: global keys first, then the launch path's services.
_CROSS_PREFIX_ORDER = ("aws", "kms", "ec2", "iam", "sts", "autoscaling")

# Operator family by base operator (without set prefix or IfExists), lower-cased.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
_OPERATOR_TYPES: Mapping[str, KeyType] = {
    **{
        op.lower(): KeyType.STRING
        for op in (
            "StringEquals",
            "StringNotEquals",
            "StringEqualsIgnoreCase",
            "StringNotEqualsIgnoreCase",
            "StringLike",
            "StringNotLike",
        )
    },
    **{
        op.lower(): KeyType.NUMERIC
        for op in (
            "NumericEquals",
            "NumericNotEquals",
            "NumericLessThan",
            "NumericLessThanEquals",
            "NumericGreaterThan",
            "NumericGreaterThanEquals",
        )
    },
    **{
        op.lower(): KeyType.DATE
        for op in (
            "DateEquals",
            "DateNotEquals",
            "DateLessThan",
            "DateLessThanEquals",
            "DateGreaterThan",
            "DateGreaterThanEquals",
        )
    },
    **{op.lower(): KeyType.ARN for op in ("ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike")},
    "bool": KeyType.BOOL,
    "binaryequals": KeyType.BINARY,
    "ipaddress": KeyType.IP,
    "notipaddress": KeyType.IP,
}

# Operators whose family a key of another type still compares sensibly: AWS compares ARN and Bool keys as
# strings under String operators ("AWS recommends ARN operators", not requires them).
_ALSO_ACCEPTED: Mapping[KeyType, frozenset[KeyType]] = {
    KeyType.ARN: frozenset({KeyType.STRING}),
    KeyType.BOOL: frozenset({KeyType.STRING}),
    KeyType.DATE: frozenset({KeyType.STRING}),
    KeyType.NUMERIC: frozenset({KeyType.STRING}),
}

_OPERATOR_FOR: Mapping[KeyType, str] = {
    KeyType.STRING: "StringEquals",
    KeyType.ARN: "ArnLike",
    KeyType.IP: "IpAddress",
    KeyType.BOOL: "Bool",
    KeyType.DATE: "DateLessThan",
    KeyType.NUMERIC: "NumericLessThan",
    KeyType.BINARY: "BinaryEquals",
}

# kms:ViaService names "<service>.<region>.amazonaws.com" (".amazonaws.com.cn" in China).
# https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
_VIA_SERVICE = re.compile(r"[a-z0-9-]+\.[a-z]{2}(-[a-z]+)+-\d+\.amazonaws\.com(\.cn)?")


def lint_condition(operator: str, key: str, values: tuple[str, ...], path: str) -> list[Issue]:
    """Warnings for one condition (operator, key, values) as written in a policy.

    Keys under prefixes we have no catalog for (``s3:prefix``) are never flagged.
    """
    found = lookup_condition_key(key)
    if found is None:
        return _unknown_key(key, path)
    issues: list[Issue] = []
    set_operator, base = _split_operator(operator)
    if base == "null":
        # Null tests presence only, for a key of any type and any number of values.
        return issues
    if set_operator is not None and not found.multivalued:
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
        # ForAllValues on a single-valued key also matches requests without the key (IAM Access Analyzer's
        # "ForAllValues with single valued key" security warning; KMS rejects it for EncryptionContext keys).
        bare = operator[len(set_operator) + 1 :]
        issues.append(
            warning(
                path,
                f"`{key}` is single-valued: {set_operator} is for multivalued keys"
                + (" and matches requests that lack the key" if set_operator == "ForAllValues" else ""),
                bare,
            )
        )
    elif set_operator is None and found.multivalued:
        issues.append(
            warning(
                path,
                f"`{key}` is multivalued: use ForAllValues or ForAnyValue with {operator}",
                f"ForAllValues:{operator} or ForAnyValue:{operator}",
            )
        )
    kind = _OPERATOR_TYPES.get(base)
    if kind is not None and not found.accepts(kind) and kind not in _ALSO_ACCEPTED.get(found.type, frozenset()):
        wanted = _OPERATOR_FOR[found.type]
        if found.type is KeyType.IP and base.startswith(("stringnot", "arnnot")):
            wanted = "NotIpAddress"
        issues.append(
            warning(
                path,
                f"`{key}` is of type {found.type.value}: {operator} compares it as {kind.value}"
                + (", so it never matches as intended; use IpAddress" if found.type is KeyType.IP else ""),
                wanted,
            )
        )
    if found.name.lower() == "kms:viaservice":
        issues.extend(_lint_via_service(values, path))
    return issues


def _split_operator(operator: str) -> tuple[str | None, str]:
    """("ForAllValues" | "ForAnyValue" | None, lower-cased base operator without IfExists)."""
    lowered = operator.lower()
    set_operator: str | None = None
    for prefix in _SET_OPERATORS:
        if lowered.startswith(prefix):
            set_operator = "ForAllValues" if prefix == "forallvalues:" else "ForAnyValue"
            lowered = lowered[len(prefix) :]
            break
    if lowered.endswith("ifexists"):
        lowered = lowered[: -len("ifexists")]
    return set_operator, lowered


def _unknown_key(key: str, path: str) -> list[Issue]:
    catalog = _keys()
    prefix, sep, local = key.partition(":")
    if not sep or prefix.lower() not in catalog.by_prefix:
        return []
    # The same name under another prefix: a global key written as a service key or the reverse
    # (kms:SourceIp for aws:SourceIp, aws:ViaService for kms:ViaService).
    for other in _CROSS_PREFIX_ORDER:
        if other == prefix.lower():
            continue
        moved = lookup_condition_key(f"{other}:{local}")
        if moved is not None:
            return [
                warning(
                    path,
                    f"`{key}` is not a condition key of the `{prefix.lower()}` prefix",
                    _spell(moved, f"{other}:{local}"),
                )
            ]
    names = {_display(k).lower(): _display(k) for k in catalog.by_prefix[prefix.lower()]}
    if prefix.lower() != "aws":
        names.update({_display(k).lower(): _display(k) for k in catalog.by_prefix["aws"]})
    suggestion = _closest(key, names)
    return [warning(path, f"`{key}` is not a known {prefix.lower()} condition key", suggestion)]


def _display(key: ConditionKey) -> str:
    return f"{key.name}<key>" if key.is_family else key.name


def _spell(key: ConditionKey, written: str) -> str:
    """The documented spelling of ``written``: the catalog's case, keeping a family member's suffix."""
    if key.is_family:
        return key.name + written[len(key.name) :]
    return key.name


def _lint_via_service(values: Iterable[str], path: str) -> list[Issue]:
    issues: list[Issue] = []
    for value in values:
        if "${" in value:
            continue  # a policy variable: resolved per request
        if has_wildcard(value):
            # ec2.*.amazonaws.com and similar patterns: only flag what cannot name a service endpoint.
            if value.endswith("*") or "amazonaws.com" in value:
                continue
        elif _VIA_SERVICE.fullmatch(value.lower()):
            continue
        service = value.split(".", 1)[0] or "ec2"
        issues.append(
            warning(
                path,
                f"kms:ViaService value `{value}` is not of the form <service>.<region>.amazonaws.com",
                f"{service}.us-east-1.amazonaws.com",
            )
        )
    return issues
