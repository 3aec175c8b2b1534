"""KMS: keys, policies, aliases, grants and the cryptographic operations, each authorized with the key policy,
grants and the caller's IAM policies, and refused by key state as KMS does
(https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html)."""

from __future__ import annotations

import json
import os
import secrets
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kmslaunch.launch.execute import key_state_error
from kmslaunch.policy.errors import PolicyValidationError
from kmslaunch.policy.grants import GRANT_OPERATIONS, Grant
from kmslaunch.policy.principals import PrincipalType
from kmslaunch.world.clock import iso
from kmslaunch.world.kms import Key, KeyState, default_key_policy, key_document

from .base import ApiError, Ctx, Handler, required

_DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}


def _kms(ctx: Ctx) -> Any:
    return ctx.world.account(ctx.account).region(ctx.region).kms


def resolve(ctx: Ctx, ref: str) -> Key:
    """A KeyId parameter as KMS resolves it: key id or alias in the caller's account and region; key or alias
    ARN in any account (https://docs.aws.amazon.com/kms/latest/developerguide/find-cmk-id-arn.html)."""
    key = ctx.world.key_by_arn(ref) if ref.startswith("arn:") else _kms(ctx).resolve(ref)
    if key is None:
        if "alias/" in ref:
            arn = ref if ref.startswith("arn:") else f"arn:aws:kms:{ctx.region}:{ctx.account}:{ref}"
            raise ApiError("NotFoundException", f"Alias {arn} is not found.")
        arn = ref if ref.startswith("arn:") else f"arn:aws:kms:{ctx.region}:{ctx.account}:key/{ref}"
        raise ApiError("NotFoundException", f"Key '{arn}' does not exist")
    return key


def _usable(key: Key, action: str) -> None:
    err = key_state_error(key, action)
    if err:
        code, message = err
        raise ApiError(code, message)


def _authorize_key(
    ctx: Ctx, action: str, key: Key, encryption_context: dict[str, str] | None = None, **extra: Any
) -> None:
    context = {k.lower(): v for k, v in extra.items()}
    ctx.authorize(action, key.arn, key=key, context=context, encryption_context=encryption_context)


def _parse_policy(text: str, key_arn: str) -> Any:
    try:
        return key_document(text, key_arn)
    except PolicyValidationError as exc:
        raise ApiError("MalformedPolicyDocumentException", "; ".join(i.render() for i in exc.issues)) from exc


# "The new key policy will not allow you to update the key policy in the future": the message KMS answers the
# lockout safety check with (https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html, Errors).
_LOCKOUT = "The new key policy will not allow you to update the key policy in the future."


def _lockout_check(ctx: Ctx, key: Key, params: dict[str, Any]) -> None:
    """The policy lockout safety check of CreateKey and PutKeyPolicy: unless BypassPolicyLockoutSafetyCheck is
    true, the new policy must allow the caller to call PutKeyPolicy on the key afterwards, else the key could become
    unmanageable (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#prevent-unmanageable-key).
    ``key`` carries the new policy; it is decided with the caller's IAM policies as any later request would be."""
    if params.get("BypassPolicyLockoutSafetyCheck") is True:
        return
    try:
        _authorize_key(ctx, "kms:PutKeyPolicy", key)
    except ApiError:
        raise ApiError("MalformedPolicyDocumentException", _LOCKOUT) from None


