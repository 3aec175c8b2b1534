"""Live collection: an account (or an organization, one role per account) written as a snapshot directory.

Every file is what ``aws … --output json`` prints for the same call, pages merged, timestamps as the CLI v2
prints them (``datetime.isoformat()``), so that ``load_snapshot`` reads a collected snapshot exactly as it reads
one made by hand with the CLI. Read-only calls only; the IAM permissions they need:

======================================  =========================================================================
permission                               file
======================================  =========================================================================
sts:GetCallerIdentity                    (who is collecting; the partition)
sts:AssumeRole                           (``--role-arn``: the role in each account)
iam:GetAccountAuthorizationDetails       ``<account>/iam/get-account-authorization-details.json``
kms:ListKeys                             (which key folders to write)
kms:ListAliases                          ``<account>/<region>/kms/list-aliases.json``
kms:DescribeKey                          ``kms/keys/<key-id>/describe-key.json``
kms:GetKeyPolicy                         ``kms/keys/<key-id>/get-key-policy.json``
kms:ListGrants                           ``kms/keys/<key-id>/list-grants.json``
ec2:DescribeInstances                    ``ec2/describe-instances.json``
ec2:DescribeImages                       ``ec2/describe-images.json`` (owned by and launchable by the account)
ec2:DescribeSnapshots                    ``ec2/describe-snapshots.json`` (owned by and restorable by the account)
ec2:DescribeVolumes                      ``ec2/describe-volumes.json``
ec2:DescribeLaunchTemplates              ``ec2/describe-launch-templates.json``
ec2:DescribeLaunchTemplateVersions       ``ec2/describe-launch-template-versions/<template-id>.json``
ec2:GetEbsEncryptionByDefault            ``ec2/get-ebs-encryption-by-default.json``
ec2:GetEbsDefaultKmsKeyId                ``ec2/get-ebs-default-kms-key-id.json``
ec2:DescribeVpcEndpoints                 ``ec2/describe-vpc-endpoints.json`` (with each endpoint's policy)
autoscaling:DescribeAutoScalingGroups    ``autoscaling/describe-auto-scaling-groups.json``
autoscaling:DescribeLaunchConfigurations ``autoscaling/describe-launch-configurations.json``
autoscaling:DescribeScalingActivities    ``autoscaling/describe-scaling-activities.json``
cloudtrail:LookupEvents                  ``cloudtrail/lookup-events.json`` (KMS events and RunInstances)
organizations:DescribeOrganization       ``organizations/describe-organization.json``
organizations:ListRoots                  ``organizations/list-roots.json`` (management account)
organizations:ListParents                ``organizations/list-parents/<child-id>.json`` (management account)
organizations:ListPoliciesForTarget      ``organizations/list-policies-for-target/<type>/<target-id>.json``
organizations:DescribePolicy             ``organizations/describe-policy/<policy-id>.json``
======================================  =========================================================================

AWS managed ``SecurityAudit`` plus ``kms:GetKeyPolicy``/``kms:ListGrants`` on the keys covers them all
(``ViewOnlyAccess`` does not: it has no ``kms:GetKeyPolicy``).

A refused call does not stop collection: it is recorded in ``snapshot.json`` under ``errors``
(``{"call", "target", "command", "file", "code", "message"}``), its file is not written, and the loader marks
what that file would have told unknown.
"""
