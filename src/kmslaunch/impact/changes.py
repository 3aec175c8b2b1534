"""The changes ``impact`` simulates, as values, and reading them from the command line's CHANGE options.

A change names what it changes by resolved identifiers (key ARNs, policy ARNs, organization ids) and carries
its new document parsed with the same parser as every other document (``policy/parse.py``), so that a caller
other than the command line (a pre-flight reading a Terraform plan) builds the same values. ``Origin`` says
where a change was read from: the file of its document (where SARIF points) and how the user wrote it.

Command-line syntax (``--key-policy KEY=FILE`` and the rest) is documented on each ``parse_*`` function and in
``kmslaunch impact --help``. Every name is checked against the snapshot: an unknown key, ARN, target or grant
is an ``InputError`` naming it, with the closest names the snapshot holds.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kmslaunch.launch.errors import Ec2Error, NotInWorld
from kmslaunch.launch.plan import resolve_key
from kmslaunch.policy.errors import InputError
from kmslaunch.policy.model import PolicyType
from kmslaunch.world.documents import Document
from kmslaunch.world.kms import Key, KeyManager
from kmslaunch.world.organizations import RCP, SCP
from kmslaunch.world.world import World


@dataclass(frozen=True)
class Origin:
    """Where a change comes from: ``flag`` as the user wrote it (``--key-policy alias/app=deny.json``), ``file``
    the document's file when it has one (relative to the working directory, as given), ``line`` the 1-based line
    of the change in ``file`` when a reader knows it (a plan's resource)."""

    flag: str
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class KeyPolicyChange:
    """PutKeyPolicy: ``key_arn``'s policy becomes ``document``."""

    key_arn: str
    document: Document
    origin: Origin

    @property
    def kind(self) -> str:
        return "key-policy"


@dataclass(frozen=True)
class IdentityPolicyChange:
    """A managed policy's new default version (``policy_arn``), or an inline policy ``policy_name`` of the user,
    role or group ``holder_arn`` put (replaced, or added when it has none of that name)."""

    account: str
    document: Document
    origin: Origin
    policy_arn: str | None = None
    holder_arn: str | None = None
    policy_name: str | None = None

    @property
    def kind(self) -> str:
        return "identity-policy"


@dataclass(frozen=True)
class OrgPolicyChange:
    """An SCP or RCP (``policy_type``: world.organizations.SCP or RCP): a new policy ``document`` attached to
    ``target`` (root, OU or account id), or, with ``policy_id``, an existing policy's content replaced."""

    policy_type: str
    document: Document
    origin: Origin
    target: str | None = None
    policy_id: str | None = None
    name: str = ""

    @property
    def kind(self) -> str:
        return "scp" if self.policy_type == SCP else "rcp"


@dataclass(frozen=True)
class RevokeGrant:
    """RevokeGrant: grant ``grant_id`` of ``key_arn`` no longer allows anything."""

    key_arn: str
    grant_id: str
    origin: Origin

    @property
    def kind(self) -> str:
        return "revoke-grant"


@dataclass(frozen=True)
class DefaultKeyChange:
    """ModifyEbsDefaultKmsKeyId in ``account`` and ``region``: new volumes that name no key use ``key_arn``."""

    account: str
    region: str
    key_arn: str
    origin: Origin

    @property
    def kind(self) -> str:
        return "default-key"


@dataclass(frozen=True)
class DisableKey:
    """DisableKey: ``key_arn`` becomes Disabled."""

    key_arn: str
    origin: Origin

    @property
    def kind(self) -> str:
        return "disable-key"


Change = KeyPolicyChange | IdentityPolicyChange | OrgPolicyChange | RevokeGrant | DefaultKeyChange | DisableKey

# How a CHANGE option's file is found from what the user typed (the CLI maps README's examples/... paths).
Locate = Callable[[str], Path]


def _close(word: str, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(set(names)), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def _split(spec: str, flag: str, sep: str, expected: str, locate: Locate | None = None) -> tuple[str, str]:
    """``spec`` cut at ``sep``. IAM names may hold ``=`` (``[\\w+=,.@-]``), so for NAME=FILE the cut is the last
    ``=`` after which an existing file is named, else the last ``=``."""
    if sep not in spec:
        raise InputError(flag, spec, f"expected {expected}")
    cuts = [i for i, ch in enumerate(spec) if ch == sep]
    if locate is not None:
        for i in reversed(cuts):
            if locate(spec[i + 1 :]).is_file():
                return spec[:i], spec[i + 1 :]
    left, right = spec[: cuts[-1]], spec[cuts[-1] + 1 :]
    if not left or not right:
        raise InputError(flag, spec, f"expected {expected}")
    return left, right


def read_document(locate: Locate, file: str, policy_type: PolicyType, name: str) -> Document:
    """The policy document in ``file``, parsed as ``policy_type``: a file that cannot be read, is not JSON or is
    not a valid policy raises an error naming the file, the element and what was expected."""
    path = locate(file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(file, "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(file, "", "not UTF-8 text") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(file, "", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return Document.parse(raw, policy_type, name, source=file)


def _keys(world: World) -> list[Key]:
    return [k for a in world.accounts.values() for r in a.regions.values() for k in r.kms.keys.values()]


def resolve_any_key(world: World, ref: str, flag: str) -> Key:
    """The key ``ref`` names (key id, key ARN, alias name or alias ARN, as KMS's KeyId takes them) anywhere in
    the snapshot; an id or alias that several accounts or regions hold must be given as an ARN."""
    if ref.startswith("arn:"):
        found = world.key_by_arn(ref)
        if found is not None:
            return found
    else:
        hits = [k for a in world.accounts.values() for r in a.regions.values() if (k := r.kms.resolve(ref))]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            arns = ", ".join(sorted(k.arn for k in hits))
            raise InputError(flag, ref, f"names several keys of the snapshot ({arns}): give the key ARN")
    names = [n for k in _keys(world) for n in (k.arn, k.key_id)]
    names += [a for acct in world.accounts.values() for r in acct.regions.values() for a in r.kms.aliases]
    raise InputError(
        flag, ref, "no such key in the snapshot (a key id, key ARN, alias or alias ARN)" + _close(ref, names)
    )


def _customer(key: Key, flag: str, ref: str) -> Key:
    """AWS manages the policy and state of its keys: PutKeyPolicy, DisableKey and RevokeGrant are refused on
    them (https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-key)."""
    if key.manager is KeyManager.AWS:
        raise InputError(flag, ref, f"{key.arn} is an AWS managed key: its policy, grants and state cannot be changed")
    return key


def parse_key_policy(world: World, spec: str, locate: Locate) -> KeyPolicyChange:
    """``--key-policy KEY=FILE``: FILE is the key's whole new policy (what put-key-policy takes)."""
    flag = "--key-policy"
    ref, file = _split(spec, flag, "=", "KEY=FILE (a key id, ARN or alias, and a key policy file)", locate)
    key = _customer(resolve_any_key(world, ref, flag), flag, ref)
    doc = read_document(locate, file, PolicyType.KEY, key.arn)
    return KeyPolicyChange(key.arn, doc, Origin(f"{flag} {spec}", file))


def parse_identity_policy(world: World, spec: str, locate: Locate) -> IdentityPolicyChange:
    """``--identity-policy ARN=FILE``: ARN a customer managed policy (FILE becomes its default version), or
    ``USER_ROLE_OR_GROUP_ARN#POLICY_NAME`` an inline policy of that user, role or group (FILE replaces it, or is
    added under that name: put-user-policy, put-role-policy, put-group-policy)."""
    flag = "--identity-policy"
    target, file = _split(spec, flag, "=", "ARN=FILE (a managed policy ARN, or USER_OR_ROLE_ARN#POLICY_NAME)", locate)
    origin = Origin(f"{flag} {spec}", file)
    holder, hash_, name = target.partition("#")
    if ":iam::aws:policy/" in holder:
        raise InputError(flag, target, "an AWS managed policy cannot be changed; attach a customer managed policy")
    account = holder.split(":")[4] if holder.count(":") >= 5 else ""
    acct = world.accounts.get(account)
    if acct is None:
        raise InputError(
            flag, target, f"account {account or '?'} is not in the snapshot" + _close(account, world.accounts)
        )
    iam = acct.iam
    if not hash_:
        mp = iam.policies.get(holder)
        if mp is None:
            kind = holder.split(":")[5].split("/", 1)[0] if holder.count(":") >= 5 else ""
            hint = " (for an inline policy, write ARN#POLICY_NAME)" if kind in ("user", "role", "group") else ""
            raise InputError(
                flag, target, f"no managed policy with this ARN in the snapshot{hint}" + _close(holder, iam.policies)
            )
        if mp.aws_managed:
            raise InputError(flag, target, "an AWS managed policy cannot be changed; attach a customer managed policy")
        doc = read_document(locate, file, PolicyType.IDENTITY, mp.name)
        return IdentityPolicyChange(account, doc, origin, policy_arn=mp.arn)
    if not name:
        raise InputError(flag, target, "expected USER_OR_ROLE_ARN#POLICY_NAME: the inline policy's name is missing")
    holders = {u.arn: u for u in iam.users.values()} | {g.arn: g for g in iam.groups.values()}
    roles = {r.arn: r for r in iam.roles.values()}
    if holder in roles and roles[holder].service_linked:
        raise InputError(flag, target, "a service-linked role's policies belong to its service and cannot be changed")
    if holder not in holders and holder not in roles:
        raise InputError(
            flag,
            holder,
            "no IAM user, role or group with this ARN in the snapshot" + _close(holder, [*holders, *roles]),
        )
    doc = read_document(locate, file, PolicyType.IDENTITY, name)
    return IdentityPolicyChange(account, doc, origin, holder_arn=holder, policy_name=name)


def parse_org_policy(world: World, spec: str, policy_type: str, locate: Locate) -> OrgPolicyChange:
    """``--scp TARGET=FILE`` / ``--rcp TARGET=FILE``: TARGET ``root``, a root id (``r-…``), an OU id (``ou-…``) or
    an account id, and FILE a new policy attached there; or TARGET an existing policy's id (``p-…``), whose
    content FILE replaces wherever it is attached (update-policy)."""
    flag = "--scp" if policy_type == SCP else "--rcp"
    what = "SCP" if policy_type == SCP else "RCP"
    target, file = _split(spec, flag, "=", "TARGET=FILE (root, r-…, ou-…, an account id, or a policy id p-…)", locate)
    origin = Origin(f"{flag} {spec}", file)
    org = world.organization
    ptype = PolicyType.SCP if policy_type == SCP else PolicyType.RCP
    if org.org_id is None and not org.policies and not org.parents:
        raise InputError(flag, target, "the snapshot holds no organization (collect organizations/ first)")
    if target.startswith("p-"):
        pol = org.policies.get(target)
        if pol is None or pol.type != policy_type:
            ids = [p.policy_id for p in org.policies.values() if p.type == policy_type]
            raise InputError(flag, target, f"no {what} with this id in the snapshot" + _close(target, ids))
        if pol.aws_managed:
            raise InputError(
                flag, target, f"{pol.name} is an AWS managed policy and cannot be changed; attach a new {what}"
            )
        doc = read_document(locate, file, ptype, pol.name)
        return OrgPolicyChange(policy_type, doc, origin, policy_id=pol.policy_id, name=pol.name)
    if target == "root":
        if org.root_id is None:
            raise InputError(flag, target, "the snapshot does not say the organization's root id (list-roots)")
        target = org.root_id
    known = {*org.parents, *org.parents.values(), *org.attachments}
    if org.root_id:
        known.add(org.root_id)
    if target not in known:
        raise InputError(
            flag, target, "no root, OU or account with this id in the organization" + _close(target, known)
        )
    enabled = any(p.type == policy_type for p in org.policies.values()) or any(k == policy_type for k, _ in org.listed)
    if enabled and not org.listing_known(policy_type, target):
        # The target's other policies are not known: with an Allow among them or not, one more changes what?
        raise InputError(
            flag,
            target,
            f"the snapshot does not list the {what}s attached to {target} "
            f"(organizations/list-policies-for-target/{policy_type}/{target}.json): what one more does is unknown",
        )
    name = Path(file).stem or "new-policy"
    taken = {p.name for p in org.policies.values()}
    while name in taken:
        name += "-new"
    doc = read_document(locate, file, ptype, name)
    return OrgPolicyChange(policy_type, doc, origin, target=target, name=name)


def parse_revoke_grant(world: World, spec: str) -> RevokeGrant:
    """``--revoke-grant KEY:GRANT_ID`` (KEY may be an ARN: the grant id follows the last colon)."""
    flag = "--revoke-grant"
    ref, grant_id = _split(spec, flag, ":", "KEY:GRANT_ID (a key id, ARN or alias, and one of its grants' id)")
    key = _customer(resolve_any_key(world, ref, flag), flag, ref)
    if not key.grants_known:
        raise InputError(flag, spec, f"the snapshot does not list the grants of {key.arn} (kms/list-grants)")
    ids = [g.grant_id for g in key.grants]
    if grant_id not in ids:
        hint = _close(grant_id, ids) if ids else "; it has no grants in the snapshot"
        raise InputError(flag, grant_id, f"{key.arn} has no grant with this id" + hint)
    return RevokeGrant(key.arn, grant_id, Origin(f"{flag} {spec}"))


def parse_default_key(world: World, spec: str) -> DefaultKeyChange:
    """``--default-key [ACCOUNT:]REGION=KEY``: without ACCOUNT, the one account of the snapshot that has REGION
    (several: name it). KEY is resolved from that account and region, as ModifyEbsDefaultKmsKeyId resolves it."""
    flag = "--default-key"
    where, ref = _split(spec, flag, "=", "[ACCOUNT:]REGION=KEY")
    account, _, region = where.rpartition(":")
    regions = sorted({r for a in world.accounts.values() for r in a.regions})
    if not account:
        holding = sorted(a for a, acct in world.accounts.items() if region in acct.regions)
        if not holding:
            raise InputError(flag, region, "no account of the snapshot has this region" + _close(region, regions))
        if len(holding) > 1:
            raise InputError(
                flag, where, f"several accounts have {region} ({', '.join(holding)}): write ACCOUNT:{region}=KEY"
            )
        account = holding[0]
    acct = world.accounts.get(account)
    if acct is None:
        raise InputError(flag, account, "no such account in the snapshot" + _close(account, world.accounts))
    if region not in acct.regions:
        raise InputError(
            flag, region, f"account {account} has no such region in the snapshot" + _close(region, regions)
        )
    try:
        key = resolve_key(world, account, region, ref)
    except (Ec2Error, NotInWorld) as exc:
        names = [k.arn for k in _keys(world)] + list(acct.regions[region].kms.aliases)
        message = exc.message if isinstance(exc, Ec2Error) else str(exc)
        raise InputError(flag, ref, message + _close(ref, names)) from None
    if key.key_spec != "SYMMETRIC_DEFAULT" or key.key_usage != "ENCRYPT_DECRYPT":
        # https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption.html: EBS supports symmetric keys only.
        raise InputError(flag, ref, f"{key.arn} is not a symmetric encryption key, which EBS requires")
    return DefaultKeyChange(account, region, key.arn, Origin(f"{flag} {spec}"))


def parse_disable_key(world: World, spec: str) -> DisableKey:
    """``--disable-key KEY``."""
    key = _customer(resolve_any_key(world, spec, "--disable-key"), "--disable-key", spec)
    return DisableKey(key.arn, Origin(f"--disable-key {spec}"))


def parse_changes(
    world: World,
    *,
    key_policy: Iterable[str] = (),
    identity_policy: Iterable[str] = (),
    scp: Iterable[str] = (),
    rcp: Iterable[str] = (),
    revoke_grant: Iterable[str] = (),
    default_key: Iterable[str] = (),
    disable_key: Iterable[str] = (),
    locate: Locate = Path,
) -> tuple[Change, ...]:
    """Every CHANGE option, in the order of the kinds above; the first bad one raises (KmslaunchError)."""
    out: list[Change] = []
    out += [parse_key_policy(world, s, locate) for s in key_policy]
    out += [parse_identity_policy(world, s, locate) for s in identity_policy]
    out += [parse_org_policy(world, s, SCP, locate) for s in scp]
    out += [parse_org_policy(world, s, RCP, locate) for s in rcp]
    out += [parse_revoke_grant(world, s) for s in revoke_grant]
    out += [parse_default_key(world, s) for s in default_key]
    out += [parse_disable_key(world, s) for s in disable_key]
    return tuple(out)


def describe(change: Change) -> str:
    """One line naming the change, for reports."""
    if isinstance(change, KeyPolicyChange):
        return f"key policy of {change.key_arn} replaced by {change.origin.file}"
    if isinstance(change, IdentityPolicyChange):
        if change.policy_arn:
            return f"new default version of {change.policy_arn} from {change.origin.file}"
        return f"inline policy {change.policy_name} of {change.holder_arn} put from {change.origin.file}"
    if isinstance(change, OrgPolicyChange):
        what = change.kind.upper()
        if change.policy_id:
            return f"{what} {change.policy_id} ({change.name}) content replaced by {change.origin.file}"
        return f"new {what} {change.name} from {change.origin.file} attached to {change.target}"
    if isinstance(change, RevokeGrant):
        return f"grant {change.grant_id} of {change.key_arn} revoked"
    if isinstance(change, DefaultKeyChange):
        return f"default EBS key of account {change.account} in {change.region} set to {change.key_arn}"
    return f"{change.key_arn} disabled"