def create_key(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("kms:CreateKey", "*")
    key_id = str(uuid.uuid4())
    arn = f"arn:aws:kms:{ctx.region}:{ctx.account}:key/{key_id}"
    policy = (
        _parse_policy(params["Policy"], arn)
        if params.get("Policy")
        else key_document(default_key_policy(ctx.account), arn)
    )
    key = Key(
        key_id=key_id,
        arn=arn,
        account=ctx.account,
        region=ctx.region,
        policy=policy,
        description=params.get("Description") or "",
        creation_date=iso(datetime.now(UTC)),
        origin=params.get("Origin") or "AWS_KMS",
        state=KeyState.PENDING_IMPORT if params.get("Origin") == "EXTERNAL" else KeyState.ENABLED,
    )
    if params.get("Policy"):  # the default key policy gives the account, hence IAM, control of the key
        _lockout_check(ctx, key, params)
    _kms(ctx).keys[key_id] = key
    ctx.changed = True
    return {"KeyMetadata": _metadata(key)}


def _metadata(key: Key) -> dict[str, Any]:
    meta = key.describe()
    meta["CreationDate"] = _when(key.creation_date)
    if key.deletion_date:
        meta["DeletionDate"] = _when(key.deletion_date)
    return meta


def _when(text: str | None) -> datetime:
    try:
        return datetime.fromisoformat((text or "").replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)


def describe_key(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    key = resolve(ctx, str(required(ctx, params, "KeyId")))
    _authorize_key(ctx, "kms:DescribeKey", key)
    return {"KeyMetadata": _metadata(key)}


def list_keys(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("kms:ListKeys", "*")
    keys = [{"KeyId": k.key_id, "KeyArn": k.arn} for k in _kms(ctx).keys.values()]
    return {"Keys": keys, "Truncated": False}


def get_key_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    key = resolve(ctx, str(required(ctx, params, "KeyId")))
    _authorize_key(ctx, "kms:GetKeyPolicy", key)
    return {"Policy": json.dumps(key.policy.raw, indent=2), "PolicyName": "default"}


def put_key_policy(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    key = resolve(ctx, str(required(ctx, params, "KeyId")))
    text = str(required(ctx, params, "Policy"))
    _authorize_key(ctx, "kms:PutKeyPolicy", key)
    policy = _parse_policy(text, key.arn)
    _lockout_check(ctx, replace(key, policy=policy), params)
    key.policy = policy
    ctx.changed = True
    return {}


def create_alias(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "AliasName"))
    key = resolve(ctx, str(required(ctx, params, "TargetKeyId")))
    # "The alias/aws/ prefix is reserved for AWS managed keys"; names start with alias/
    # (https://docs.aws.amazon.com/kms/latest/developerguide/alias-create.html). InvalidAliasNameException is the
    # error CreateAlias's model lists for a bad name.
    if not name.startswith("alias/") or len(name) <= len("alias/"):
        raise ApiError("InvalidAliasNameException", f'Alias must start with the prefix "alias/": {name}')
    if name.startswith("alias/aws/"):
        raise ApiError("InvalidAliasNameException", "Alias names cannot begin with alias/aws/: that prefix is reserved")
    alias_arn = f"arn:aws:kms:{ctx.region}:{ctx.account}:{name}"
    # CreateAlias needs permission on the alias and on the key
    # (https://docs.aws.amazon.com/kms/latest/developerguide/alias-access.html).
    ctx.authorize("kms:CreateAlias", alias_arn)
    _authorize_key(ctx, "kms:CreateAlias", key)
    kms = _kms(ctx)
    if name in kms.aliases:
        raise ApiError("AlreadyExistsException", f"An alias with the name {alias_arn} already exists")
    kms.aliases[name] = key.key_id
    ctx.changed = True
    return {}


def list_aliases(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("kms:ListAliases", "*")
    kms = _kms(ctx)
    only = resolve(ctx, str(params["KeyId"])).key_id if params.get("KeyId") else None
    aliases = [
        {"AliasName": name, "AliasArn": f"arn:aws:kms:{ctx.region}:{ctx.account}:{name}", "TargetKeyId": key_id}
        for name, key_id in sorted(kms.aliases.items())
        if only is None or key_id == only
    ]
    return {"Aliases": aliases, "Truncated": False}


def _constraints(params: dict[str, Any]) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    c = params.get("Constraints") or {}
    return c.get("EncryptionContextSubset"), c.get("EncryptionContextEquals")


def create_grant(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    key = resolve(ctx, str(required(ctx, params, "KeyId")))
    grantee = str(required(ctx, params, "GranteePrincipal"))
    operations = list(required(ctx, params, "Operations"))
    for op in operations:
        if op not in GRANT_OPERATIONS:
            raise ApiError("ValidationException", f"Value '{op}' at 'operations' failed to satisfy constraint")
    subset, equals = _constraints(params)
    extra: dict[str, Any] = {
        "kms:GranteePrincipal": (grantee,),
        "kms:GrantOperations": tuple(operations),
        "kms:GrantIsForAWSResource": ("false",),
    }
    if params.get("RetiringPrincipal"):
        extra["kms:RetiringPrincipal"] = (str(params["RetiringPrincipal"]),)
    if subset is not None or equals is not None:
        extra["kms:GrantConstraintType"] = (
            "EncryptionContextSubset" if subset is not None else "EncryptionContextEquals",
        )
    _authorize_key(ctx, "kms:CreateGrant", key, encryption_context=subset or equals, **extra)
    _usable(key, "kms:CreateGrant")
    grant_id = secrets.token_hex(32)
    key.grants.append(
        Grant(
            grant_id=grant_id,
            grantee=grantee,
            operations=frozenset(operations),
            key_arn=key.arn,
            retiring=params.get("RetiringPrincipal"),
            name=params.get("Name") or "",
            issuing_account=f"arn:aws:iam::{ctx.account}:root",
            creation_date=iso(datetime.now(UTC)),
            context_subset=subset,
            context_equals=equals,
        )
    )
    ctx.changed = True
    return {"GrantToken": "KLGT" + grant_id, "GrantId": grant_id}


def list_grants(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    key = resolve(ctx, str(required(ctx, params, "KeyId")))
    _authorize_key(ctx, "kms:ListGrants", key)
    grants = []
    for g in key.grants:
        out = g.to_json()
        out["KeyId"] = key.arn
        out["CreationDate"] = (
            datetime.fromisoformat(g.creation_date.replace("Z", "+00:00")) if g.creation_date else datetime.now(UTC)
        )
        out.setdefault("Name", "")
        out.setdefault("IssuingAccount", f"arn:aws:iam::{key.account}:root")
        grants.append(out)
    return {"Grants": grants, "Truncated": False}


def _find_grant(key: Key, grant_id: str) -> Grant:
    for g in key.grants:
        if g.grant_id == grant_id:
            return g
    raise ApiError("NotFoundException", f"Grant ID {grant_id} not found")


def retire_grant(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    grant_id = params.get("GrantId") or str(params.get("GrantToken") or "").removeprefix("KLGT")
    key = resolve(ctx, str(params["KeyId"])) if params.get("KeyId") else None
    keys = (
        [key]
        if key
        else [k for a in ctx.world.accounts.values() for r in a.regions.values() for k in r.kms.keys.values()]
    )
    for k in keys:
        for g in list(k.grants):
            if g.grant_id != grant_id:
                continue
            # Retiring needs no policy: the retiring principal, the grantee when the grant allows RetireGrant,
            # or the account the grant was created in may retire it
            # (https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html).
            who = ctx.caller
            names = (who.arn, who.principal_arn)
            is_retiring = g.retiring in names
            is_grantee = g.grantee in names and "RetireGrant" in g.operations
            is_issuer = who.type is PrincipalType.ACCOUNT and g.issuing_account == who.arn
            allowed = is_retiring or is_grantee or is_issuer
            ctx.authorized = True
            if not allowed:
                raise ApiError(
                    "AccessDeniedException",
                    f"User: {who.arn} is not authorized to perform: kms:RetireGrant on resource: {k.arn}",
                )
            k.grants.remove(g)
            ctx.changed = True
            return {}
    ctx.authorized = True
    raise ApiError("NotFoundException", f"Grant ID {grant_id} not found")


def revoke_grant(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    key = resolve(ctx, str(required(ctx, params, "KeyId")))
    _authorize_key(ctx, "kms:RevokeGrant", key)
    key.grants.remove(_find_grant(key, str(required(ctx, params, "GrantId"))))
    ctx.changed = True
    return {}


def encrypt(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    key = resolve(ctx, str(required(ctx, params, "KeyId")))
    ec = params.get("EncryptionContext")
    _authorize_key(ctx, "kms:Encrypt", key, ec)
    _usable(key, "kms:Encrypt")
    blob = ctx.state.encrypt(key, bytes(required(ctx, params, "Plaintext")), ec)
    return {"CiphertextBlob": blob, "KeyId": key.arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}


def decrypt(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    blob = bytes(required(ctx, params, "CiphertextBlob"))
    ec = params.get("EncryptionContext")
    key_arn = _key_arn_of(blob)
    key = ctx.world.key_by_arn(key_arn) if key_arn else None
    if key is None:
        ctx.authorized = True
        raise ApiError("InvalidCiphertextException", "")
    _authorize_key(ctx, "kms:Decrypt", key, ec)
    _usable(key, "kms:Decrypt")
    _, plaintext = ctx.state.decrypt(blob, ec)
    return {"KeyId": key.arn, "Plaintext": plaintext, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}


def _key_arn_of(blob: bytes) -> str | None:
    if len(blob) < 5 or blob[:3] != b"KL1":
        return None
    n = int.from_bytes(blob[3:5], "big")
    return blob[5 : 5 + n].decode(errors="replace")


def re_encrypt(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    blob = bytes(required(ctx, params, "CiphertextBlob"))
    source = ctx.world.key_by_arn(_key_arn_of(blob) or "")
    if source is None:
        ctx.authorized = True
        raise ApiError("InvalidCiphertextException", "")
    dest = resolve(ctx, str(required(ctx, params, "DestinationKeyId")))
    src_ec = params.get("SourceEncryptionContext")
    dst_ec = params.get("DestinationEncryptionContext")
    # ReEncrypt needs kms:ReEncryptFrom on the source key and kms:ReEncryptTo on the destination key
    # (https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html).
    _authorize_key(ctx, "kms:ReEncryptFrom", source, src_ec)
    _authorize_key(ctx, "kms:ReEncryptTo", dest, dst_ec)
    _usable(source, "kms:ReEncryptFrom")
    _usable(dest, "kms:ReEncryptTo")
    _, plaintext = ctx.state.decrypt(blob, src_ec)
    return {
        "CiphertextBlob": ctx.state.encrypt(dest, plaintext, dst_ec),
        "SourceKeyId": source.arn,
        "KeyId": dest.arn,
        "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }


def _data_key(ctx: Ctx, params: dict[str, Any], action: str) -> tuple[Key, bytes, bytes]:
    key = resolve(ctx, str(required(ctx, params, "KeyId")))
    ec = params.get("EncryptionContext")
    _authorize_key(ctx, action, key, ec)
    _usable(key, action)
    # "You must specify either the KeySpec or the NumberOfBytes parameter (but not both)"
    # (https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html); the range and the spec's
    # values are the model's, checked by the wire layer (wire/constraints.py).
    spec, number = params.get("KeySpec"), params.get("NumberOfBytes")
    if (spec is None) == (number is None):
        raise ApiError("ValidationException", "Please specify either number of bytes or key spec.")
    n = int(number) if number is not None else _DATA_KEY_BYTES[str(spec)]
    plaintext = os.urandom(n)
    return key, plaintext, ctx.state.encrypt(key, plaintext, ec)


def generate_data_key(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    key, plaintext, blob = _data_key(ctx, params, "kms:GenerateDataKey")
    return {"CiphertextBlob": blob, "Plaintext": plaintext, "KeyId": key.arn}


def generate_data_key_without_plaintext(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    key, _, blob = _data_key(ctx, params, "kms:GenerateDataKeyWithoutPlaintext")
    return {"CiphertextBlob": blob, "KeyId": key.arn}


def generate_random(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """Random bytes: kms:GenerateRandom on "*", no key (https://docs.aws.amazon.com/kms/latest/APIReference/
    API_GenerateRandom.html); NumberOfBytes 1-1024 is the model's range, checked by the wire layer."""
    ctx.authorize("kms:GenerateRandom", "*")
    if params.get("CustomKeyStoreId") or params.get("Recipient"):
        raise ApiError("UnsupportedOperationException", "kmslaunch serves no custom key stores or Nitro enclaves")
    return {"Plaintext": os.urandom(int(required(ctx, params, "NumberOfBytes")))}


def _set_state(ctx: Ctx, params: dict[str, Any], action: str) -> Key:
    """A key whose state the caller may change. AWS managed keys need no special case: their policy (aws/ebs's
    auto-ebs-2) allows no state change to anyone, so the authorization refuses it as AWS does."""
    key = resolve(ctx, str(required(ctx, params, "KeyId")))
    _authorize_key(ctx, action, key)
    return key


def _toggle(ctx: Ctx, params: dict[str, Any], action: str, target: KeyState) -> dict[str, Any]:
    """EnableKey and DisableKey: refused for a key pending deletion or import, in KMS's words
    (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html)."""
    key = _set_state(ctx, params, action)
    if key.state in (KeyState.PENDING_DELETION, KeyState.PENDING_IMPORT):
        # The same KMSInvalidStateException a cryptographic operation gets in these states.
        _usable(key, "kms:Encrypt")
    key.state = target
    ctx.changed = True
    return {}


def enable_key(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _toggle(ctx, params, "kms:EnableKey", KeyState.ENABLED)


def disable_key(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _toggle(ctx, params, "kms:DisableKey", KeyState.DISABLED)


def schedule_key_deletion(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    key = _set_state(ctx, params, "kms:ScheduleKeyDeletion")
    days = int(params.get("PendingWindowInDays") or 30)
    if not 7 <= days <= 30:
        raise ApiError("ValidationException", "PendingWindowInDays must be between 7 and 30")
    if key.state is KeyState.PENDING_DELETION:
        raise ApiError("KMSInvalidStateException", f"{key.arn} is pending deletion.")
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    key.state = KeyState.PENDING_DELETION
    key.deletion_date = iso(when)
    ctx.changed = True
    return {"KeyId": key.arn, "DeletionDate": when, "KeyState": "PendingDeletion", "PendingWindowInDays": days}


def cancel_key_deletion(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    key = _set_state(ctx, params, "kms:CancelKeyDeletion")
    if key.state is not KeyState.PENDING_DELETION:
        raise ApiError("KMSInvalidStateException", f"{key.arn} is not pending deletion.")
    # A key whose deletion is cancelled is Disabled (https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys-scheduling-key-deletion.html).
    key.state = KeyState.DISABLED
    key.deletion_date = None
    ctx.changed = True
    return {"KeyId": key.arn}


HANDLERS: dict[str, Handler] = {
    "CreateKey": create_key,
    "DescribeKey": describe_key,
    "ListKeys": list_keys,
    "GetKeyPolicy": get_key_policy,
    "PutKeyPolicy": put_key_policy,
    "CreateAlias": create_alias,
    "ListAliases": list_aliases,
    "CreateGrant": create_grant,
    "ListGrants": list_grants,
    "RetireGrant": retire_grant,
    "RevokeGrant": revoke_grant,
    "Encrypt": encrypt,
    "Decrypt": decrypt,
    "ReEncrypt": re_encrypt,
    "GenerateDataKey": generate_data_key,
    "GenerateDataKeyWithoutPlaintext": generate_data_key_without_plaintext,
    "GenerateRandom": generate_random,
    "EnableKey": enable_key,
    "DisableKey": disable_key,
    "ScheduleKeyDeletion": schedule_key_deletion,
    "CancelKeyDeletion": cancel_key_deletion,
}
