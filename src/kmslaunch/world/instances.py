"""The EC2 instance lifecycle as an explicit ``(state, event) -> state`` table.

States and codes: "Amazon EC2 instance state changes"
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html). An event that the table
does not list for a state is refused with EC2's ``IncorrectInstanceState``.
"""

from __future__ import annotations

import enum


class InstanceState(enum.Enum):
    PENDING = ("pending", 0)
    RUNNING = ("running", 16)
    SHUTTING_DOWN = ("shutting-down", 32)
    TERMINATED = ("terminated", 48)
    STOPPING = ("stopping", 64)
    STOPPED = ("stopped", 80)

    @property
    def label(self) -> str:
        return self.value[0]

    @property
    def code(self) -> int:
        return self.value[1]

    @classmethod
    def from_label(cls, label: str) -> InstanceState:
        for s in cls:
            if s.label == label:
                return s
        raise ValueError(f"{label!r} is not an instance state")


class InstanceEvent(enum.Enum):
    BOOTED = "booted"  # launch or start finished: volumes attached and decrypted
    LAUNCH_FAILED = "launch-failed"  # a launch-time error (e.g. a refused KMS call)
    SHUTDOWN_DONE = "shutdown-done"
    STOP = "stop"
    STOPPED = "stopped"
    START = "start"
    TERMINATE = "terminate"
    START_FAILED = "start-failed"  # StartInstances whose volumes cannot be decrypted: back to stopped


S, E = InstanceState, InstanceEvent
TRANSITIONS: dict[tuple[InstanceState, InstanceEvent], InstanceState] = {
    (S.PENDING, E.BOOTED): S.RUNNING,
    (S.PENDING, E.LAUNCH_FAILED): S.SHUTTING_DOWN,
    (S.PENDING, E.START_FAILED): S.STOPPED,
    (S.PENDING, E.TERMINATE): S.SHUTTING_DOWN,
    (S.RUNNING, E.STOP): S.STOPPING,
    (S.RUNNING, E.TERMINATE): S.SHUTTING_DOWN,
    (S.STOPPING, E.STOPPED): S.STOPPED,
    (S.STOPPING, E.TERMINATE): S.SHUTTING_DOWN,
    (S.STOPPED, E.START): S.PENDING,
    (S.STOPPED, E.TERMINATE): S.SHUTTING_DOWN,
    (S.SHUTTING_DOWN, E.SHUTDOWN_DONE): S.TERMINATED,
    # TerminateInstances is idempotent: terminating a terminated or shutting-down instance changes nothing.
    (S.SHUTTING_DOWN, E.TERMINATE): S.SHUTTING_DOWN,
    (S.TERMINATED, E.TERMINATE): S.TERMINATED,
    # Stopping a stopped instance succeeds and changes nothing.
    (S.STOPPED, E.STOP): S.STOPPED,
    (S.RUNNING, E.START): S.RUNNING,
}
del S, E


class IncorrectInstanceState(Exception):
    """EC2's ``IncorrectInstanceState``: the event is not allowed in the instance's current state."""

    code = "IncorrectInstanceState"

    def __init__(self, instance_id: str, state: InstanceState, event: InstanceEvent) -> None:
        self.instance_id = instance_id
        self.state = state
        self.event = event
        super().__init__(f"The instance '{instance_id}' is not in a state from which it can be {event.value}.")


def transition(instance_id: str, state: InstanceState, event: InstanceEvent) -> InstanceState:
    """The state after ``event``, or IncorrectInstanceState."""
    nxt = TRANSITIONS.get((state, event))
    if nxt is None:
        raise IncorrectInstanceState(instance_id, state, event)
    return nxt
