"""Where in a snapshot's files a decision's statement lives: the file, relative to the snapshot directory, and
the line and column of the statement's Sid (or of the policy) in it, for SARIF's ``physicalLocation``.

The files are the AWS CLI's output as the snapshot stores it (``snapshot.jsonio.dumps``: one member a line). A
key policy and an organization policy are JSON strings inside their file (``get-key-policy``'s ``Policy``,
``describe-policy``'s ``Content``), so their Sid is found escaped, on the line of that member.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kmslaunch.launch.result import CallResult, CallVerdict
from kmslaunch.policy.decision import Layer, StatementRef
from kmslaunch.policy.model import PolicyType
from kmslaunch.policy.principals import PrincipalType, parse_principal
from kmslaunch.snapshot import layout as L

# SARIF's name for the snapshot directory: every artifact URI is relative to it (originalUriBaseIds).
BASE_ID = "SNAPSHOT"


@dataclass(frozen=True)
class Place:
    """A file of the snapshot (POSIX path relative to it) and, where it was found, a 1-based line and column
    (columns in Unicode code points: the run says ``columnKind`` ``unicodeCodePoints``)."""

    uri: str
    line: int | None = None
    column: int | None = None

    def to_sarif(self) -> dict[str, Any]:
        loc: dict[str, Any] = {"artifactLocation": {"uri": self.uri, "uriBaseId": BASE_ID}}
        if self.line is not None:
            loc["region"] = {"startLine": self.line, "startColumn": self.column or 1}
        return loc


def original_uri_base_ids(snapshot: str) -> dict[str, Any]:
    """``originalUriBaseIds`` for a run: SNAPSHOT is the snapshot directory, as an absolute ``file:`` URI."""
    uri = Path(snapshot).resolve().as_uri().rstrip("/") + "/"
    return {BASE_ID: {"uri": uri, "description": {"text": "The account snapshot kmslaunch read."}}}


def _enc(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)[1:-1]


def member(name: str, value: str | None = None) -> re.Pattern[str]:
    """A JSON member ``"name": "value"`` (any value when None) as written in the file, or inside a JSON string
    member of it (escaped once more)."""
    plain = rf'"{re.escape(name)}"\s*:\s*' + (rf'"{re.escape(_enc(value))}"' if value is not None else "")
    ws = r"(?:\s|\\[nrt])*"
    inner = rf'\\"{re.escape(name)}\\"{ws}:{ws}' + (
        rf'\\"{re.escape(_enc(_enc(value)))}\\"' if value is not None else ""
    )
    return re.compile(f"{plain}|{inner}")


def _followed(name: str, value: str, then: str) -> re.Pattern[str]:
    """``"name": "value",`` directly followed by the member ``then``: tells a managed policy (PolicyId follows its
    PolicyName) from an inline one (PolicyDocument follows)."""
    return re.compile(rf'"{re.escape(name)}"\s*:\s*"{re.escape(_enc(value))}"\s*,\s*"{re.escape(then)}"')


def _read(root: Path | None, uri: str) -> str | None:
    path = root / uri if root is not None else None
    if path is None or not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None


def _at(uri: str, text: str, offset: int) -> Place:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Place(uri, line, column)


def _walk(text: str, chain: list[re.Pattern[str]]) -> tuple[int, int | None, int]:
    """(how many patterns of ``chain`` matched in order, where the last one starts, where it ends)."""
    pos, depth, at = 0, 0, None
    for pattern in chain:
        m = pattern.search(text, pos)
        if m is None:
            break
        depth, at, pos = depth + 1, m.start(), m.end()
    return depth, at, pos


def locate(root: Path | None, uri: str, *chains: list[re.Pattern[str]]) -> Place:
    """The place in ``root/uri`` of the deepest match of the first chain matched furthest: each pattern of a
    chain is searched after the previous one's match. Without the file (a world built in memory), the file
    alone."""
    text = _read(root, uri)
    if text is None:
        return Place(uri)
    best: tuple[int, int] | None = None  # (depth, offset)
    for chain in chains:
        depth, at, _ = _walk(text, chain)
        if at is not None and (best is None or depth > best[0]):
            best = (depth, at)
    return Place(uri) if best is None else _at(uri, text, best[1])


def locate_statement(root: Path | None, uri: str, index: int, *chains: list[re.Pattern[str]]) -> Place:
    """Statement ``index`` of the policy the first fully matching chain finds: its Sid when it has one before its
    Effect, else its Effect (every statement has one Effect, in order); the policy when there are fewer."""
    text = _read(root, uri)
    if text is None:
        return Place(uri)
    for chain in chains:
        depth, at, pos = _walk(text, chain)
        if at is None or depth < len(chain):
            continue
        effect, effects, cursor = member("Effect"), [], pos
        for _ in range(index + 1):
            m = effect.search(text, cursor)
            if m is None:
                return _at(uri, text, at)
            effects.append(m)
            cursor = m.end()
        found = effects[-1]
        start = effects[-2].end() if len(effects) > 1 else pos
        sids = list(member("Sid").finditer(text, start, found.start()))
        return _at(uri, text, sids[-1].start() if sids else found.start())
    return locate(root, uri, *chains)


def _key_parts(key_arn: str) -> tuple[str, str, str] | None:
    """(account, region, key id) of a key ARN."""
    parts = key_arn.split(":", 5)
    if len(parts) < 6 or not parts[5].startswith("key/"):
        return None
    return parts[4], parts[3], parts[5].removeprefix("key/")


def key_file(key_arn: str, name: str) -> str:
    """``<account>/<region>/kms/keys/<key-id>/<name>``, or the IAM details of the account when ``key_arn`` is not a
    key ARN (an alias)."""
    parts = _key_parts(key_arn)
    if parts is None:
        account = key_arn.split(":")[4] if key_arn.count(":") >= 5 else ""
        return f"{account}/{L.IAM_DETAILS}" if account else L.META
    account, region, key_id = parts
    return f"{account}/{region}/{L.KMS_KEYS}/{key_id}/{name}"


def _nth_statement(index: int) -> list[re.Pattern[str]]:
    """Statement ``index`` of the policy matched before: every statement has one Effect, in order."""
    return [member("Effect")] * (index + 1)


def _sid(ref: StatementRef) -> list[re.Pattern[str]]:
    """The statement's Sid, or for one without a Sid its Effect."""
    if ref.statement.startswith("Statement["):
        return _nth_statement(ref.index)
    return [member("Sid", ref.statement)]


