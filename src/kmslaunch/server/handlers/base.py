"""What every handler gets and may raise: the request's context and AWS's errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kmslaunch.policy.principals import Principal
from kmslaunch.world.world import World

if TYPE_CHECKING:
    from kmslaunch.server.state import State


class ApiError(Exception):
    """An AWS error to return: ``code`` and ``message`` as AWS words them, and the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Ctx:
    """One request: who calls (verified), where, and the state to act on (under the state's lock)."""

    state: State
    caller: Principal
    account: str
    region: str
    service: str
    operation: str
    request_id: str
    source_ip: str
    user_agent: str
    access_key_id: str
    changed: bool = False  # set by handlers that change the world: the state is saved after the request
    authorized: bool = False  # set by State.authorize: the dispatcher refuses to answer without it
    recorded: bool = False  # set by handlers whose launch path wrote the API call's CloudTrail record itself
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def world(self) -> World:
        world: World = self.state.world
        return world

    def authorize(self, action: str, resource: str, **kwargs: Any) -> None:
        """Authorize one action; ApiError in the service's words when refused."""
        self.state.authorize(self, action, resource, **kwargs)


Handler = Callable[[Ctx, dict[str, Any]], dict[str, Any]]


PROTOCOL_OF = {
    "ec2": "ec2",
    "iam": "query",
    "sts": "query",
    "autoscaling": "query",
    "kms": "json",
    "cloudtrail": "json",
    "organizations": "json",
}


def required(ctx: Ctx, params: dict[str, Any], name: str) -> Any:
    """A required parameter, or the error each protocol gives for a missing one."""
    value = params.get(name)
    if value is None or value == "":
        protocol = PROTOCOL_OF.get(ctx.service, "json")
        if protocol == "ec2":
            raise ApiError("MissingParameter", f"The request must contain the parameter {name}")
        if protocol == "query":
            raise ApiError(
                "ValidationError",
                f"1 validation error detected: Value null at '{name}' failed to satisfy constraint: "
                "Member must not be null",
            )
        camel = name[0].lower() + name[1:]
        raise ApiError(
            "ValidationException",
            f"1 validation error detected: Value null at '{camel}' failed to satisfy constraint",
        )
    return value
