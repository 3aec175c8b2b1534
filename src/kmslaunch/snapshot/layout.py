"""The snapshot layout: one file per AWS CLI command, named after the command, shared by load and save.

```
SNAPSHOT/snapshot.json
SNAPSHOT/organizations/…                       (from the management account)
SNAPSHOT/<account-id>/iam/get-account-authorization-details.json
SNAPSHOT/<account-id>/<region>/{kms,ec2,autoscaling,cloudtrail}/…
```
"""

from __future__ import annotations

import re

FORMAT = "kmslaunch-snapshot/1"
META = "snapshot.json"

ACCOUNT_RE = re.compile(r"^\d{12}$")
# us-east-1, eu-central-2, us-gov-west-1, cn-north-1, us-iso-east-1, us-isob-east-1
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$")
# A path component taken from the world (key id, template id, policy id…): nothing that could leave the directory.
# At most 200 characters: with ".json" after it, well inside the 255 bytes a file name may have on Linux and macOS
# (AWS's ids are far shorter: lt- and 17 hex digits, a key id's 36 characters).
SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$")
# The partitions an ARN names (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html lists aws,
# aws-cn and aws-us-gov; the isolated regions' partitions and the European Sovereign Cloud's are as the SDKs name
# them).
PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc")

IAM_DETAILS = "iam/get-account-authorization-details.json"

KMS_ALIASES = "kms/list-aliases.json"
KMS_KEYS = "kms/keys"
DESCRIBE_KEY = "describe-key.json"
KEY_POLICY = "get-key-policy.json"
LIST_GRANTS = "list-grants.json"

EC2_INSTANCES = "ec2/describe-instances.json"
EC2_IMAGES = "ec2/describe-images.json"
EC2_SNAPSHOTS = "ec2/describe-snapshots.json"
EC2_VOLUMES = "ec2/describe-volumes.json"
EC2_TEMPLATES = "ec2/describe-launch-templates.json"
EC2_TEMPLATE_VERSIONS = "ec2/describe-launch-template-versions"
EBS_BY_DEFAULT = "ec2/get-ebs-encryption-by-default.json"
EBS_DEFAULT_KEY = "ec2/get-ebs-default-kms-key-id.json"
EC2_VPC_ENDPOINTS = "ec2/describe-vpc-endpoints.json"

ASG_GROUPS = "autoscaling/describe-auto-scaling-groups.json"
ASG_CONFIGURATIONS = "autoscaling/describe-launch-configurations.json"
ASG_ACTIVITIES = "autoscaling/describe-scaling-activities.json"

TRAIL_EVENTS = "cloudtrail/lookup-events.json"

ORG_DIR = "organizations"
ORG_DESCRIBE = "organizations/describe-organization.json"
ORG_ROOTS = "organizations/list-roots.json"
ORG_PARENTS = "organizations/list-parents"
ORG_TARGET_POLICIES = "organizations/list-policies-for-target"
ORG_POLICY = "organizations/describe-policy"

# Organizations says this when the account is in no organization; the collector records it in snapshot.json's
# errors, and the loader reads it as "known: not in an organization".
NOT_IN_ORG = "AWSOrganizationsNotInUseException"

# Launch templates record themselves on the instances they launch with these AWS tags; describe-instances has no
# other trace of the template.
LT_ID_TAG = "aws:ec2launchtemplate:id"
LT_VERSION_TAG = "aws:ec2launchtemplate:version"