def place_of_statement(
    account: str, region: str | None, resource: str, policy: str, index: int | None, root: Path | None
) -> Place:
    """Statement ``index`` of a policy named as the lint names it: a key's policy (``resource`` a key ARN), a
    managed policy (``resource`` its ARN) or a principal's inline policy ``policy`` (``resource`` the principal)."""
    if _key_parts(resource) is not None:
        chains = [[member("Policy")]]
        uri = key_file(resource, L.KEY_POLICY)
    else:
        uri = f"{account}/{L.IAM_DETAILS}"
        if ":policy/" in resource:
            chains = [[member("Arn", resource)], [_followed("PolicyName", policy, "PolicyId")]]
        else:
            chains = [[member("Arn", resource), _followed("PolicyName", policy, "PolicyDocument")]]
    if index is None:
        return locate(root, uri, *chains)
    return locate_statement(root, uri, index, *chains)


def _org_policy_file(root: Path | None, name: str) -> str:
    """The describe-policy file of the organization policy reported as ``name`` (its name, else its id)."""
    folder = root / L.ORG_POLICY if root is not None else None
    if folder is not None and folder.is_dir():
        for f in sorted(folder.glob("*.json")):
            if f.stem == name:
                return f"{L.ORG_POLICY}/{f.name}"
            try:
                summary = json.loads(f.read_text(encoding="utf-8-sig"))["Policy"]["PolicySummary"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if summary.get("Name") == name:
                return f"{L.ORG_POLICY}/{f.name}"
    return f"{L.ORG_POLICY}/{name}.json"


def place_of_ref(ref: StatementRef, principal: str, account: str, key_arn: str, root: Path | None) -> Place:
    """The file and line of one statement a decision names: a key policy's, an IAM policy's (inline of the
    caller, or managed), an organization policy's, a grant."""
    layer = ref.layer
    if layer in (PolicyType.KEY, PolicyType.RESOURCE):
        return locate(
            root,
            key_file(ref.policy if ref.policy.startswith("arn:") else key_arn, L.KEY_POLICY),
            [member("Policy"), *_sid(ref)],
        )
    if layer == "grant":
        return locate(root, key_file(key_arn, L.LIST_GRANTS), [member("GrantId", ref.statement)])
    if layer in (PolicyType.SCP, PolicyType.RCP):
        return locate(root, _org_policy_file(root, ref.policy), [member("Content"), *_sid(ref)])
    if layer is PolicyType.VPC_ENDPOINT:
        region = key_arn.split(":")[3] if key_arn.count(":") >= 5 else ""
        return locate(root, f"{account}/{region}/{L.EC2_VPC_ENDPOINTS}", [member("PolicyDocument"), *_sid(ref)])
    # Identity policies, boundaries and anything else IAM holds.
    uri = f"{account}/{L.IAM_DETAILS}"
    sid = _sid(ref)
    entries = [[*entry, _followed("PolicyName", ref.policy, "PolicyDocument"), *sid] for entry in _entry(principal)]
    return locate(
        root,
        uri,
        *entries,
        [_followed("PolicyName", ref.policy, "PolicyId"), *sid],
        [_followed("PolicyName", ref.policy, "PolicyDocument"), *sid],
    )


def _entry(arn: str) -> list[list[re.Pattern[str]]]:
    """The IAM details entry of a user or role, by its ARN or, for a role session, by the role's name (the
    session's ARN does not show the role's path)."""
    chains = [[member("Arn", arn)]]
    who = parse_principal(arn)
    if who.type is PrincipalType.ASSUMED_ROLE and who.name:
        chains.append([member("RoleName", who.name)])
    return chains


def _layer_value(ref: StatementRef) -> str:
    return ref.layer.value if isinstance(ref.layer, PolicyType) else ref.layer


def place_of_call(c: CallResult, root: Path | None, *, principal: str | None = None) -> Place:
    """Where the refusal of ``c`` is written: the deciding statement (an explicit deny), the policy where no
    statement allows (an implicit deny: the caller's IAM entry, the key policy, the boundary), or the key's
    description (a key in the wrong state). ``principal`` stands for the caller (a group member that shares the
    simulated principal's policies)."""
    p = c.call.principal
    who = principal or p.principal_arn
    account = (principal.split(":")[4] if principal and principal.count(":") >= 5 else None) or p.account or ""
    if c.verdict is CallVerdict.KEY_STATE:
        return locate(root, key_file(c.resource, L.DESCRIBE_KEY), [member("KeyState")])
    d = c.authorized.decision
    if d.decided_by and not d.allowed and c.verdict is CallVerdict.EXPLICIT_DENY:
        return place_of_ref(d.decided_by[0], who, account, c.resource, root)
    first = d.denied_by[0] if d.denied_by else None
    if first is Layer.KEY_POLICY:
        return locate(root, key_file(c.resource, L.KEY_POLICY), [member("Policy")])
    if first is Layer.PERMISSIONS_BOUNDARY and c.authorized.policies.boundary is not None:
        name = c.authorized.policies.boundary.name
        return locate(root, f"{account}/{L.IAM_DETAILS}", [_followed("PolicyName", name, "PolicyId")])
    if first in (Layer.SCP, Layer.RCP):
        near = next((n.statement for n in d.near_misses if _layer_value(n.statement) == first.value), None)
        if near is not None:
            return place_of_ref(near, who, account, c.resource, root)
        kind = "SERVICE_CONTROL_POLICY" if first is Layer.SCP else "RESOURCE_CONTROL_POLICY"
        return Place(f"{L.ORG_TARGET_POLICIES}/{kind}/{account}.json")
    if first is Layer.VPC_ENDPOINT_POLICY:
        region = c.resource.split(":")[3] if c.resource.count(":") >= 5 else ""
        return locate(root, f"{account}/{region}/{L.EC2_VPC_ENDPOINTS}", [member("PolicyDocument")])
    if p.is_service_linked_role:
        # A service-linked role's IAM policies cannot be changed: what refuses it is the key policy that only lets
        # IAM decide (its delegating statement), or the key's account's lack of a grant.
        delegating = next((r for r in d.partial if r.layer is PolicyType.KEY), None)
        if delegating is not None:
            return place_of_ref(delegating, who, account, c.resource, root)
        return locate(root, key_file(c.resource, L.KEY_POLICY), [member("Policy")])
    # The caller's IAM policies (or its session's, which the snapshot holds only through the role): its entry.
    return locate(root, f"{account}/{L.IAM_DETAILS}", *_entry(who))
