"""AWS's wording for refusals. Kept exact: users read which side is missing from it.

AccessDenied messages, "Troubleshooting access denied error messages"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html):
``User: <arn> is not authorized to perform: <action> on resource: <arn> because no <policy type> allows the
<action> action`` and ``... with an explicit deny in a <policy type>``; for VPC endpoints "because no VPC endpoint
policy allows the <action> action" and "with an explicit deny in a VPC endpoint policy".
"""

from __future__ import annotations

from kmslaunch.policy.decision import Decision, Layer, Verdict

_IMPLICIT = {
    Layer.KEY_POLICY: "no resource-based policy allows",
    Layer.RESOURCE_POLICY: "no resource-based policy allows",
    Layer.IDENTITY_POLICY: "no identity-based policy allows",
    Layer.PERMISSIONS_BOUNDARY: "no permissions boundary allows",
    Layer.SESSION_POLICY: "no session policy allows",
    Layer.SCP: "no service control policy allows",
    Layer.RCP: "no resource control policy allows",
    Layer.VPC_ENDPOINT_POLICY: "no VPC endpoint policy allows",
}
_EXPLICIT = {
    Layer.KEY_POLICY: "a resource-based policy",
    Layer.RESOURCE_POLICY: "a resource-based policy",
    Layer.IDENTITY_POLICY: "an identity-based policy",
    Layer.PERMISSIONS_BOUNDARY: "a permissions boundary",
    Layer.SESSION_POLICY: "a session policy",
    Layer.SCP: "a service control policy",
    Layer.RCP: "a resource control policy",
    Layer.VPC_ENDPOINT_POLICY: "a VPC endpoint policy",
}
# AWS names one layer; with several, the first in its evaluation order (the VPC endpoint policy right after the
# organization's: assumption vpc-endpoint-policy-evaluation).
_ORDER = (
    Layer.SCP,
    Layer.RCP,
    Layer.VPC_ENDPOINT_POLICY,
    Layer.KEY_POLICY,
    Layer.RESOURCE_POLICY,
    Layer.IDENTITY_POLICY,
    Layer.PERMISSIONS_BOUNDARY,
    Layer.SESSION_POLICY,
)


def _first(layers: tuple[Layer, ...]) -> Layer | None:
    for layer in _ORDER:
        if layer in layers:
            return layer
    return None


def access_denied_message(principal_arn: str, action: str, resource: str, decision: Decision) -> str:
    """The message of the AccessDenied error AWS returns for this decision."""
    head = f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource}"
    layer = _first(decision.denied_by)
    if layer is None or decision.verdict is Verdict.ALLOWED:
        return head
    if decision.verdict is Verdict.EXPLICIT_DENY:
        return f"{head} with an explicit deny in {_EXPLICIT[layer]}"
    return f"{head} because {_IMPLICIT[layer]} the {action} action"
