"""Policy documents (JSON objects, JSON strings, URL-encoded JSON strings) into ``Policy`` values.

Grammar: "IAM JSON policy element reference" and "Grammar of the IAM JSON policy language"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html). Every problem is
collected with the path of its element and reported together; nothing raises but
``PolicyValidationError``, whatever JSON comes in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from kmslaunch.policy import catalog
from kmslaunch.policy.conditions import Condition, parse_condition_block
from kmslaunch.policy.errors import Issue, PolicyValidationError, Severity, error, warning
from kmslaunch.policy.model import Effect, Policy, PolicyType, PrincipalSpec, Statement, ValuePattern
from kmslaunch.policy.variables import parse_template

VERSIONS = ("2012-10-17", "2008-10-17")
_STATEMENT_KEYS = {
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
}
_PRINCIPAL_KEYS = ("AWS", "Service", "Federated", "CanonicalUser")
# Policy types whose statements name a Principal; the others must not
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html).
# An endpoint policy "must contain a Principal element"
# (https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html).
_NEEDS_PRINCIPAL = {PolicyType.RESOURCE, PolicyType.KEY, PolicyType.TRUST, PolicyType.RCP, PolicyType.VPC_ENDPOINT}
_GRANT_ACTIONS = ("kms:creategrant", "kms:listgrants", "kms:revokegrant")


def load_document(raw: object) -> tuple[object, list[Issue]]:
    """Turn a document as given (object, JSON text, URL-encoded JSON text as IAM returns it) into JSON."""
    if isinstance(raw, Mapping):
        return raw, []
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("%7B") or text.startswith("%7b"):
            text = unquote(text)
        try:
            return json.loads(text), []
        except json.JSONDecodeError as exc:
            return None, [error("", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]
        except RecursionError:
            # Python's decoder recurses once per level; AWS caps a policy at 6,144 (identity) or 32 KB (key)
            # characters, and no document AWS accepts nests anywhere near this deep.
            return None, [error("", "arrays or objects nested too deep: expected a policy document")]
        except ValueError:
            # Integers longer than sys.get_int_max_str_digits() (CVE-2020-10735).
            return None, [error("", "a number with too many digits: expected a policy document")]
    return None, [error("", f"expected a policy document (JSON object or string), got {_kind(raw)}")]


def parse_policy(raw: object, policy_type: PolicyType, name: str, *, source: str | None = None) -> Policy:
    """Parse one document. Raises ``PolicyValidationError`` listing every error; warnings ride on the Policy."""
    doc, issues = load_document(raw)
    policy = None
    if not issues:
        policy, issues = _parse(doc, policy_type, name)
    if any(i.severity is Severity.ERROR for i in issues) or policy is None:
        raise PolicyValidationError(source or name, issues)
    return policy


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _strings(value: object, path: str, issues: list[Issue], what: str) -> tuple[str, ...]:
    """A string or a non-empty list of strings, as IAM accepts for Action, Resource and principals."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        if not value:
            issues.append(error(path, f"expected {what}, got an empty list"))
        out = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append(item)
            else:
                issues.append(error(f"{path}[{i}]", f"expected a string, got {_kind(item)}"))
        return tuple(out)
    issues.append(error(path, f"expected {what} (a string or a list of strings), got {_kind(value)}"))
    return ()


