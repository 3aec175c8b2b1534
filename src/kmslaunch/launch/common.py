"""What every EC2 operation on the launch path shares: who calls, EC2's own authorization of the call, its
CloudTrail record, the synchronous refusal, the parameters and resources the caller names, and the KMS calls EC2
makes as the caller.

A request EC2 refuses outright (UnauthorizedOperation, a resource that does not exist or is in the wrong state, a
key that cannot be used where asked) fails synchronously with EC2's error, is recorded with that error and creates
nothing (``Ec2Request.rejected``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kmslaunch.policy.errors import InputError
from kmslaunch.policy.messages import access_denied_message
from kmslaunch.policy.principals import EC2_INFRASTRUCTURE_ROLE, Principal, PrincipalType, parse_principal
from kmslaunch.world.authz import authorize_in_world, principal_in_world
from kmslaunch.world.clock import iso
from kmslaunch.world.ec2 import Ec2, Image, Snapshot
from kmslaunch.world.kms import Key
from kmslaunch.world.unknowns import Could, Unknown, merge
from kmslaunch.world.world import World

from .errors import Ec2Error, NotInWorld
from .plan import AWS_INTERNAL, EC2_INVOKED_BY, KeySource, KmsCall, VolumePlan, _base_context, plan_calls
from .result import CallResult, CallVerdict, LaunchKind, LaunchResult, Outcome
from .trail import event

CLIENT_ERROR_ON_LAUNCH = {"Code": "Client.InternalError", "Message": "Client.InternalError: Client error on launch"}
INVALID_KEY_STATE = {
    "Code": "Client.InvalidKMSKey.InvalidState",
    "Message": "Client.InvalidKMSKey.InvalidState: The KMS key provided is in an incorrect state",
}

# The AWS CLI command of each operation, as its user agent names it.
CLI_COMMANDS = {
    LaunchKind.RUN_INSTANCES: "run-instances",
    LaunchKind.CREATE_VOLUME: "create-volume",
    LaunchKind.ATTACH_VOLUME: "attach-volume",
    LaunchKind.COPY_SNAPSHOT: "copy-snapshot",
    LaunchKind.COPY_IMAGE: "copy-image",
    LaunchKind.CREATE_FLEET: "create-fleet",
    LaunchKind.EC2_FLEET: "create-fleet",
    LaunchKind.SPOT: "request-spot-instances",
}

# EC2's answer to a request with DryRun true that it would have allowed
# (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/CommonParameters.html).
DRY_RUN_OPERATION = "DryRunOperation"
DRY_RUN_MESSAGE = "Request would have succeeded, but DryRun flag is set."


def cli_user_agent(command: str) -> str:
    """The user agent of the AWS CLI running ``aws ec2 <command>``."""
    return f"aws-cli/2.17.0 md/command#ec2.{command}"


# ---------------------------------------------------------------------------------------------------------
# Who calls, and EC2's check of the call


def principal(world: World, arn: str, role_arn: str | None = None) -> Principal:
    """The caller as the world knows it; ``role_arn`` names the role of a service-linked session."""
    p = principal_in_world(world, arn)
    if role_arn and p.principal_arn != role_arn:
        return parse_principal(p.arn, role_arn=role_arn, userid=p.userid, tags=p.tags, org_id=p.org_id)
    return p


def check_ec2(
    world: World,
    who: Principal,
    account: str,
    region: str,
    action: str,
    resource: str,
    source_ip: str | None,
    unknowns: list[Unknown],
) -> None:
    """EC2's own authorization of the API call: UnauthorizedOperation when refused."""
    if who.is_service_linked_role:
        return  # assumption service-role-calls
    if not world.account(account).iam.known:
        unknowns.append(
            Unknown(
                f"whether {who.arn} may call {action} (account {account}'s IAM is not in the snapshot)",
                Could.EITHER,
                f"collect account {account}'s IAM: aws iam get-account-authorization-details",
                "identity-policy",
            )
        )
        return
    ctx: dict[str, tuple[str, ...]] = {"aws:requestedregion": (region,), "ec2:region": (region,)}
    if source_ip:
        ctx["aws:sourceip"] = (source_ip,)
    auth = authorize_in_world(world, who, action, resource, context=ctx)
    if not auth.decision.allowed:
        detail = access_denied_message(who.arn, action, resource, auth.decision)
        raise Ec2Error(
            "UnauthorizedOperation",
            f"You are not authorized to perform this operation. {detail}. "
            "Encoded authorization failure message: (run kmslaunch with --format json for the decoded reasons)",
            403,
        )


