"""bench_authorize's policies and request in Cedar, for a like-for-like figure from cedarpy (optional).

Each IAM statement becomes one Cedar ``permit`` or ``forbid`` whose ``when`` clause tests what the statement
tests: the action and resource (``like``, case-folded for actions as IAM folds them), the principal for key
policy statements, and each condition, on context attributes that carry the request's values. This is the
shape a team porting these policies to Cedar would write; it is a translation of these 20 statements, not of
IAM (no delegation, no SCP levels): Cedar decides permit/forbid over one flat set, which is less work than
kmslaunch's evaluation, so the comparison flatters cedarpy, if anything. Cedar's result also names the
policies that decided (``diagnostics.reasons``), as kmslaunch's explained path names its statements.

Only the operators the bench uses are translated; anything else raises, so that the translation cannot drift
silently from the bench's documents.
"""

from __future__ import annotations

import re
from typing import Any


def _attr(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "_", key.lower())


def _lit(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _any(items: list[str]) -> str:
    return "(" + " || ".join(items) + ")" if items else "false"


def _values(raw: object) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    return [("true" if v else "false") if isinstance(v, bool) else str(v) for v in items]


def _condition(op: str, key: str, raw: object) -> str:
    a = "context." + _attr(key)
    has = f"context has {_attr(key)}"
    vals = _values(raw)
    base, if_exists = (op[: -len("IfExists")], True) if op.endswith("IfExists") else (op, False)
    if base == "StringEquals":
        parts = []
        for v in vals:
            m = re.fullmatch(r"\$\{([^}]+)\}", v)
            parts.append(f"{a} == context.{_attr(m.group(1))}" if m else f"{a} == {_lit(v)}")
        test = f"({has} && {_any(parts)})"
    elif base == "StringNotEquals":
        test = f"!({has} && {_any([f'{a} == {_lit(v)}' for v in vals])})"
    elif base == "StringLike":
        test = f"({has} && {_any([f'{a} like {_lit(v)}' for v in vals])})"
    elif base == "ArnNotLike":
        test = f"!({has} && {_any([f'{a} like {_lit(v)}' for v in vals])})"
    elif base == "Bool":
        test = f"({has} && {_any([f'{a} == {v.lower()}' for v in vals])})"
    elif base == "NotIpAddress":
        test = f"!({has} && {_any([f'ip({a}).isInRange(ip({_lit(v)}))' for v in vals])})"
    else:
        raise ValueError(f"no Cedar translation for {op}")
    return f"(!({has}) || {test})" if if_exists else test


def _statement(st: dict[str, Any], with_principal: bool) -> str:
    effect = "permit" if st["Effect"] == "Allow" else "forbid"
    tests: list[str] = []
    actions = st.get("Action", st.get("NotAction"))
    acts = _any([f"context.action like {_lit(a.lower())}" for a in _values(actions)])
    tests.append(acts if "Action" in st else f"!{acts}")
    tests.append(_any([f"context.resource like {_lit(r)}" for r in _values(st["Resource"])]))
    if with_principal:
        p = st["Principal"]
        named = [] if p == "*" else _values(p["AWS"])
        if named and "*" not in named:
            tests.append(
                _any(
                    [
                        f"context.principal == {_lit(n)} || context.principal_arn == {_lit(n)} "
                        f"|| context.account_root == {_lit(n)}"
                        for n in named
                    ]
                )
            )
    for op, keys in st.get("Condition", {}).items():
        for key, raw in keys.items():
            tests.append(_condition(op, key, raw))
    return f"{effect}(principal, action, resource) when {{ {' && '.join(tests)} }};"


def cedar_policies(key_policy: dict[str, Any], identity: list[dict[str, Any]], scps: list[Any]) -> str:
    """The bench's 20 statements as Cedar policies, one each."""
    out = [_statement(st, True) for st in key_policy["Statement"]]
    for level in [identity, *scps]:
        for pol in level:
            out.extend(_statement(st, False) for st in pol["document"]["Statement"])
    return "\n".join(out)


def cedar_request(request: dict[str, Any]) -> dict[str, Any]:
    """The bench's request for ``cedarpy.is_authorized``: the values in the context, as the policies read them."""
    ctx: dict[str, Any] = {_attr(k): v for k, v in request["context"].items()}
    account = request["principal"].split(":")[4]
    ctx.update(
        action=request["action"].lower(),
        resource=request["resource"],
        principal=request["principal"],
        principal_arn=request["principal_arn"],
        account_root=f"arn:aws:iam::{account}:root",
        aws_principalarn=request["principal_arn"],
        kms_calleraccount=account,
    )
    for k, v in request.get("principal_tags", {}).items():
        ctx[_attr("aws:PrincipalTag/" + k)] = v
    return {
        "principal": 'Principal::"caller"',
        "action": 'Action::"call"',
        "resource": 'Resource::"target"',
        "context": ctx,
    }