def _parse(doc: object, policy_type: PolicyType, name: str) -> tuple[Policy | None, list[Issue]]:
    issues: list[Issue] = []
    if not isinstance(doc, Mapping):
        return None, [error("", f"expected a JSON object, got {_kind(doc)}")]
    for key in doc:
        if key not in ("Version", "Id", "Statement"):
            issues.append(error(str(key), "unknown top-level element (expected Version, Id, Statement)"))
    version = doc.get("Version")
    if version is None:
        # Without a Version, IAM treats ${...} as literal text: variables need 2012-10-17.
        issues.append(warning("Version", "missing; policy variables are not substituted", '"2012-10-17"'))
    elif version not in VERSIONS:
        issues.append(error("Version", f"{version!r} is not a policy language version", '"2012-10-17"'))
    pid = doc.get("Id")
    if pid is not None and not isinstance(pid, str):
        issues.append(error("Id", f"expected a string, got {_kind(pid)}"))
        pid = None
    raw_statements = doc.get("Statement")
    if raw_statements is None:
        issues.append(error("Statement", "missing"))
        return None, issues
    if isinstance(raw_statements, Mapping):
        listed: list[Any] = [raw_statements]
    elif isinstance(raw_statements, list):
        listed = raw_statements
    else:
        issues.append(error("Statement", f"expected an object or a list of objects, got {_kind(raw_statements)}"))
        return None, issues
    variables = version == "2012-10-17"
    statements: list[Statement] = []
    sids: set[str] = set()
    for index, raw in enumerate(listed):
        path = f"Statement[{index}]"
        st = _parse_statement(raw, index, path, policy_type, variables, issues)
        if st is None:
            continue
        if st.sid is not None:
            if st.sid in sids and policy_type is not PolicyType.IDENTITY:
                issues.append(error(f"{path}.Sid", f"duplicate Sid {st.sid!r}"))
            sids.add(st.sid)
        statements.append(st)
    warnings = tuple(i for i in issues if i.severity is Severity.WARNING)
    policy = Policy(policy_type, name, version, pid, tuple(statements), warnings)
    return policy, issues


def _parse_statement(
    raw: object, index: int, path: str, policy_type: PolicyType, variables: bool, issues: list[Issue]
) -> Statement | None:
    if not isinstance(raw, Mapping):
        issues.append(error(path, f"expected an object, got {_kind(raw)}"))
        return None
    start = len(issues)
    for key in raw:
        if key not in _STATEMENT_KEYS:
            issues.append(error(f"{path}.{key}", "unknown statement element"))
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        issues.append(error(f"{path}.Sid", f"expected a string, got {_kind(sid)}"))
        sid = None
    effect_raw = raw.get("Effect")
    effect = Effect.ALLOW
    if effect_raw is None:
        issues.append(error(f"{path}.Effect", "missing (expected Allow or Deny)"))
    elif effect_raw in ("Allow", "Deny"):
        effect = Effect(effect_raw)
    else:
        suggestion = None
        if isinstance(effect_raw, str) and effect_raw.lower() in ("allow", "deny"):
            suggestion = effect_raw.capitalize()
        issues.append(error(f"{path}.Effect", f"{effect_raw!r} is not Allow or Deny", suggestion))

    actions, not_action = _pair(raw, "Action", "NotAction", path, issues, required=True)
    for i, action in enumerate(actions):
        apath = f"{path}.{'NotAction' if not_action else 'Action'}"
        if len(actions) > 1:
            apath += f"[{i}]"
        issues.extend(catalog.lint_action(action, apath))

    needs_resource = policy_type is not PolicyType.TRUST
    resources, not_resource = _pair(raw, "Resource", "NotResource", path, issues, required=needs_resource)
    patterns = tuple(ValuePattern(r, parse_template(r) if variables else None) for r in resources)

    principal, not_principal = _parse_principal(raw, path, policy_type, issues)

    conditions: tuple[Condition, ...] = ()
    if "Condition" in raw:
        cpath = f"{path}.Condition"
        conditions, cond_issues = parse_condition_block(raw["Condition"], cpath, variables=variables)
        issues.extend(cond_issues)
        for c in conditions:
            issues.extend(catalog.lint_condition(c.operator, c.key, c.values, c.path))
        _lint_statement_conditions(actions, not_action, conditions, issues)
    if any(i.severity is Severity.ERROR for i in issues[start:]):
        return None
    return Statement(
        index=index,
        sid=sid,
        effect=effect,
        actions=actions,
        not_action=not_action,
        resources=patterns,
        not_resource=not_resource,
        has_resource=bool(resources) or not_resource,
        principal=principal,
        not_principal=not_principal,
        conditions=conditions,
    )


