"""Every choice kmslaunch makes where AWS does not document its behaviour, in one table: the policy language's
and the launch path's alike.

Each entry says what kmslaunch does, why, the source it rests on, and how confident that is:
``doc`` (AWS documents it), ``inf`` (inferred from documentation or real logs), ``unk`` (unknown; a choice).
``docs/assumptions.md`` is generated from this table (``kmslaunch assumptions --format markdown``), and a test
keeps the two equal. Code that relies on an entry names its id in a comment.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Confidence(enum.Enum):
    DOC = "doc"
    INFERRED = "inf"
    UNKNOWN = "unk"


@dataclass(frozen=True, slots=True)
class Assumption:
    id: str
    topic: str
    choice: str
    source: str
    confidence: Confidence


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "multivalued-key-single-operator",
        "A condition operator without ForAllValues/ForAnyValue on a key with several values",
        "A positive operator holds when any of the request's values matches; a negated one when none does (which "
        "is also what a one-valued request gives).",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
        "reference_policies_condition-single-vs-multi-valued-context-keys.html "
        "(says such keys require a set operator, not what happens without one)",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "operator-name-case",
        "Case of condition operator names",
        "Operator names are matched exactly; a wrongly cased one (stringequals) is reported as an error with the "
        "right spelling.",
        "not documented",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "date-formats",
        "Date condition values",
        "A string of digits is epoch seconds; a date without a time is midnight UTC; a date-time without a zone "
        "is UTC.",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Date",
        Confidence.INFERRED,
    ),
    Assumption(
        "binary-request-values",
        "BinaryEquals request values",
        "The request's binary values are base64 text, as the policy's are; one that does not decode matches nothing.",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_BinaryEquals",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "arn-like-star",
        "ArnLike with a lone *",
        "A lone * matches any ARN; any other value with fewer than six colon-separated parts matches nothing (and "
        "is warned about).",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "forward-access-source-ip",
        "aws:SourceIp of calls EC2 makes as the caller",
        "GenerateDataKeyWithoutPlaintext and CreateGrant made by EC2 on the caller's behalf (forward access) carry "
        "the caller's own IP address as aws:SourceIp, and aws:ViaAWSService is true.",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_aws_deny-ip.html "
        "(forward access sessions preserve the original requester's IP)",
        Confidence.DOC,
    ),
    Assumption(
        "ec2-infrastructure-source-ip",
        "aws:SourceIp of the instance identity's Decrypt",
        "The Decrypt made by arn:aws:sts::<account>:assumed-role/aws:ec2-infrastructure/<instance-id> carries "
        "aws:SourceIp = 52.94.0.1, an address of EC2's infrastructure that is never the user's; aws:ViaAWSService is "
        "false. AWS says the call comes from an address associated with EC2's infrastructure and CloudTrail shows "
        "'AWS Internal'; the exact address is not documented.",
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "ec2-infrastructure-via-service",
        "kms:ViaService of the instance identity's Decrypt",
        "The instance identity's Decrypt carries kms:ViaService = ec2.<region>.amazonaws.com, like the other EBS "
        "calls, and kms:CallerAccount = the launching account.",
        "inferred from EBS's use of KMS (https://docs.aws.amazon.com/kms/latest/developerguide/services-ebs.html)",
        Confidence.INFERRED,
    ),
    Assumption(
        "same-key-reuses-data-key",
        "Volumes from a snapshot encrypted with the same key",
        "A volume created from an encrypted snapshot under the same KMS key reuses the snapshot's data key: no "
        "GenerateDataKeyWithoutPlaintext; only CreateGrant (for the instance identity) and Decrypt.",
        "EBS 'How EBS encryption works' (data key reused when the key is the same)",
        Confidence.INFERRED,
    ),
    Assumption(
        "reencrypt-on-key-change",
        "Volumes from a snapshot encrypted with another key",
        "EBS makes a new data key under the volume's key (GenerateDataKeyWithoutPlaintext) and re-encrypts with "
        "ReEncrypt, which needs kms:ReEncryptFrom on the snapshot's key and kms:ReEncryptTo on the volume's key, "
        "both as the caller through EC2.",
        "KMS ReEncrypt permissions (https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html); "
        "EBS permission list (kms:ReEncrypt*)",
        Confidence.INFERRED,
    ),
    Assumption(
        "unencrypted-snapshot-to-encrypted",
        "Encrypted volumes from unencrypted snapshots or empty volumes",
        "GenerateDataKeyWithoutPlaintext as the caller, then CreateGrant for the instance identity and Decrypt by it.",
        "https://docs.aws.amazon.com/ebs/latest/userguide/how-ebs-encryption-works.html",
        Confidence.DOC,
    ),
    Assumption(
        "describe-key-on-launch",
        "DescribeKey during launches",
        "RunInstances, StartInstances and Auto Scaling launches make no DescribeKey call; CopySnapshot and "
        "CopyImage of encrypted snapshots do, as the caller.",
        "EBS CopySnapshot permissions (kms:DescribeKey required); nothing documents it for RunInstances",
        Confidence.INFERRED,
    ),
    Assumption(
        "call-order",
        "Order of the KMS calls",
        "Per volume, in device order: GenerateDataKeyWithoutPlaintext, ReEncrypt, CreateGrant, Decrypt. The first "
        "refused call ends the launch; later calls are not made.",
        "CloudTrail records of launches (reference: aws-encrypted-launch.md §1)",
        Confidence.INFERRED,
    ),
    Assumption(
        "refused-call-state-reason",
        "What a refused KMS call shows on the instance",
        "A refused KMS call during launch: pending -> shutting-down -> terminated with StateReason "
        "Client.InternalError 'Client.InternalError: Client error on launch'. A key that is disabled, pending "
        "deletion or pending import: Client.InvalidKMSKey.InvalidState 'Client.InvalidKMSKey.InvalidState: The KMS "
        "key provided is in an incorrect state'.",
        "https://repost.aws/knowledge-center/ec2-instance-terminating (Client.InternalError, doc); "
        "InvalidState code widely reported (inf)",
        Confidence.INFERRED,
    ),
    Assumption(
        "start-instances-failure",
        "StartInstances with an unusable key",
        "StartInstances of a stopped instance makes a new CreateGrant as the caller and a Decrypt by the instance "
        "identity; when one is refused the instance goes pending -> stopped with the same StateReason as a launch.",
        "StartInstances needs kms:CreateGrant (EBS docs); the resulting state is not documented",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "unknown-key-sync-error",
        "A KmsKeyId that does not resolve",
        "RunInstances with a KmsKeyId that names no key of the account and region (or an alias that does not exist) "
        "fails synchronously with InvalidParameterValue and creates nothing.",
        "not documented; EC2 validates request parameters before creating instances",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "service-role-calls",
        "Request context of calls made as a service-linked role",
        "When Auto Scaling, EC2 Fleet or Spot launches, EC2 calls KMS as the service-linked role's session "
        "(arn:aws:sts::<account>:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling and the like), with "
        "kms:ViaService = ec2.<region>.amazonaws.com, aws:ViaAWSService = true and no aws:SourceIp: no user's "
        "address exists to carry. ec2:RunInstances is not checked for the role: its AWS managed policy allows it "
        "and cannot be edited.",
        "https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html",
        Confidence.INFERRED,
    ),
    Assumption(
        "key-state-after-authorization",
        "Key state versus authorization",
        "KMS authorizes a request before it checks the key's state: a caller without permission gets "
        "AccessDeniedException even on a disabled key; an authorized caller gets DisabledException or "
        "KMSInvalidStateException.",
        "https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html",
        Confidence.INFERRED,
    ),
    Assumption(
        "role-path",
        "Role path of a session",
        "A session ARN does not carry its role's path; when the world does not know the role, a Principal naming "
        "the same account and role name is taken as that role.",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html",
        Confidence.INFERRED,
    ),
    Assumption(
        "grant-to-account",
        "A grant whose grantee is an account",
        "Evaluated like an account in a key policy: the account's principals also need an IAM allow.",
        "https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html (accounts are valid grantees)",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "grants-and-boundaries",
        "Grants, permissions boundaries and session policies",
        "A grant is treated as a resource-based policy naming its grantee: a grant to a user or session is not "
        "limited by boundaries or session policies, a grant to a role is. SCPs apply to grant use.",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html",
        Confidence.INFERRED,
    ),
    Assumption(
        "aws-ebs-created-on-first-use",
        "The aws/ebs key",
        "alias/aws/ebs is created with AWS's auto-ebs-2 policy the first time a launch needs it in an account and "
        "region where it does not exist yet.",
        "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption.html",
        Confidence.DOC,
    ),
    Assumption(
        "auto-scaling-activity",
        "Auto Scaling's record of a failed launch",
        "A launch whose instance terminates adds a scaling activity with StatusCode Cancelled and StatusMessage "
        "'Instance became unhealthy while waiting for instance to be in InService state. Termination Reason: "
        "Client.InternalError: Client error on launch'; a launch EC2 refuses outright adds a Failed activity.",
        "Auto Scaling troubleshooting pages and reported activity texts",
        Confidence.INFERRED,
    ),
    Assumption(
        "create-volume-calls",
        "KMS calls of CreateVolume",
        "As the caller through EC2 (forward access, same context as launches): GenerateDataKeyWithoutPlaintext on "
        "the volume's key with encryption context aws:ebs:id = the new vol- id (none when the snapshot has the same "
        "key: its data key is reused), then ReEncrypt (kms:ReEncryptFrom the snapshot's key, kms:ReEncryptTo the "
        "volume's) when the snapshot's key differs. No grant and no Decrypt until the volume is attached.",
        "GenerateDataKeyWithoutPlaintext under the caller with aws:ebs:id (reference aws-encrypted-launch.md §1, "
        "doc); the rest follows same-key-reuses-data-key and reencrypt-on-key-change",
        Confidence.INFERRED,
    ),
    Assumption(
        "create-volume-async-failure",
        "What a refused KMS call of CreateVolume shows",
        "CreateVolume answers at once with the volume 'creating'; when a KMS call is then refused the volume goes to "
        "state 'error' and stays in describe-volumes (until deleted). Volumes carry no state reason: kmslaunch "
        "reports the refused call's KMS error (AccessDeniedException, DisabledException, KMSInvalidStateException) "
        "as the outcome's error. A request EC2 refuses itself (UnauthorizedOperation, InvalidSnapshot.NotFound, a "
        "KmsKeyId that does not resolve) fails synchronously and creates nothing.",
        "'CreateVolume checks the key asynchronously: the call appears to succeed, the volume then fails' "
        "(reference §1, doc); 'error' is a value of the EC2 VolumeState enum "
        "(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Volume.html); that a KMS failure ends there is "
        "inferred",
        Confidence.INFERRED,
    ),
    Assumption(
        "attach-volume-calls",
        "KMS calls of AttachVolume",
        "For an encrypted volume: CreateGrant as the caller through EC2 (grantee the instance identity "
        "aws:ec2-infrastructure/<instance-id>, constraint EncryptionContextSubset aws:ebs:id = the volume, retiring "
        "principal ec2.<region>.amazonaws.com, operations Decrypt), then Decrypt by the instance identity, with the "
        "context of launches. To a stopped instance only the grant is made: the instance identity decrypts at the "
        "next StartInstances.",
        "EBS 'How EBS encryption works' and real CloudTrail records (reference §1, doc); the stopped-instance case "
        "is not documented",
        Confidence.INFERRED,
    ),
    Assumption(
        "attach-volume-states",
        "AttachVolume preconditions",
        "Checked synchronously, in this order, after ec2:AttachVolume is authorized on the volume and the instance: "
        "the volume exists (InvalidVolume.NotFound), the instance exists (InvalidInstanceID.NotFound) and is running "
        "or stopped (IncorrectState), the volume is available (VolumeInUse when in-use, IncorrectState otherwise), "
        "both are in the same Availability Zone (InvalidVolume.ZoneMismatch), the device is free "
        "(InvalidParameterValue). The order and the messages' exact words are not documented.",
        "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-attaching-volume.html; EC2 error codes "
        "(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html)",
        Confidence.INFERRED,
    ),
    Assumption(
        "attach-volume-failure",
        "What a refused KMS call of AttachVolume shows",
        "AttachVolume answers 'attaching'; the KMS calls follow and, when one is refused, the attachment fails: the "
        "volume stays 'available' with no attachment, and kmslaunch's outcome state is 'failed'. A key that is "
        "disabled, pending deletion or pending import gives Client.CustomerKeyHasBeenRevoked 'Volume vol-… cannot be "
        "attached. The encrypted volume was unable to access the KMS key.'; a call refused by policy gives "
        "Client.InternalError 'Client.InternalError: Client error on attach: EC2 could not use the KMS key of vol-…'.",
        "the CustomerKeyHasBeenRevoked code and message are documented for AttachVolume with a disabled key "
        "(reference §5, doc); that it is asynchronous, and the text for refused permissions, are choices",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "copy-snapshot-calls",
        "KMS calls of CopySnapshot",
        "As the caller through EC2, each with encryption context aws:ebs:id = the NEW snapshot id: DescribeKey on "
        "the source snapshot's key (when it is encrypted); GenerateDataKeyWithoutPlaintext on the copy's key; "
        "ReEncrypt (kms:ReEncryptFrom the source key, kms:ReEncryptTo the copy's key) when the keys differ. Across "
        "regions ReEncrypt cannot be used (keys are regional): a Decrypt on the source key through EC2 of the source "
        "region comes before GenerateDataKeyWithoutPlaintext instead. The first refused call ends the copy.",
        "kms:DescribeKey and the new snapshot's id as context are documented "
        "(https://docs.aws.amazon.com/ebs/latest/userguide/ebs-copy-snapshot.html); the other calls are inferred "
        "from EBS's use of KMS",
        Confidence.INFERRED,
    ),
    Assumption(
        "copy-snapshot-target-key",
        "The key of a snapshot copy without KmsKeyId",
        "The source snapshot's key when the copying account owns it in the destination region; otherwise (another "
        "region, or a snapshot shared from another account) the destination region's default EBS key. An "
        "unencrypted source is copied encrypted, under the default key, when Encrypted is set or encryption by "
        "default is on. KmsKeyId requires Encrypted and must name a key of the destination region.",
        "API_CopySnapshot ('By default, encrypted snapshot copies use the default KMS key'; 'The key must exist in "
        "the destination region' for CopyImage); keeping the source's key within one account and region is inferred",
        Confidence.INFERRED,
    ),
    Assumption(
        "copy-snapshot-failure",
        "What a refused KMS call of CopySnapshot shows",
        "CopySnapshot answers with the new snapshot id; a refused KMS call (DescribeKey included) leaves the new "
        "snapshot in state 'error', with the refused call's KMS error as its StateMessage and the outcome's error.",
        "EC2 SnapshotState includes 'error' "
        "(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Snapshot.html); whether EC2 checks DescribeKey "
        "before answering is not documented",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "copy-image",
        "CopyImage",
        "ec2:CopyImage authorized; the source image must be visible to the account (owned, public or with a launch "
        "permission) and, when shared, its snapshots too (createVolumePermission), else InvalidAMIID.NotFound / "
        "InvalidSnapshot.NotFound synchronously. Then one snapshot copy per EBS block device, in device order, as "
        "CopySnapshot makes it; the first refused call ends the copy: the new image is 'failed' with the StateReason "
        "of a failed launch (Client.InternalError, or Client.InvalidKMSKey.InvalidState for a key state), and the "
        "snapshots copied so far stay.",
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/CopyingAMIs.html (read access to the backing snapshots, "
        "key in the destination region); the failure's shape is a choice",
        Confidence.UNKNOWN,
    ),
    # -- Launches from AMIs of other accounts ---------------------------------------------------------------
    Assumption(
        "shared-snapshot-default-key",
        "The key of a volume restored from an encrypted snapshot another account shared",
        "Without a KmsKeyId in the request or launch template, the volume is encrypted with the launching "
        "account's default EBS key (aws/ebs unless changed), never the owner's key; EBS re-encrypts from the "
        "owner's key, so the launch needs kms:ReEncryptFrom on it (through EC2, as the caller or the service-linked "
        "role) and the default key's usual calls.",
        "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption.html (encryption outcomes: an encrypted "
        "snapshot shared with you is restored under your default KMS key unless you name one); "
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/AMIEncryption.html",
        Confidence.INFERRED,
    ),
    Assumption(
        "image-described-snapshot",
        "An AMI whose snapshots the account cannot list (Amazon's, Marketplace, shared)",
        "The volume is planned from describe-images' BlockDeviceMappings (SnapshotId, VolumeSize, Encrypted, and "
        "KmsKeyId where shown). Where an encrypted snapshot's key is not shown, kms:ReEncryptFrom on it is not "
        "checked and the answer says so; where the key is shown but its account was not collected, the call is "
        "'unknown', never allowed.",
        "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EbsBlockDevice.html (the fields describe-images "
        "returns for each EBS block device)",
        Confidence.INFERRED,
    ),
    # -- The policy engine: callers, owners, endpoint policies --------------------------------------------
    Assumption(
        "principal-star-resource-policy-vs-boundary",
        'A resource (key) policy Allow with Principal "*" and a permissions boundary or session policy',
        'In the resource\'s own account, an Allow with Principal "*" (or {"AWS": "*"}, or NotPrincipal) is '
        "treated as naming the caller itself, as a user or role session ARN: it is not limited by an implicit "
        "deny in the caller's identity policies, permissions boundary or session policies. Across accounts the "
        "caller's identity side must allow as always, boundary and session policies included.",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
        "reference_policies_evaluation-logic_policy-eval-denyallow.html "
        '(documents user, role and role session ARNs; not "*")',
        Confidence.UNKNOWN,
    ),
    Assumption(
        "notprincipal-without-account",
        "A Deny with NotPrincipal that lists a user, role or session ARN but not its account",
        "The Deny applies to that principal too: it is exempt only when its account (id or :root ARN) is listed "
        "as well. A listed account exempts its root user only, as documented.",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html "
        "('you must also specify the account ARN of the not-denied principal. Otherwise, the policy might deny "
        "access to the entire account containing the principal')",
        Confidence.INFERRED,
    ),
    Assumption(
        "vpc-endpoint-policy-evaluation",
        "Where a VPC endpoint policy sits in evaluation",
        "A request through an interface VPC endpoint is allowed only if the endpoint policy allows it too (its "
        "Principal matched as in a resource-based policy), whatever the other policies say; a Deny in it is an "
        "explicit deny. When several layers refuse, the AccessDenied message names the SCP, then the RCP, then the "
        "VPC endpoint policy, then the resource, identity, boundary and session policies.",
        "https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html ('does not override or "
        "replace identity-based policies or resource-based policies'); the messages' words from "
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html; the order among layers "
        "is not documented",
        Confidence.INFERRED,
    ),
    # -- The doctor: replays and fixes ------------------------------------------------------------------
    Assumption(
        "replayed-launch-trail-window",
        "Which CloudTrail records belong to a replayed instance's launch",
        "A refused KMS record is the launch's when it names the instance or one of its volumes (CreateGrant's "
        "grantee, the instance identity's session, aws:ebs:id); one naming another instance or volume is not; one "
        "naming neither is the launch's when made from 1 second before to 5 minutes after the instance's "
        "RunInstances record. The replay takes the instance's volume ids from the records naming it and from those "
        "naming no instance made in that window.",
        "https://docs.aws.amazon.com/kms/latest/developerguide/ct-ec2two.html (the instance id in RunInstances, the "
        "grantee and the Decrypt session; nothing on timing)",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "instant-fleet-caller",
        "Who makes the KMS calls of an instant EC2 Fleet",
        "The caller of CreateFleet with Type instant, through EC2 (forward access: kms:ViaService "
        "ec2.<region>.amazonaws.com, aws:ViaAWSService true), as for RunInstances; EC2 authorizes the caller's "
        "ec2:CreateFleet and ec2:RunInstances first. No EC2 Fleet service-linked role takes part.",
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-fleet-prerequisites.html ('An instant EC2 Fleet "
        "does not require this role'); that the KMS calls are then the caller's is inferred (Karpenter reports its "
        "controller role in the KMS records)",
        Confidence.INFERRED,
    ),
    Assumption(
        "fleet-first-override",
        "Which launch a CreateFleet request makes",
        "The first LaunchTemplateConfigs entry with its first Overrides entry (ImageId, InstanceType, "
        "AvailabilityZone over the template's), TotalTargetCapacity instances; the other configs and overrides, "
        "allocation strategies and Spot versus On-Demand split are not simulated (the KMS calls do not depend on "
        "them unless an override changes the image).",
        "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateFleet.html; which override EC2 picks "
        "depends on capacity and price, which kmslaunch does not model",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "eks-nodegroup-default-slr",
        "The identity of an EKS managed node group's launches",
        "An Auto Scaling group tagged eks:cluster-name and eks:nodegroup-name (the group EKS made for a managed node "
        "group) launches as the default AWSServiceRoleForAutoScaling, whatever custom-suffix Auto Scaling role "
        "exists in the account or the group names; the key policy must name that role.",
        "https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html (EKS creates and tags the "
        "group); https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html "
        "(the role that needs the key); EKS creates the group itself, with no way to pass a ServiceLinkedRoleARN",
        Confidence.INFERRED,
    ),
    Assumption(
        "spot-launch-configuration",
        "Who launches the Spot Instances of an Auto Scaling group with a SpotPrice launch configuration",
        "AWSServiceRoleForEC2Spot (session EC2Spot), as for a Spot Instance request: its KMS calls need that role "
        "in the key policy, not Auto Scaling's role. The scaling activities are recorded on the group as for any "
        "launch.",
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/service-linked-roles-spot-instance-requests.html "
        "(the Spot role launches Spot Instances and needs customer managed keys); that Auto Scaling's Spot "
        "launches go through it is inferred",
        Confidence.INFERRED,
    ),
    Assumption(
        "prove-per-document",
        "What kmslaunch's proofs (--prove, prove-no-new-access) prove",
        "One changed document at a time, for every request in its scope (an inline policy: its holders'; a key "
        "policy: its key's): outside the given requests, AFTER applies no Deny where BEFORE did not, and never names "
        "the caller more strongly (account < role < the caller itself). The engine combines documents "
        "monotonically, so the whole decision then allows nothing more. Grants, key states and attachments are not "
        "encoded: a fix that changes them is 'not proved'.",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html (the combination); "
        "the monotonicity is the engine's (policy/evaluate.py _conclude)",
        Confidence.INFERRED,
    ),
    Assumption(
        "prove-set-bound",
        "How many values a multivalued condition key has in a proof",
        "At most 3 (kmslaunch.prove.encode.SET_BOUND); single-valued keys exactly one. A proof covers requests with "
        "up to 3 values per multivalued key (ForAllValues/ForAnyValue over more are not searched).",
        "a bound chosen for the solver; AWS documents no limit for multivalued keys",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "prove-launch-values",
        "Which values of a launch's KMS calls a proof holds fixed",
        "Caller, action, resource and every context key the call carried are fixed, except: EC2 ids in values "
        "(i-, vol-, snap-, ami-, sir-, fleet-, lt-, eni-, r-) stand for any id of their kind, a role's session "
        "name for any name, and aws:CurrentTime, aws:EpochTime, aws:SourceIp, aws:TokenIssueTime are free (when and "
        "where from the caller launches). Keys the call did not carry are free.",
        "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption.html (EC2 names the volume in the "
        "encryption context); the choice of what varies is kmslaunch's",
        Confidence.INFERRED,
    ),
    Assumption(
        "prove-request-space",
        "Which requests a proof ranges over",
        "Well-formed callers (user, role session, federated user, root, service, anonymous) in the aws, aws-cn and "
        "aws-us-gov partitions, actions service:name in lower case, ARN resources; the keys AWS derives from the "
        "caller (aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType, aws:username, kms:CallerAccount...) "
        "have the caller's values, and documented boolean keys are true or false.",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html",
        Confidence.INFERRED,
    ),
    Assumption(
        "endpoint-invalid-text",
        "What the local endpoint answers a string that is not Unicode (an unpaired UTF-16 surrogate, JSON's "
        '"\\ud800")',
        "Refused before any handler runs: ValidationException (KMS, CloudTrail, Organizations) or "
        "InvalidParameterValue (EC2, IAM, STS, Auto Scaling), naming the parameter; nothing is stored, not even "
        "escaped, and no CloudTrail record is kept (as for any request the protocol layer refuses).",
        "https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html (ValidationException: the input "
        "fails to satisfy the constraints); AWS's APIs take UTF-8 text, which cannot hold an unpaired surrogate; "
        "the exact answer AWS gives is not documented",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "endpoint-unknown-region",
        "What the local endpoint answers a request signed for a region AWS does not have",
        "SignatureDoesNotMatch (InvalidSignatureException for KMS, CloudTrail and Organizations; AuthFailure for "
        "EC2) \"Credential should be scoped to a valid region, not 'REGION'.\", before any handler runs. Known "
        "regions are the installed botocore's (endpoints.json) for the world's partition: a region newer than "
        "botocore is refused until botocore is upgraded.",
        "STS and IAM return this message for a credential scope naming another region (seen in SDK reports); "
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-signing-elements.html (the region is "
        "part of the signed credential scope)",
        Confidence.INFERRED,
    ),
    Assumption(
        "eks-nodegroup-default-template",
        "What an EKS managed node group without a launch template launches with (pre-flight)",
        "The launch template EKS makes: the node group's AMI with one root volume of DiskSize GiB (20 when not "
        "set), no KmsKeyId and no Encrypted flag, so the volume is encrypted only when EBS encryption by default "
        "is on, with the default EBS key; launched by AWSServiceRoleForAutoScaling as for any node group.",
        "https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html (diskSize, default 20 GiB); "
        "https://docs.aws.amazon.com/eks/latest/userguide/launch-templates.html (EKS makes the template); that "
        "it sets no encryption is inferred",
        Confidence.INFERRED,
    ),
    Assumption(
        "preflight-name-after-apply",
        "The name of a planned resource Terraform names only at apply (name_prefix, a generated name)",
        "A stable placeholder (terraform-<hash of the address>), used wherever the plan refers to the resource, "
        "so that references agree; a policy naming the resource by a literal name it will not have is then "
        "refused as AWS would refuse it.",
        "https://developer.hashicorp.com/terraform/internals/json-format (unknown values are marked in "
        "after_unknown, with no value); the choice of placeholder is kmslaunch's",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "preflight-assumed-ami",
        "An AMI a plan names that the snapshot does not hold (or no snapshot is given)",
        "One unencrypted root snapshot of 8 GiB on /dev/xvda, owned by the plan's account; the path lists the "
        "AMI as unknown (it could refuse: an encrypted snapshot needs kms:ReEncryptFrom on its key), so it is "
        "never answered 'runs'.",
        "https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html (what an encrypted "
        "source snapshot needs); the shape of the stand-in is kmslaunch's",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "serve-request-limits",
        "The endpoint's HTTP limits and the codes of its HTTP-level refusals",
        "A body over 1 MiB is refused from its Content-Length with 413 RequestEntityTooLarge; a header line over "
        "64 KiB, headers over 128 KiB or more than 100 header lines with 431 RequestHeaderFieldsTooLarge; a request "
        "not complete 10 s after its first byte with 408 RequestTimeout; bytes that are not HTTP with 400 BadRequest; "
        "connections beyond 1,000 with 503 ServiceUnavailable; each in the error envelope of the service the request "
        "names (query XML when it names none).",
        "AWS documents no byte limit on an API request; every input of these services is far under 1 MiB (KMS "
        "Encrypt plaintext 4,096 bytes and key policies 32 KB, "
        "https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html; IAM managed policies 6,144 "
        "characters, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html; EC2 user data "
        "16 KB). ServiceUnavailable 503 is a common error "
        "(https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html); the other codes are chosen",
        Confidence.UNKNOWN,
    ),
    Assumption(
        "sigv4-unsigned-payload",
        "X-Amz-Content-SHA256: UNSIGNED-PAYLOAD outside S3",
        "Refused as a signature that does not match (SignatureDoesNotMatch, InvalidSignatureException, "
        "AuthFailure), whatever the body: the endpoint serves no S3, the only service that accepts a body the "
        "signature does not cover.",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html (the hashed "
        "payload; UNSIGNED-PAYLOAD is described for Amazon S3 only); the code AWS answers is not documented",
        Confidence.INFERRED,
    ),
)


def by_id(assumption_id: str) -> Assumption:
    for a in ASSUMPTIONS:
        if a.id == assumption_id:
            return a
    raise KeyError(assumption_id)


def render_markdown() -> str:
    """``docs/assumptions.md``."""
    lines = [
        "# Where AWS documents nothing: kmslaunch's assumptions",
        "",
        "Generated from `src/kmslaunch/assumptions.py` by `kmslaunch assumptions --format markdown`.",
        "Confidence: **doc** documented by AWS, **inf** inferred from documentation or real logs, **unk** unknown "
        "(a choice). Code relying on an entry names its id.",
        "",
        "| id | topic | what kmslaunch does | source | confidence |",
        "|---|---|---|---|---|",
    ]
    for a in ASSUMPTIONS:
        cells = [a.id, a.topic, a.choice, a.source, a.confidence.value]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
