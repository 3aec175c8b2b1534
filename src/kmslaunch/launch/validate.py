"""Launch parameters checked against EC2's own input shapes, as the AWS CLI checks ``--cli-input-json``.

botocore's ``ParamValidator`` is what the AWS CLI and boto3 run before sending a request: unknown members,
wrong types, missing required members, each reported with the path to the member. kmslaunch refuses the same
input with the same reports, so a parameter file that would not reach EC2 is never simulated as if it had.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel
from botocore.validate import ParamValidator

from kmslaunch.policy.errors import InputError

# The EC2 operation behind each CLI command a LAUNCH option takes a file for.
OPERATIONS = {
    "run-instances": "RunInstances",
    "create-fleet": "CreateFleet",
    "request-spot-instances": "RequestSpotInstances",
    "create-volume": "CreateVolume",
    "attach-volume": "AttachVolume",
    "copy-snapshot": "CopySnapshot",
    "copy-image": "CopyImage",
}


@cache
def _ec2() -> ServiceModel:
    return ServiceModel(Loader().load_service_model("ec2", "service-2"), "ec2")


@cache
def _operation(name: str) -> OperationModel:
    return _ec2().operation_model(name)


def validate_input(command: str, params: Any, source: str) -> None:
    """Refuse ``params`` when botocore would refuse them for ``aws ec2 <command>``: InputError naming the file
    and every problem with its member path. The run-instances file may leave out MinCount and MaxCount, which
    kmslaunch takes as 1 (the CLI fills them in the same way)."""
    if not isinstance(params, Mapping):
        raise InputError(source, "", f"expected a JSON object ({command} --cli-input-json)")
    checked = dict(params)
    if command == "run-instances":
        checked.setdefault("MinCount", 1)
        checked.setdefault("MaxCount", checked["MinCount"])
    report = ParamValidator().validate(checked, _operation(OPERATIONS[command]).input_shape)
    if report.has_errors():
        lines = report.generate_report().splitlines()
        problems = [line for line in lines if line and not line.startswith("Parameter validation failed")]
        raise InputError(source, "", "not valid for aws ec2 " + command + ":\n  " + "\n  ".join(problems))