def refusal(exc: Ec2Error) -> Outcome:
    """The outcome of a request EC2 refused synchronously."""
    return Outcome("rejected", None, {"Code": exc.code, "Message": exc.message})


@dataclass(slots=True)
class Ec2Request:
    """One EC2 API request on the launch path: who made it, where, from which address and client, and the
    request as CloudTrail records it. ``invoked_by`` names the service launching as its service-linked role."""

    world: World
    kind: LaunchKind
    operation: str
    who: Principal
    account: str
    region: str
    request: dict[str, Any]
    source_ip: str | None
    user_agent: str
    invoked_by: str | None = None
    notes: list[str] = field(default_factory=list)
    unknowns: list[Unknown] = field(default_factory=list)
    dry_run: bool = False

    @classmethod
    def from_cli(
        cls,
        world: World,
        kind: LaunchKind,
        caller: str,
        account: str,
        region: str,
        request: dict[str, Any],
        source_ip: str | None,
    ) -> Ec2Request:
        """A request the caller makes with the AWS CLI command of ``kind``."""
        who = principal(world, caller)
        return cls(
            world,
            kind,
            kind.value,
            who,
            account,
            region,
            request,
            source_ip,
            cli_user_agent(CLI_COMMANDS[kind]),
            dry_run=request.get("dryRun") is True,
        )

    @property
    def ec2(self) -> Ec2:
        return self.world.account(self.account).region(self.region).ec2

    def arn(self, resource: str, *, account: bool = True) -> str:
        """An EC2 resource ARN in the request's region; snapshots and images have no account in theirs."""
        return f"arn:{self.world.partition}:ec2:{self.region}:{self.account if account else ''}:{resource}"

    def check(self, action: str, resource: str, *, final: bool = True) -> None:
        """EC2's authorization of the call (``check_ec2``). After the ``final`` check of a DryRun request, EC2
        answers DryRunOperation: "Checks whether you have the required permissions for the operation, without
        actually making the request" (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/CommonParameters.html);
        a refused check answers UnauthorizedOperation as without DryRun."""
        check_ec2(self.world, self.who, self.account, self.region, action, resource, self.source_ip, self.unknowns)
        if final and self.dry_run:
            raise Ec2Error(DRY_RUN_OPERATION, DRY_RUN_MESSAGE, 412)

    def api_event(self, response: dict[str, Any] | None, error: Ec2Error | None = None) -> dict[str, Any]:
        """The CloudTrail record of the API call, answered with ``response`` or refused with ``error``."""
        code = None
        if error is not None:
            client = error.code in ("UnauthorizedOperation", DRY_RUN_OPERATION)
            code = f"Client.{error.code}" if client else error.code
        return event(
            self.world,
            who=self.who,
            event_source="ec2.amazonaws.com",
            event_name=self.operation,
            region=self.region,
            recipient_account=self.account,
            source_ip=self.source_ip or self.invoked_by or AWS_INTERNAL,
            user_agent=self.user_agent,
            request=self.request,
            response=response,
            invoked_by=self.invoked_by,
            error_code=code,
            error_message=error.message if error is not None else None,
        )

    def volume_calls(
        self, plans: list[VolumePlan], instance_id: str, now: datetime, *, reuse_data_keys: bool = False
    ) -> list[KmsCall]:
        """The KMS calls EC2 makes for the encrypted volumes of ``instance_id`` at ``now`` (``plan.plan_calls``;
        ``reuse_data_keys`` for volumes that already exist)."""
        return plan_calls(
            plans,
            self.who,
            self.source_ip,
            self.account,
            self.region,
            instance_id,
            iso(now),
            int(now.timestamp()),
            self.world.partition,
            reuse_data_keys=reuse_data_keys,
        )

    def record(self, trail: Iterable[dict[str, Any]]) -> None:
        """Add the request's CloudTrail records to the region's trail."""
        self.world.account(self.account).region(self.region).trail.events.extend(trail)

    def rejected(self, exc: Ec2Error) -> LaunchResult:
        """A request EC2 refuses synchronously: its CloudTrail record with the error, nothing created."""
        rec = self.api_event(None, exc)
        self.record([rec])
        return self.result(refusal(exc), trail=(rec,))

    def result(
        self,
        outcome: Outcome,
        *,
        calls: Iterable[CallResult] = (),
        trail: Iterable[dict[str, Any]] = (),
        volumes: Iterable[VolumePlan] = (),
        instance_ids: Iterable[str] = (),
        view: dict[str, Any] | None = None,
    ) -> LaunchResult:
        """The request's result, with the notes gathered while it ran."""
        return LaunchResult(
            self.kind,
            self.account,
            self.region,
            self.who.arn,
            outcome,
            calls=tuple(calls),
            trail=tuple(trail),
            volumes=tuple(volumes),
            instance_ids=tuple(instance_ids),
            view=view,
            notes=tuple(self.notes),
            launch_unknowns=merge(self.unknowns),
        )


