"""What every IAM handler shares: the account's IAM, ARNs, IAM's errors, the request's path, tags and documents, and
the kinds of identity (user, role, group) the per-identity calls are written once for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kmslaunch.policy.errors import PolicyValidationError
from kmslaunch.policy.model import PolicyType
from kmslaunch.world.clock import iso
from kmslaunch.world.documents import Document
from kmslaunch.world.iam import Group, Iam, ManagedPolicy, Role, User

from ..base import ApiError, Ctx
from .aws_policies import aws_managed, is_aws_managed

E = TypeVar("E", User, Role, Group)


@dataclass(frozen=True, slots=True)
class Kind(Generic[E]):
    """A kind of IAM identity as the API words it: ``word`` in ARNs and NoSuchEntity messages ("user"), ``title`` in
    action names (iam:AttachUserPolicy), ``name_param`` the request parameter naming one ("UserName"), ``table`` where
    the account keeps them by name."""

    word: str
    name_param: str
    table: Callable[[Iam], dict[str, E]]

    @property
    def title(self) -> str:
        return self.word.capitalize()


USER: Kind[User] = Kind("user", "UserName", lambda iam: iam.users)
ROLE: Kind[Role] = Kind("role", "RoleName", lambda iam: iam.roles)
GROUP: Kind[Group] = Kind("group", "GroupName", lambda iam: iam.groups)


def iam_of(ctx: Ctx) -> Iam:
    return ctx.world.account(ctx.account).iam


def arn(ctx: Ctx, kind: str, path: str, name: str) -> str:
    return f"arn:{ctx.world.partition}:iam::{ctx.account}:{kind}{path}{name}"


def list_resource(ctx: Ctx, kind: str) -> str:
    """The resource IAM names when a List call is refused: the account's ``user/``, ``role/``, ``group/``."""
    return arn(ctx, kind, "/", "")


def now(ctx: Ctx) -> str:
    return iso(ctx.world.clock.now())


def no_such(what: str, name: str) -> ApiError:
    return ApiError("NoSuchEntity", f"The {what} with name {name} cannot be found.", 404)


def exists(message: str) -> ApiError:
    return ApiError("EntityAlreadyExists", message, 409)


def named(
    ctx: Ctx,
    kind: Kind[E],
    name: str,
    action: str,
    *,
    context: Mapping[str, tuple[str, ...]] | None = None,
    modifying: bool = False,
) -> E:
    """The ``kind`` called ``name``, once ``action`` is authorized on it; NoSuchEntity when there is none.

    The call is authorized before the entity's absence is reported, so that a caller refused the action learns
    nothing of what exists: a missing entity is authorized on the ARN it would have at path "/". ``modifying``
    refuses a service-linked role (``protect``)."""
    entity = kind.table(iam_of(ctx)).get(name)
    ctx.authorize(action, entity.arn if entity else arn(ctx, kind.word, "/", name), context=context)
    if entity is None:
        raise no_such(kind.word, name)
    if modifying:
        protect(entity)
    return entity


def existing(ctx: Ctx, kind: Kind[E], name: str) -> E:
    """The ``kind`` called ``name``, for a call already authorized on another entity (a group's member)."""
    entity = kind.table(iam_of(ctx)).get(name)
    if entity is None:
        raise no_such(kind.word, name)
    return entity


def protect(entity: User | Role | Group) -> None:
    """Service-linked roles' permissions belong to their service
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/using-service-linked-roles.html)."""
    if isinstance(entity, Role) and entity.service_linked:
        raise ApiError(
            "UnmodifiableEntity",
            f"Cannot perform the operation on the protected role '{entity.name}' - this role is only modifiable by AWS",
            400,
        )


def policy_of(ctx: Ctx, policy_arn: str, *, attaching: bool = False) -> ManagedPolicy:
    """A managed policy by ARN: the account's own, or an AWS managed one the endpoint knows."""
    policy = iam_of(ctx).policies.get(policy_arn)
    if policy is None and is_aws_managed(policy_arn):
        policy = aws_managed(ctx.world, ctx.account, policy_arn)
    if policy is None:
        if attaching:
            raise ApiError("NoSuchEntity", f"Policy {policy_arn} does not exist or is not attachable.", 404)
        raise ApiError("NoSuchEntity", f"Policy {policy_arn} was not found.", 404)
    return policy


def path_param(params: dict[str, Any]) -> str:
    path = str(params.get("Path") or "/")
    if not (path.startswith("/") and path.endswith("/")):
        raise ApiError(
            "ValidationError",
            f"The specified value for path is invalid. It must begin and end with / and contain only alphanumeric "
            f"characters and/or / characters. Value: {path}",
        )
    return path


def boundary_param(ctx: Ctx, params: dict[str, Any]) -> str | None:
    """The PermissionsBoundary a Create call asks for, once it is known to name a policy that exists."""
    boundary = params.get("PermissionsBoundary")
    if not boundary:
        return None
    policy_of(ctx, str(boundary), attaching=True)
    return str(boundary)


def tags_param(params: dict[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in params.get("Tags") or []}


def document(text: object, policy_type: PolicyType, name: str) -> Document:
    """A policy document from the request, or MalformedPolicyDocument with every problem the parser found."""
    try:
        return Document.parse(text, policy_type, name)
    except PolicyValidationError as exc:
        detail = "; ".join(i.render() for i in exc.issues if i.severity.value == "error")
        raise ApiError("MalformedPolicyDocument", f"Syntax errors in policy. {detail}".strip(), 400) from exc
