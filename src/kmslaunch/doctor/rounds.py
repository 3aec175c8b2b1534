"""Finding a fix round by round (``fixes`` has where each change goes): simulate, take the first refused call, add
what lets exactly that call through, simulate again, until the launch runs or no change can be made. And the
alternative that changes the launch itself, offered after the fixes that keep it."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from kmslaunch.launch.request import LaunchRequest, simulate
from kmslaunch.launch.result import LaunchKind, LaunchResult
from kmslaunch.policy.decision import Layer, Verdict
from kmslaunch.world.fork import fork
from kmslaunch.world.world import World

from .appliers import in_account
from .delegation import grant_runner
from .fixes import (
    MAX_ROUNDS,
    Fix,
    FixPlan,
    Needs,
    add_need,
    decision_assumptions,
    materialize,
    verification_assumptions,
)


def find_fix(
    pristine: World,
    req: LaunchRequest,
    *,
    title: str = "least-privilege fix",
    unchanged: tuple[World, LaunchResult] | None = None,
) -> FixPlan:
    """Simulate, fix the first refused call, simulate again, until the launch succeeds or nothing more can be
    done. ``pristine`` is never changed. ``unchanged``: a copy of ``pristine`` the launch was already simulated
    on, with its result, which is the first round's (a round with nothing to fix changes nothing), so that
    round is not simulated again; that copy may be changed."""
    needs = Needs(region=req.region)
    fixes: list[Fix] = []
    for round_ in range(MAX_ROUNDS):
        if round_ == 0 and unchanged is not None:
            world, result = unchanged
        else:
            world = fork(pristine)
            fixes = materialize(world, needs)
            for f in fixes:
                if f.apply is not None:
                    f.apply(world)
            result = simulate(world, req)
        if result.succeeded:
            grant_refusal = _refused_grant_call(world, needs)
            if grant_refusal is None:
                rests_on = _rests_on(world, needs, result)
                return FixPlan(title, tuple(fixes), bool(fixes), None, result, assumptions=rests_on)
            if grant_refusal:
                return FixPlan(title, tuple(fixes), False, grant_refusal, result)
            continue
        if result.outcome.state == "rejected":
            err = result.outcome.error or {}
            return FixPlan(
                title, tuple(fixes), False, f"EC2 refuses the request itself: {err.get('Code')}: {err.get('Message')}"
            )
        refused = result.refused_calls
        if not refused:
            return FixPlan(title, tuple(fixes), False, "the launch fails for a reason that is not a KMS call")
        before = json.dumps(_needs_key(needs), sort_keys=True)
        why_not = add_need(world, refused[0], needs)
        if why_not is not None:
            return FixPlan(title, tuple(fixes), False, why_not, result)
        if json.dumps(_needs_key(needs), sort_keys=True) == before:
            return FixPlan(
                title, tuple(fixes), False, f"{refused[0].action} is still refused after the changes above", result
            )
    return FixPlan(title, tuple(fixes), False, f"no fix found in {MAX_ROUNDS} rounds")


def _refused_grant_call(world: World, needs: Needs) -> str | None:
    """Decide each grant the plan asks the consumer account to create, as the direct call it is. None: all are
    allowed; "": one was refused by the key policy and the owner's delegation was added to ``needs`` (another
    round); otherwise why the call stays refused."""
    for (key_arn, grantee, acct), ops in sorted(needs.grants.items()):
        operations = sorted(ops | ({"Decrypt"} if "CreateGrant" in ops else set()))
        runner = grant_runner(world, key_arn, grantee, acct, operations)
        if runner.decision.allowed:
            continue
        layers = set(runner.decision.denied_by)
        delegated = grantee in needs.grant_delegations.get((key_arn, acct), set())
        if layers == {Layer.KEY_POLICY} and not delegated and runner.decision.verdict is Verdict.IMPLICIT_DENY:
            needs.grant_delegations.setdefault((key_arn, acct), set()).add(grantee)
            return ""
        return (
            f"the grant for {grantee} must be created in account {acct} with a direct kms:CreateGrant call, and "
            f"that call is refused ({runner.decision.verdict.value} by {', '.join(x.value for x in layers)})"
        )
    return None


def _rests_on(world: World, needs: Needs, result: LaunchResult) -> tuple[str, ...]:
    """The assumptions of the verifying launch and of the consumer's own create-grant calls."""
    out = list(verification_assumptions(result))
    for (key_arn, grantee, acct), ops in sorted(needs.grants.items()):
        operations = sorted(ops | ({"Decrypt"} if "CreateGrant" in ops else set()))
        for a in decision_assumptions(grant_runner(world, key_arn, grantee, acct, operations).decision):
            if a not in out:
                out.append(a)
    return tuple(out)


def _needs_key(needs: Needs) -> Any:
    return {
        "identity": sorted((str(k), sorted(v)) for k, v in needs.identity.items()),
        "key_policy": sorted((str(k), sorted(v)) for k, v in needs.key_policy.items()),
        "grants": sorted((str(k), sorted(v)) for k, v in needs.grants.items()),
        "exemptions": sorted(str(k) + str(sorted(v)) for k, v in needs.exemptions.items()),
        "boundary": sorted((str(k), sorted(v)) for k, v in needs.boundary.items()),
        "grant_delegations": sorted((str(k), sorted(v)) for k, v in needs.grant_delegations.items()),
        "key_state": sorted(needs.key_state),
    }


def find_parameter_fix(pristine: World, req: LaunchRequest, result: LaunchResult) -> FixPlan | None:
    """An alternative that changes the launch instead of a policy: encrypt the volumes with the account's AWS
    managed key ``aws/ebs``, which any principal of the account may use through EC2
    (https://docs.aws.amazon.com/kms/latest/developerguide/services-ebs.html). Offered only when verified."""
    if req.kind is not LaunchKind.RUN_INSTANCES:
        return None
    devices = [v.device for v in result.volumes if v.encrypted]
    if not devices:
        return None
    params = copy.deepcopy(req.params)
    mappings = {m.get("DeviceName"): m for m in params.get("BlockDeviceMappings") or [] if isinstance(m, dict)}
    for d in devices:
        ebs = dict(mappings.get(d, {}).get("Ebs") or {})
        ebs.update({"Encrypted": True, "KmsKeyId": "alias/aws/ebs"})
        mappings[d] = {"DeviceName": d, "Ebs": ebs}
    params["BlockDeviceMappings"] = list(mappings.values())
    changed = dataclasses.replace(req, params=params)
    after = simulate(fork(pristine), changed)
    if not after.succeeded:
        return None
    fix = Fix(
        "launch-parameter",
        req.account,
        f"RunInstances by {req.caller}",
        "encrypt the volumes with the account's AWS managed key aws/ebs instead: its policy lets every principal "
        "of the account use it through EC2 (the data is then not under a key you control)",
        (
            in_account(
                f"aws ec2 run-instances --cli-input-json file://run-instances.json --region {req.region}", req.account
            ),
        ),
        document=params,
        files=(("run-instances.json", params),),
    )
    return FixPlan(
        "alternative: launch with alias/aws/ebs (changes the launch, not a policy)",
        (fix,),
        True,
        None,
        after,
        alternative=True,
        assumptions=verification_assumptions(after),
    )
