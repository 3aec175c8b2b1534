"""AWS's authorization decision for one request, with the reasons when asked.

Encodes, in this order:
- "Policy evaluation logic" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
  an explicit Deny in any policy wins; then every level of the organization path must allow through its SCPs
  and its RCPs; then resource-based policies, identity-based policies, permissions boundaries and session policies.
- "Cross-account policy evaluation logic"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html):
  a request to another account's resource needs both the resource policy and the caller's identity policies.
- KMS "Determining access to AWS KMS keys" (https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html)
  and "Key policies" (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html): the key policy
  is required; IAM policies count only when the key policy allows the key's account (delegation); grants allow
  their operations to their grantee when the constraints hold, need no IAM permission, and never beat a Deny.

The stages: ``request`` (the request, the policy set, the request context), ``match`` (statements against a
request), ``plan`` (the statements that can apply, compiled once per caller, action and resource, and the
decisions their outcomes lead to), ``conclude`` (the rules above, from each layer's contribution), ``scan`` (every
statement on its own: the reference, and the near misses). The plain path (``explain=False``) stops testing
once the verdict is known and builds no reasons; ``explain=True`` tests the same statements, names the ones
that decided, and finds the near misses (statements that failed on exactly one element) when they are read.
"""

from __future__ import annotations

from kmslaunch.policy.conclude import ALLOWED as _ALLOWED
from kmslaunch.policy.conclude import (
    NO_PERMISSION,
    NO_PERMISSION_ACTIONS,
    RULE_NO_PERMISSION,
    RULE_ROOT_USER,
)
from kmslaunch.policy.decision import Decision
from kmslaunch.policy.plan import decide_explained, decide_fast
from kmslaunch.policy.request import (
    Organization,
    PolicySet,
    Request,
    build_context,
    is_kms_key,
    owner_account,
    rcps_apply,
    resource_account,
    scps_apply,
)

__all__ = [
    "NO_PERMISSION_ACTIONS",
    "RULE_NO_PERMISSION",
    "RULE_ROOT_USER",
    "Organization",
    "PolicySet",
    "Request",
    "authorize",
    "build_context",
    "is_kms_key",
    "owner_account",
    "rcps_apply",
    "resource_account",
    "scps_apply",
]


def authorize(req: Request, ps: PolicySet, *, explain: bool = False) -> Decision:
    """Decide one request as AWS would. With ``explain``, the Decision carries the deciding statements, the
    partial ones and the assumptions, and its near misses are found when first read; without, it builds no
    reasons. Both paths test the same compiled statements and share ``conclude``, so they cannot disagree on
    the rules; ``scan.authorize_by_scan`` is the statement-by-statement reference both are tested against."""
    action_l = req.action.lower()
    if action_l in NO_PERMISSION_ACTIONS:
        return NO_PERMISSION if explain else _ALLOWED
    if explain:
        return decide_explained(req, ps, action_l)
    return decide_fast(req, ps, action_l)
