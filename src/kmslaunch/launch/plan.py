"""From launch parameters to volumes, their keys, and the KMS calls AWS makes for them.

Key resolution (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption.html): an explicit ``KmsKeyId``
(key id, key ARN, alias name or alias ARN); otherwise the snapshot's key; otherwise, when the volume is encrypted
(explicitly or by the region's EBS encryption by default), the region's default EBS key, ``alias/aws/ebs`` unless
changed, created on first use.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kmslaunch.policy.principals import EC2_INFRASTRUCTURE_ROLE, Principal, parse_principal
from kmslaunch.world.clock import iso
from kmslaunch.world.ec2 import EbsSpec, Snapshot
from kmslaunch.world.kms import AWS_EBS_ALIAS, Key, KeyManager, aws_ebs_key_policy, key_document
from kmslaunch.world.unknowns import Could, Unknown
from kmslaunch.world.world import World

from .errors import Ec2Error, NotInWorld

# assumption ec2-infrastructure-source-ip
EC2_INFRASTRUCTURE_SOURCE_IP = "52.94.0.1"
EC2_INVOKED_BY = "ec2-frontend-api.amazonaws.com"
AWS_INTERNAL = "AWS Internal"


class KeySource(enum.Enum):
    PARAMETER = "KmsKeyId parameter"
    SNAPSHOT = "the snapshot's key"
    DEFAULT = "the region's default EBS key"


@dataclass(frozen=True, slots=True)
class VolumePlan:
    """One EBS volume a launch creates, and the key it is encrypted with (None when unencrypted)."""

    device: str
    volume_id: str
    size: int
    volume_type: str
    encrypted: bool
    key: Key | None = field(default=None, compare=False)
    key_ref: str | None = None
    key_source: KeySource | None = None
    snapshot: Snapshot | None = field(default=None, compare=False)
    delete_on_termination: bool = True
    unknowns: tuple[Unknown, ...] = ()

    @property
    def source_key_unknown(self) -> bool:
        """The volume is restored from an encrypted snapshot whose key the snapshot data does not name."""
        return self.snapshot is not None and self.snapshot.encrypted and not self.snapshot.kms_key_id

    @property
    def source_key_arn(self) -> str | None:
        if self.snapshot is not None and self.snapshot.encrypted:
            return self.snapshot.kms_key_id
        return None


@dataclass(frozen=True, slots=True)
class KmsCall:
    """One KMS API request EC2 makes during a launch.

    ``permissions`` are the (IAM action, key ARN) pairs KMS authorizes for it: one for most calls, two for
    ReEncrypt (kms:ReEncryptFrom on the source key, kms:ReEncryptTo on the destination key).
    """

    operation: str
    principal: Principal
    key_arn: str
    volume_id: str
    permissions: tuple[tuple[str, str], ...]
    context: Mapping[str, tuple[str, ...]]
    encryption_context: Mapping[str, str]
    invoked_by: str
    source_ip: str
    why: str
    grant: Mapping[str, Any] | None = None
    instance_id: str | None = None
    unknowns: tuple[Unknown, ...] = ()  # what planning the call could not know (a shared snapshot's key)


def instance_identity(account: str, instance_id: str, partition: str = "aws") -> str:
    """The instance's own identity, which decrypts its volumes' data keys
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html)."""
    return f"arn:{partition}:sts::{account}:assumed-role/{EC2_INFRASTRUCTURE_ROLE}/{instance_id}"


def resolve_key(world: World, account: str, region: str, ref: str) -> Key:
    """The key a KmsKeyId (or a snapshot's key, or the default key) names, as seen from ``account``."""
    if ref.startswith("arn:"):
        parts = ref.split(":", 5)
        if len(parts) != 6 or parts[2] != "kms":
            raise Ec2Error("InvalidParameterValue", f"Value ({ref}) for parameter kmsKeyId is invalid.")
        if parts[3] != region:
            # KMS keys are regional: EBS can only use a key of the volume's region.
            raise Ec2Error(
                "InvalidParameterValue",
                f"The KMS key {ref} is in region {parts[3]}, not in {region}: "
                "EBS volumes use keys of their own region.",
            )
        if parts[4] not in world.accounts or not world.accounts[parts[4]].region(region).kms.known:
            raise NotInWorld(
                f"key {ref} belongs to account {parts[4]}, whose KMS keys are not in the snapshot; "
                f"collect that account too (kmslaunch collect --role-arn ...)"
            )
        key = world.key_by_arn(ref)
        if key is None:
            if parts[5] == AWS_EBS_ALIAS and parts[4] == account:
                return ensure_aws_ebs(world, account, region)
            # assumption unknown-key-sync-error
            raise Ec2Error("InvalidParameterValue", f"The KMS key {ref} does not exist.")
        return key
    kms = world.account(account).region(region).kms
    key = kms.resolve(ref)
    if key is None:
        if ref == AWS_EBS_ALIAS:
            return ensure_aws_ebs(world, account, region)
        if not kms.known:
            raise NotInWorld(f"KMS keys of account {account} in {region} are not in the snapshot (needed: {ref})")
        # assumption unknown-key-sync-error
        raise Ec2Error("InvalidParameterValue", f"The KMS key {ref} does not exist in account {account}, {region}.")
    return key


def ensure_aws_ebs(world: World, account: str, region: str) -> Key:
    """``aws/ebs``, created with AWS's policy on first use (assumption aws-ebs-created-on-first-use)."""
    kms = world.account(account).region(region).kms
    existing = kms.resolve(AWS_EBS_ALIAS)
    if existing is not None:
        return existing
    key_id = world.ids.key_id()
    arn = f"arn:{world.partition}:kms:{region}:{account}:key/{key_id}"
    key = Key(
        key_id=key_id,
        arn=arn,
        account=account,
        region=region,
        policy=key_document(aws_ebs_key_policy(account, region, world.partition), arn),
        manager=KeyManager.AWS,
        description="Default key that protects my EBS volumes when no other key is defined",
        creation_date=iso(world.clock.now()),
    )
    kms.keys[key_id] = key
    kms.aliases[AWS_EBS_ALIAS] = key_id
    return key


def plan_volumes(
    world: World,
    account: str,
    region: str,
    image_devices: tuple[EbsSpec, ...],
    overrides: tuple[EbsSpec, ...],
    image_owner: str | None = None,
) -> list[VolumePlan]:
    """The volumes a launch creates: the image's block devices with the request's overrides applied by
    device name, plus new devices the request adds; each with its resolved key.

    Key choice (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption.html, "Encryption rules"): an
    explicit ``KmsKeyId``; else the snapshot's key when the account owns the snapshot; else, for an encrypted
    snapshot shared by another account, the launching account's default EBS key, with the data re-encrypted
    from the owner's key (assumption shared-snapshot-default-key); else the default key when the volume is
    encrypted at all.
    """
    by_device: dict[str, EbsSpec] = {d.device_name: d for d in image_devices}
    from_image = dict(by_device)
    # The keys the request (or its launch template) asks for; a shared image's own KmsKeyId is its owner's key.
    requested = {o.device_name: o.kms_key_id for o in overrides if o.kms_key_id}
    for o in overrides:
        base = by_device.get(o.device_name)
        if base is None:
            by_device[o.device_name] = o
            continue
        by_device[o.device_name] = EbsSpec(
            device_name=o.device_name,
            snapshot_id=o.snapshot_id or base.snapshot_id,
            volume_size=o.volume_size or base.volume_size,
            volume_type=o.volume_type or base.volume_type,
            encrypted=o.encrypted if o.encrypted is not None else base.encrypted,
            kms_key_id=o.kms_key_id or base.kms_key_id,
            delete_on_termination=o.delete_on_termination,
        )
    defaults = world.account(account).region(region).ec2.defaults
    plans: list[VolumePlan] = []
    for spec in by_device.values():
        unknowns: list[Unknown] = []
        snapshot = None
        if spec.snapshot_id:
            snapshot = world.find_snapshot(region, spec.snapshot_id)
            image_spec = from_image.get(spec.device_name)
            if snapshot is None and image_spec is not None and image_spec.snapshot_id == spec.snapshot_id:
                snapshot = _described_snapshot(image_spec, image_owner or "", unknowns)
            if snapshot is None:
                raise NotInWorld(f"snapshot {spec.snapshot_id} ({spec.device_name}) is not in the snapshot's EC2 data")
        from_encrypted = snapshot is not None and snapshot.encrypted
        encrypted = bool(spec.encrypted) or from_encrypted or defaults.encryption_by_default
        shared = snapshot is not None and snapshot.owner not in ("", account)
        key: Key | None = None
        ref: str | None = None
        source: KeySource | None = None
        if encrypted:
            asked = requested.get(spec.device_name) or (None if shared else spec.kms_key_id)
            if asked:
                ref, source = asked, KeySource.PARAMETER
            elif snapshot is not None and snapshot.encrypted and snapshot.kms_key_id and not shared:
                ref, source = snapshot.kms_key_id, KeySource.SNAPSHOT
            else:
                # assumption shared-snapshot-default-key
                ref, source = defaults.default_kms_key_id, KeySource.DEFAULT
            if source is KeySource.DEFAULT and not defaults.known:
                unknowns.append(
                    Unknown(
                        f"the default EBS key of account {account} in {region} (kmslaunch assumed {ref})",
                        Could.EITHER,
                        f"aws ec2 get-ebs-default-kms-key-id --region {region}",
                        "ebs-defaults",
                    )
                )
            key = resolve_key(world, account, region, ref)
        elif not defaults.by_default_known:
            unknowns.append(
                Unknown(
                    f"whether EBS encrypts new volumes by default in account {account}, {region} "
                    f"({spec.device_name} was simulated unencrypted)",
                    Could.EITHER,
                    f"aws ec2 get-ebs-encryption-by-default --region {region}",
                    "ebs-defaults",
                )
            )
        size = spec.volume_size or (snapshot.volume_size if snapshot else 8)
        plans.append(
            VolumePlan(
                device=spec.device_name,
                volume_id=world.ids.ec2("vol"),
                size=size,
                volume_type=spec.volume_type or "gp3",
                encrypted=encrypted,
                key=key,
                key_ref=ref,
                key_source=source,
                snapshot=snapshot,
                delete_on_termination=spec.delete_on_termination,
                unknowns=tuple(unknowns),
            )
        )
    return plans


def _described_snapshot(spec: EbsSpec, owner: str, unknowns: list[Unknown]) -> Snapshot:
    """An image's snapshot as ``describe-images`` describes it, when the snapshot itself is another account's
    (Amazon's, a Marketplace seller's, a sharing account's) and not in the snapshot: its size, whether it is
    encrypted, and its key where shown (assumption image-described-snapshot)."""
    assert spec.snapshot_id is not None
    key = spec.kms_key_id if spec.kms_key_id and spec.kms_key_id.startswith("arn:") else None
    if spec.encrypted and key is None:
        unknowns.append(
            Unknown(
                f"the key that encrypts {spec.snapshot_id} ({spec.device_name}, owned by account {owner or '?'}): "
                "describe-images does not show it, so kms:ReEncryptFrom on it was not checked",
                Could.DENY,
                f"aws ec2 describe-snapshots --snapshot-ids {spec.snapshot_id} (run where the snapshot is visible), "
                "or ask the AMI's owner",
                "source-key",
            )
        )
    return Snapshot(
        snapshot_id=spec.snapshot_id,
        owner=owner,
        volume_size=spec.volume_size or 8,
        encrypted=bool(spec.encrypted),
        kms_key_id=key,
    )


def _base_context(region: str, now_iso: str, epoch: int) -> dict[str, tuple[str, ...]]:
    return {
        "aws:requestedregion": (region,),
        "aws:securetransport": ("true",),
        "aws:currenttime": (now_iso,),
        "aws:epochtime": (str(epoch),),
    }


def plan_calls(
    volumes: list[VolumePlan],
    caller: Principal,
    caller_ip: str | None,
    account: str,
    region: str,
    instance_id: str,
    now_iso: str,
    epoch: int,
    partition: str = "aws",
    *,
    reuse_data_keys: bool = False,
) -> list[KmsCall]:
    """The KMS calls, in order, that EC2 makes for the encrypted volumes of one instance
    (assumption call-order). ``reuse_data_keys`` is StartInstances: volumes exist, only grant and decrypt.

    The caller's calls are forward access through EC2: kms:ViaService is ec2.<region>.amazonaws.com and
    aws:ViaAWSService is true (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service).
    """
    via = f"ec2.{region}.amazonaws.com"
    infra = parse_principal(instance_identity(account, instance_id, partition))
    calls: list[KmsCall] = []
    for v in volumes:
        if not v.encrypted or v.key is None:
            continue
        key = v.key.arn
        ec = {"aws:ebs:id": v.volume_id}
        fwd = _base_context(region, now_iso, epoch)
        fwd["kms:viaservice"] = (via,)
        fwd["aws:viaawsservice"] = ("true",)
        if caller_ip:
            fwd["aws:sourceip"] = (caller_ip,)  # assumption forward-access-source-ip
        fwd_ip = caller_ip or EC2_INVOKED_BY
        source_key = v.source_key_arn
        new_data_key = not reuse_data_keys and (source_key is None or source_key != key)
        if new_data_key:
            # assumptions unencrypted-snapshot-to-encrypted, same-key-reuses-data-key
            calls.append(
                KmsCall(
                    "GenerateDataKeyWithoutPlaintext",
                    caller,
                    key,
                    v.volume_id,
                    (("kms:GenerateDataKeyWithoutPlaintext", key),),
                    {**fwd, "kms:encryptionalgorithm": ("SYMMETRIC_DEFAULT",)},
                    ec,
                    EC2_INVOKED_BY,
                    fwd_ip,
                    f"EBS creates the data key of {v.volume_id} under the volume's key, as the caller through EC2",
                    instance_id=instance_id,
                )
            )
        if not reuse_data_keys and (v.source_key_unknown or (source_key is not None and source_key != key)):
            # assumption reencrypt-on-key-change. A source key describe-images does not name is checked on the
            # destination side only; the volume's unknowns say ReEncryptFrom was not.
            perms: tuple[tuple[str, str], ...] = (("kms:ReEncryptTo", key),)
            if source_key is not None:
                perms = (("kms:ReEncryptFrom", source_key), *perms)
            calls.append(
                KmsCall(
                    "ReEncrypt",
                    caller,
                    key,
                    v.volume_id,
                    perms,
                    {**fwd, "kms:encryptionalgorithm": ("SYMMETRIC_DEFAULT",)},
                    ec,
                    EC2_INVOKED_BY,
                    fwd_ip,
                    f"EBS re-encrypts the data of {v.volume_id} from the snapshot's key to the volume's key",
                    instance_id=instance_id,
                )
            )
        grant = {
            "keyId": key,
            "granteePrincipal": infra.arn,
            "retiringPrincipal": via,
            "operations": ["Decrypt"],
            "constraints": {"encryptionContextSubset": dict(ec)},
        }
        gctx = {
            **fwd,
            "kms:grantisforawsresource": ("true",),
            "kms:granteeprincipal": (infra.arn,),
            "kms:retiringprincipal": (via,),
            "kms:grantoperations": ("Decrypt",),
            "kms:grantconstrainttype": ("EncryptionContextSubset",),
        }
        calls.append(
            KmsCall(
                "CreateGrant",
                caller,
                key,
                v.volume_id,
                (("kms:CreateGrant", key),),
                gctx,
                ec,
                EC2_INVOKED_BY,
                fwd_ip,
                f"EC2 grants the instance identity Decrypt on the key for {v.volume_id}, as the caller",
                grant=grant,
                instance_id=instance_id,
            )
        )
        dctx = _base_context(region, now_iso, epoch)
        dctx["kms:viaservice"] = (via,)  # assumption ec2-infrastructure-via-service
        dctx["aws:viaawsservice"] = ("false",)
        dctx["aws:sourceip"] = (EC2_INFRASTRUCTURE_SOURCE_IP,)  # assumption ec2-infrastructure-source-ip
        dctx["kms:encryptionalgorithm"] = ("SYMMETRIC_DEFAULT",)
        calls.append(
            KmsCall(
                "Decrypt",
                infra,
                key,
                v.volume_id,
                (("kms:Decrypt", key),),
                dctx,
                ec,
                AWS_INTERNAL,
                AWS_INTERNAL,
                f"the instance identity decrypts the data key of {v.volume_id} so the hypervisor can read the volume",
                instance_id=instance_id,
            )
        )
    return calls
