"""What an authorization decision says, as data: the verdict, the statements that decided it, the
layers that refused, and the near misses. Nothing here formats text: ``kmslaunch.policy.explain`` does.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from kmslaunch.policy.model import Effect, PolicyType


class Verdict(enum.Enum):
    """The IAM policy simulator's words."""

    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"


class Element(enum.Enum):
    ACTION = "action"
    RESOURCE = "resource"
    PRINCIPAL = "principal"
    CONDITION = "condition"
    GRANTEE = "grantee"
    OPERATION = "operation"
    CONSTRAINT = "constraint"


@dataclass(frozen=True, slots=True)
class StatementRef:
    """One statement (or grant) of one policy, as reasons name it."""

    layer: PolicyType | str  # "grant" for grants, "rule" for AWS's own rules (root user, no permission required)
    policy: str
    statement: str  # Sid, "Statement[i]", or the grant id
    index: int
    effect: Effect

    def to_json(self) -> dict[str, object]:
        layer = self.layer.value if isinstance(self.layer, PolicyType) else self.layer
        return {
            "layer": layer,
            "policy": self.policy,
            "statement": self.statement,
            "index": self.index,
            "effect": self.effect.value,
        }


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The one element that kept a statement from applying.

    For conditions: ``key``, ``operator``, the policy's ``expected`` values and the request's ``actual``
    values (None when the request does not carry the key). For action/resource/principal: ``expected`` is
    what the statement lists and ``actual`` what the request had.
    """

    element: Element
    expected: tuple[str, ...]
    actual: tuple[str, ...] | None
    key: str | None = None
    operator: str | None = None
    path: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"element": self.element.value, "expected": list(self.expected)}
        out["actual"] = None if self.actual is None else list(self.actual)
        if self.key is not None:
            out["key"] = self.key
        if self.operator is not None:
            out["operator"] = self.operator
        if self.path is not None:
            out["path"] = self.path
        return out


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A statement that would have applied but for one element."""

    statement: StatementRef
    mismatch: Mismatch

    def to_json(self) -> dict[str, object]:
        return {**self.statement.to_json(), "failed": self.mismatch.to_json()}


class Layer(enum.Enum):
    """Where a refusal comes from, in the words kmslaunch's JSON output uses."""

    KEY_POLICY = "key-policy"
    RESOURCE_POLICY = "resource-policy"
    IDENTITY_POLICY = "identity-policy"
    SCP = "scp"
    RCP = "rcp"
    PERMISSIONS_BOUNDARY = "permissions-boundary"
    SESSION_POLICY = "session-policy"
    GRANT = "grant"
    KEY_STATE = "key-state"
    VPC_ENDPOINT_POLICY = "vpc-endpoint-policy"


class NearMisses:
    """A decision's near misses, computed on first read and then kept.

    Finding near misses means looking at every statement of every policy, most of them far from applying:
    that costs ten times the decision itself, and most explained decisions are read only for their verdict
    and deciding statements. The value is the same whenever it is read, so a Decision holding this stays an
    immutable value; equality and hashing compare the near misses themselves.
    """

    __slots__ = ("_compute", "_value")

    def __init__(self, value: tuple[NearMiss, ...] | Callable[[], tuple[NearMiss, ...]] = ()) -> None:
        self._compute: Callable[[], tuple[NearMiss, ...]] | None
        if callable(value):
            self._compute, self._value = value, None
        else:
            self._compute, self._value = None, value

    def get(self) -> tuple[NearMiss, ...]:
        """The near misses, computing them the first time."""
        value = self._value
        if value is None:
            assert self._compute is not None
            value = self._value = self._compute()
            self._compute = None
        return value

    @property
    def computed(self) -> bool:
        return self._value is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NearMisses) and self.get() == other.get()

    def __hash__(self) -> int:
        return hash(self.get())

    def __repr__(self) -> str:
        return repr(self._value) if self._value is not None else "NearMisses(<not computed>)"

    def __getstate__(self) -> tuple[NearMiss, ...]:
        # Copies and pickles carry the value, not the closure over the request.
        return self.get()

    def __setstate__(self, state: tuple[NearMiss, ...]) -> None:
        self._compute, self._value = None, state


NO_NEAR_MISSES = NearMisses()


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict for one request.

    ``decided_by``: for explicitDeny the matching Deny statements; for allowed the Allow statements (and
    grants) that made the request allowed. ``denied_by``: the layers that refused (for implicitDeny, the
    layers where an allow was missing). ``near_misses`` is filled only when reasons were asked for, and
    computed when first read (``near``).
    """

    verdict: Verdict
    denied_by: tuple[Layer, ...] = ()
    decided_by: tuple[StatementRef, ...] = ()
    explained: bool = False
    # implicitDeny only: Allow statements that matched but were not enough (a key policy that delegates to IAM
    # when IAM does not allow, an identity allow without the key policy's). Filled only when explained.
    partial: tuple[StatementRef, ...] = ()
    # The ids of the ``kmslaunch.assumptions`` entries the verdict rests on: choices kmslaunch made where AWS
    # documents nothing, without which the verdict could differ. Filled only when explained.
    assumptions: tuple[str, ...] = ()
    near: NearMisses = field(default=NO_NEAR_MISSES, repr=False)

    @property
    def near_misses(self) -> tuple[NearMiss, ...]:
        """Statements that failed on exactly one element (explained decisions only)."""
        return self.near.get()

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOWED

    def to_json(self) -> dict[str, object]:
        return {
            "decision": self.verdict.value,
            "denied_by": [layer.value for layer in self.denied_by],
            "reasons": [s.to_json() for s in self.decided_by],
            "near_misses": [n.to_json() for n in self.near_misses],
            "partial": [s.to_json() for s in self.partial],
            "assumptions": list(self.assumptions),
        }
