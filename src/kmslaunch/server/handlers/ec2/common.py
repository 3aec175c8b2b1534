"""What the EC2 handlers share: the region's EC2, resource ARNs, botocore's shapes of the launch path's views,
EC2's filters and not-found errors, and the call into the launch path."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from kmslaunch.launch.errors import Ec2Error, NotInWorld
from kmslaunch.launch.result import LaunchResult
from kmslaunch.policy.errors import InputError
from kmslaunch.policy.wildcard import glob_match
from kmslaunch.world.ec2 import Ec2
from kmslaunch.world.world import World

from ..base import ApiError, Ctx

T = TypeVar("T")

# Members of EC2's output shapes that botocore models as timestamps (Image.CreationDate is a string).
_TIMESTAMPS = frozenset({"LaunchTime", "AttachTime", "CreateTime", "StartTime"})


def ec2_of(ctx: Ctx) -> Ec2:
    """The EC2 of the request's account and region."""
    return ctx.world.account(ctx.account).region(ctx.region).ec2


def arn(ctx: Ctx, resource: str, *, account: bool = True) -> str:
    """An EC2 resource ARN; snapshots and images have no account in theirs
    (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html#amazonec2-resources-for-iam-policies)."""
    return f"arn:{ctx.world.partition}:ec2:{ctx.region}:{ctx.account if account else ''}:{resource}"


def when(value: str) -> datetime:
    """A timestamp of the world's text, as botocore wants it."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)


def wire(value: Any) -> Any:
    """A view built for the CLI's JSON (timestamps as text) in botocore's shape (timestamps as datetimes)."""
    if isinstance(value, dict):
        return {k: when(v) if k in _TIMESTAMPS and isinstance(v, str) else wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


def api_error(exc: Ec2Error | InputError | NotInWorld) -> ApiError:
    """The launch path's error in EC2's words."""
    if isinstance(exc, Ec2Error):
        return ApiError(exc.code, exc.message, exc.status)
    if isinstance(exc, InputError):
        return ApiError("InvalidParameterValue", f"{exc.path}: {exc.message}" if exc.path else exc.message)
    # The endpoint's world is the whole world: what it lacks does not exist.
    return ApiError("InvalidParameterValue", str(exc))


def launch_path(
    ctx: Ctx,
    operation: str,
    call: Callable[[], LaunchResult],
) -> LaunchResult:
    """Run one operation of the launch path for the endpoint. The trail changes even when EC2 refuses the request;
    when the launch path recorded the API call itself, the dispatcher does not (see the package docstring); a
    synchronous refusal comes back as EC2's error, and the launch path's input errors as InvalidParameterValue."""
    try:
        result = call()
    except (InputError, NotInWorld) as exc:
        raise api_error(exc) from exc
    ctx.changed = True
    ctx.recorded = any(
        r.get("eventSource") == "ec2.amazonaws.com" and r.get("eventName") == operation for r in result.trail
    )
    if result.outcome.state == "rejected":
        err = result.outcome.error or {"Code": "InternalError", "Message": "the request was refused"}
        raise ApiError(err["Code"], err["Message"], 403 if err["Code"] == "UnauthorizedOperation" else 400)
    return result


# A launch-path operation taking the request's parameters: (world, account, region, params, caller, source IP).
FromParams = Callable[[World, str, str, Mapping[str, Any], str, str | None], LaunchResult]


def launched(ctx: Ctx, operation: str, run: FromParams, params: Mapping[str, Any], member: str) -> dict[str, Any]:
    """Run a launch-path operation on the request's parameters (``launch_path``); the resource it made, as the
    first element of its view's ``member``."""
    result = launch_path(
        ctx, operation, lambda: run(ctx.world, ctx.account, ctx.region, params, ctx.caller.arn, ctx.source_ip)
    )
    assert result.view is not None
    return dict(result.view[member][0])


def filters(params: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """The request's ``Filters`` as (name, values)."""
    return [(str(f.get("Name")), [str(v) for v in f.get("Values") or []]) for f in params.get("Filters") or []]


def matches(values: Mapping[str, Iterable[str]], wanted: list[tuple[str, list[str]]]) -> bool:
    """EC2's filter semantics: every filter must match; a filter matches when any of its values (``*`` and ``?``
    wildcards allowed) matches any of the resource's values; an unknown filter name matches nothing."""
    for name, patterns in wanted:
        have = list(values.get(name, ()))
        if not any(glob_match(w, h) for w in patterns for h in have):
            return False
    return True


def not_found(code: str, noun: str, missing: list[str]) -> ApiError:
    """EC2's not-found error naming every missing id."""
    if len(missing) == 1:
        return ApiError(code, f"The {noun} ID '{missing[0]}' does not exist")
    return ApiError(code, f"The {noun} IDs '{', '.join(missing)}' do not exist")


def select(
    params: Mapping[str, Any], ids_name: str, pool: Mapping[str, T], missing: Callable[[list[str]], ApiError]
) -> list[T]:
    """The resources a Describe call names in ``ids_name`` (all of ``pool`` when it names none), in its order;
    ``missing`` is EC2's error when it names one that is not there."""
    ids = [str(i) for i in params.get(ids_name) or []]
    absent = [i for i in ids if i not in pool]
    if absent:
        raise missing(absent)
    return [pool[i] for i in ids] if ids else list(pool.values())
