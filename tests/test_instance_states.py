"""The instance lifecycle table, and properties of every sequence of events through it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmslaunch.world.instances import (
    TRANSITIONS,
    IncorrectInstanceState,
    InstanceEvent,
    InstanceState,
    transition,
)

S, E = InstanceState, InstanceEvent

# The lifecycle as EC2 documents it (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html),
# written out independently of the table under test.
EXPECTED = [
    (S.PENDING, E.BOOTED, S.RUNNING),
    (S.PENDING, E.LAUNCH_FAILED, S.SHUTTING_DOWN),
    (S.SHUTTING_DOWN, E.SHUTDOWN_DONE, S.TERMINATED),
    (S.RUNNING, E.STOP, S.STOPPING),
    (S.STOPPING, E.STOPPED, S.STOPPED),
    (S.STOPPED, E.START, S.PENDING),
    (S.RUNNING, E.TERMINATE, S.SHUTTING_DOWN),
    (S.STOPPED, E.TERMINATE, S.SHUTTING_DOWN),
    (S.PENDING, E.START_FAILED, S.STOPPED),
]


@pytest.mark.parametrize(("state", "event", "after"), EXPECTED)
def test_documented_transitions(state: InstanceState, event: InstanceEvent, after: InstanceState) -> None:
    assert transition("i-1", state, event) is after


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (S.TERMINATED, E.START),
        (S.TERMINATED, E.STOP),
        (S.TERMINATED, E.BOOTED),
        (S.RUNNING, E.BOOTED),
        (S.STOPPING, E.START),
        (S.SHUTTING_DOWN, E.START),
        (S.STOPPED, E.BOOTED),
    ],
)
def test_illegal_events_raise_incorrect_instance_state(state: InstanceState, event: InstanceEvent) -> None:
    with pytest.raises(IncorrectInstanceState) as err:
        transition("i-1", state, event)
    assert err.value.code == "IncorrectInstanceState"
    assert "i-1" in str(err.value)


def test_codes_are_ec2s() -> None:
    assert {s.label: s.code for s in S} == {
        "pending": 0,
        "running": 16,
        "shutting-down": 32,
        "terminated": 48,
        "stopping": 64,
        "stopped": 80,
    }


@given(st.lists(st.sampled_from(list(E)), max_size=40))
def test_any_sequence_stays_in_the_table(events: list[InstanceEvent]) -> None:
    state = S.PENDING
    terminated = False
    for ev in events:
        try:
            nxt = transition("i-1", state, ev)
        except IncorrectInstanceState:
            assert (state, ev) not in TRANSITIONS
            continue
        assert TRANSITIONS[(state, ev)] is nxt
        if terminated:
            assert nxt is S.TERMINATED  # terminated is final: nothing brings an instance back
        terminated = nxt is S.TERMINATED
        state = nxt
    assert isinstance(state, S)


def test_every_state_is_reachable_from_pending() -> None:
    seen = {S.PENDING}
    frontier = [S.PENDING]
    while frontier:
        s = frontier.pop()
        for (a, _), b in TRANSITIONS.items():
            if a is s and b not in seen:
                seen.add(b)
                frontier.append(b)
    assert seen == set(S)