def _pair(
    raw: Mapping[str, Any], name: str, not_name: str, path: str, issues: list[Issue], *, required: bool
) -> tuple[tuple[str, ...], bool]:
    has, has_not = name in raw, not_name in raw
    if has and has_not:
        issues.append(error(f"{path}", f"has both {name} and {not_name}; a statement takes one"))
        return (), False
    if has:
        return _strings(raw[name], f"{path}.{name}", issues, f"{name.lower()} names"), False
    if has_not:
        return _strings(raw[not_name], f"{path}.{not_name}", issues, f"{name.lower()} names"), True
    if required:
        issues.append(error(path, f"missing {name} (or {not_name})"))
    return (), False


def _parse_principal(
    raw: Mapping[str, Any], path: str, policy_type: PolicyType, issues: list[Issue]
) -> tuple[PrincipalSpec | None, bool]:
    has, has_not = "Principal" in raw, "NotPrincipal" in raw
    if not has and not has_not:
        if policy_type in _NEEDS_PRINCIPAL:
            issues.append(error(path, f"missing Principal: a {policy_type.value} statement names who it applies to"))
        return None, False
    if has and has_not:
        issues.append(error(path, "has both Principal and NotPrincipal; a statement takes one"))
        return None, False
    element = "Principal" if has else "NotPrincipal"
    epath = f"{path}.{element}"
    if policy_type not in _NEEDS_PRINCIPAL:
        issues.append(error(epath, f"a {policy_type.value} cannot have a {element} element"))
        return None, False
    value = raw[element]
    if value == "*":
        spec = PrincipalSpec(wildcard=True)
    elif isinstance(value, Mapping):
        found: dict[str, tuple[str, ...]] = {}
        for key, entries in value.items():
            if key not in _PRINCIPAL_KEYS:
                suggestion = next((k for k in _PRINCIPAL_KEYS if k.lower() == str(key).lower()), None)
                issues.append(
                    error(
                        f"{epath}.{key}",
                        "unknown principal type (expected AWS, Service, Federated, CanonicalUser)",
                        suggestion,
                    )
                )
                continue
            found[key] = _strings(entries, f"{epath}.{key}", issues, "principals")
        aws = found.get("AWS", ())
        for i, entry in enumerate(aws):
            if entry != "*" and ("*" in entry or "?" in entry):
                issues.append(
                    warning(
                        f"{epath}.AWS[{i}]" if len(aws) > 1 else f"{epath}.AWS",
                        f"{entry!r}: wildcards are not matched in Principal (only a lone * is); "
                        "use a condition on aws:PrincipalArn with ArnLike",
                    )
                )
            if entry.endswith(".amazonaws.com"):
                issues.append(
                    warning(
                        f"{epath}.AWS", f"{entry!r} is a service principal, listed under AWS", f'"Service": "{entry}"'
                    )
                )
        spec = PrincipalSpec(
            wildcard="*" in aws,
            aws=tuple(a for a in aws if a != "*"),
            service=found.get("Service", ()),
            federated=found.get("Federated", ()),
            canonical=found.get("CanonicalUser", ()),
        )
    else:
        issues.append(error(epath, f'expected "*" or an object such as {{"AWS": [...]}}, got {_kind(value)}'))
        return None, False
    if policy_type is PolicyType.RCP and not spec.wildcard:
        issues.append(error(epath, 'an RCP statement must have "Principal": "*"'))
    return spec, has_not


def _lint_statement_conditions(
    actions: tuple[str, ...], not_action: bool, conditions: tuple[Condition, ...], issues: list[Issue]
) -> None:
    """kms:GrantIsForAWSResource exists only on CreateGrant, ListGrants and RevokeGrant requests; on a
    statement that also allows other actions it makes those actions unusable
    (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grant-is-for-aws-resource).
    """
    if not_action:
        return
    for c in conditions:
        if c.key_lower != "kms:grantisforawsresource" or c.operator.startswith("Null"):
            continue
        others = [a for a in actions if a.lower() not in _GRANT_ACTIONS and a.lower() != "kms:*"]
        if others:
            issues.append(
                warning(
                    c.path,
                    f"kms:GrantIsForAWSResource is only in CreateGrant, ListGrants and RevokeGrant requests; "
                    f"{', '.join(others)} never carry it, so this statement never allows them",
                )
            )
