"""IAM: users, groups, roles (service-linked ones included), managed and inline policies, permissions boundaries,
access keys and get-account-authorization-details, each call authorized as ``iam:<Operation>`` on the entity's ARN.

IAM is global: the entities live in the caller's account, whatever region the request was signed for. Documents come
in as JSON text (botocore sends them as strings) and go out as the parsed JSON; the wire serializer URL-encodes them as
IAM does (``policyDocumentType``). Errors are IAM's (https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html
and each action's Errors section).

One module a part of the API: ``users``, ``groups``, ``roles``, ``managed_policies``, ``identity_policies`` (what is
attached to, inlined in or bounds a user, role or group, written once for the three), ``access_keys`` and
``details``; ``aws_policies`` is the table of AWS managed policies, ``common`` and ``shapes`` what they share.
"""

from __future__ import annotations

from ..base import Handler
from . import access_keys, details, groups, identity_policies, managed_policies, roles, users
from .aws_policies import AWS_MANAGED_POLICIES, aws_managed, policy_resource

__all__ = ["AWS_MANAGED_POLICIES", "HANDLERS", "aws_managed", "policy_resource"]

HANDLERS: dict[str, Handler] = {
    **users.HANDLERS,
    **groups.HANDLERS,
    **roles.HANDLERS,
    **managed_policies.HANDLERS,
    **identity_policies.HANDLERS,
    **access_keys.HANDLERS,
    **details.HANDLERS,
}