# ---------------------------------------------------------------------------------------------------------
# Parameters


def wire_request(params: Mapping[str, Any]) -> dict[str, Any]:
    """The request as CloudTrail records it: the parameters, named in lower camel case."""
    return {k[0].lower() + k[1:]: v for k, v in params.items()}


def optional_param(params: Mapping[str, Any], name: str, kind: type, what: str, source: str) -> Any:
    """A parameter of type ``kind`` (``what`` in the error), or None when absent."""
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InputError(source, name, f"expected {what}, got {type(value).__name__}")
    return value


def required_param(params: Mapping[str, Any], name: str, what: str, source: str) -> str:
    """A string parameter EC2 requires: MissingParameter when absent or empty."""
    value = optional_param(params, name, str, what, source)
    if not value:
        raise Ec2Error("MissingParameter", f"The request must contain the parameter {name}")
    return str(value)


def encryption_params(params: Mapping[str, Any], source: str) -> tuple[bool | None, str | None]:
    """``Encrypted`` and ``KmsKeyId`` of CreateVolume, CopySnapshot and CopyImage."""
    encrypted = optional_param(params, "Encrypted", bool, "true or false", source)
    kms_key_id = optional_param(params, "KmsKeyId", str, "a key id, key ARN, alias name or alias ARN", source)
    return encrypted, kms_key_id


def check_kms_key_id(kms_key_id: str | None, encrypted: bool | None) -> None:
    """CreateVolume, CopySnapshot and CopyImage: "If KmsKeyId is specified, the encrypted state must be true"
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopySnapshot.html)."""
    if kms_key_id and encrypted is not True:
        raise Ec2Error(
            "InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set."
        )


# ---------------------------------------------------------------------------------------------------------
# Resources the account can see


def visible_snapshot(world: World, account: str, region: str, snapshot_id: str) -> Snapshot:
    """A snapshot of the account, or one another account shared with it: its createVolumePermission names the
    account (or ``all``) (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html);
    otherwise EC2 answers as if it did not exist."""
    snap = world.find_snapshot(region, snapshot_id)
    if snap is None and world.partial:
        raise NotInWorld(
            f"snapshot {snapshot_id} is not in the snapshot's EC2 data of any account: if it is another account's, "
            f"add what `aws ec2 describe-snapshots --snapshot-ids {snapshot_id} --region {region}` prints to "
            f"{account}/{region}/ec2/describe-snapshots.json"
        )
    if snap is None or (
        snap.owner != account
        and account not in snap.create_volume_permissions
        and "all" not in snap.create_volume_permissions
    ):
        raise Ec2Error("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")
    return snap


def visible_image(world: World, account: str, region: str, image_id: str) -> Image:
    """An image of the account, a public one, or one whose launch permissions name the account."""
    image = world.find_image(region, image_id)
    if image is None and world.partial:
        # Amazon's, Marketplace and community AMIs are public: no describe-images call of the account lists them
        # unless asked by id, so a snapshot that lacks one says nothing of whether it exists.
        raise NotInWorld(
            f"image {image_id} is not in the snapshot: add what `aws ec2 describe-images --image-ids {image_id} "
            f"--region {region}` prints to {account}/{region}/ec2/describe-images.json (kmslaunch collect "
            "records the images that instances, launch templates and groups use)"
        )
    if image is None or (image.owner != account and not image.public and account not in image.launch_permissions):
        raise Ec2Error("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist")
    return image


# ---------------------------------------------------------------------------------------------------------
# Keys, and the KMS calls EC2 makes as the caller


@dataclass(frozen=True, slots=True)
class KeyTarget:
    """The encryption of a new volume or snapshot copy: its key (None when unencrypted) and how it was found."""

    encrypted: bool
    key: Key | None = None
    ref: str | None = None
    source: KeySource | None = None


def _forward_context(region: str, caller_ip: str | None, now: datetime) -> dict[str, tuple[str, ...]]:
    """The context of a call EC2 makes as the caller (forward access), as plan.plan_calls builds it:
    kms:ViaService ec2.<region>.amazonaws.com, aws:ViaAWSService true, the caller's IP
    (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service)."""
    ctx = _base_context(region, iso(now), int(now.timestamp()))
    ctx["kms:viaservice"] = (f"ec2.{region}.amazonaws.com",)
    ctx["aws:viaawsservice"] = ("true",)
    if caller_ip:
        ctx["aws:sourceip"] = (caller_ip,)  # assumption forward-access-source-ip
    return ctx


def caller_call(
    operation: str,
    who: Principal,
    key_arn: str,
    resource_id: str,
    permissions: tuple[tuple[str, str], ...],
    via_region: str,
    caller_ip: str | None,
    now: datetime,
    why: str,
    *,
    crypto: bool = True,
) -> KmsCall:
    """One KMS call EBS makes as the caller through EC2 of ``via_region`` for the new resource ``resource_id``."""
    ctx = _forward_context(via_region, caller_ip, now)
    if crypto:
        ctx["kms:encryptionalgorithm"] = ("SYMMETRIC_DEFAULT",)
    # DescribeKey takes no encryption context; every other call carries aws:ebs:id of the new resource.
    ec = {"aws:ebs:id": resource_id} if crypto else {}
    return KmsCall(
        operation, who, key_arn, resource_id, permissions, ctx, ec, EC2_INVOKED_BY, caller_ip or EC2_INVOKED_BY, why
    )


def first_refused(results: Iterable[CallResult]) -> CallResult | None:
    """The first refused KMS call, if any: the one the resource's fate turns on."""
    return next((r for r in results if r.refused), None)


def kms_error(refused: CallResult) -> dict[str, str]:
    """A refused KMS call's error, as the resource shows it."""
    return {"Code": refused.error_code or "AccessDeniedException", "Message": refused.error_message or ""}


def state_reason_for(refused: CallResult) -> dict[str, str]:
    """What an instance or image shows when a KMS call was refused (assumption refused-call-state-reason)."""
    return INVALID_KEY_STATE if refused.verdict is CallVerdict.KEY_STATE else CLIENT_ERROR_ON_LAUNCH


# ---------------------------------------------------------------------------------------------------------
# Callers the snapshot must know


def unknown_caller(world: World, arn: str) -> str | None:
    """Why ``arn`` cannot be the caller, or None: a user or role (or a session of a role) that the account's IAM,
    present in the snapshot, does not hold. Simulating it anyway would show a typo as a permissions problem."""
    try:
        p = parse_principal(arn)
    except ValueError as exc:
        return f"--as {arn}: not a principal ARN ({exc})"
    if p.account is None or p.account not in world.accounts or not world.accounts[p.account].iam.known:
        return None
    iam = world.accounts[p.account].iam
    if p.type is PrincipalType.USER:
        names, what = list(iam.users), "user"
    elif p.type is PrincipalType.ASSUMED_ROLE and p.name != EC2_INFRASTRUCTURE_ROLE:
        names, what = list(iam.roles), "role"
    else:
        return None
    if p.name in names:
        return None
    close = difflib.get_close_matches(p.name or "", names, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"--as {arn}: account {p.account} has no IAM {what} named {p.name!r} in the snapshot{hint}"
