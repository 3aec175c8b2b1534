"""Launch templates: CreateLaunchTemplate, CreateLaunchTemplateVersion, DescribeLaunchTemplates and
DescribeLaunchTemplateVersions. Launches read them in ``kmslaunch.launch.run``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kmslaunch.launch.params import parse_block_devices
from kmslaunch.policy.errors import InputError
from kmslaunch.world.clock import iso
from kmslaunch.world.ec2 import LaunchTemplate

from ..base import ApiError, Ctx, Handler, required
from .common import api_error, arn, ec2_of, when


def _template_out(t: LaunchTemplate) -> dict[str, Any]:
    return {
        "LaunchTemplateId": t.template_id,
        "LaunchTemplateName": t.name,
        "CreateTime": when(t.create_time),
        "CreatedBy": t.created_by,
        "DefaultVersionNumber": t.default_version,
        "LatestVersionNumber": t.latest_version,
    }


def _version_out(t: LaunchTemplate, n: int) -> dict[str, Any]:
    return {
        "LaunchTemplateId": t.template_id,
        "LaunchTemplateName": t.name,
        "VersionNumber": n,
        "CreateTime": when(t.create_time),
        "CreatedBy": t.created_by,
        "DefaultVersion": n == t.default_version,
        "LaunchTemplateData": t.versions[n],
    }


def _template_data(params: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
    data = dict(required(ctx, params, "LaunchTemplateData"))
    try:
        parse_block_devices(data.get("BlockDeviceMappings"), "LaunchTemplateData", "BlockDeviceMappings")
    except InputError as exc:
        raise api_error(exc) from exc
    return data


def create_launch_template(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(required(ctx, params, "LaunchTemplateName"))
    ctx.authorize("ec2:CreateLaunchTemplate", arn(ctx, "launch-template/*"))
    data = _template_data(params, ctx)
    ec2 = ec2_of(ctx)
    if ec2.template(name=name) is not None:
        raise ApiError("InvalidLaunchTemplateName.AlreadyExistsException", "Launch template name already in use.")
    t = LaunchTemplate(
        ctx.world.ids.ec2("lt"), name, {1: data}, 1, iso(ctx.world.clock.now()), created_by=ctx.caller.arn
    )
    ec2.launch_templates[t.template_id] = t
    ctx.changed = True
    return {"LaunchTemplate": _template_out(t)}


def _find_template(ctx: Ctx, params: Mapping[str, Any]) -> LaunchTemplate:
    template_id, name = params.get("LaunchTemplateId"), params.get("LaunchTemplateName")
    if not template_id and not name:
        raise ApiError(
            "MissingParameter", "The request must contain the parameter LaunchTemplateId or LaunchTemplateName"
        )
    t = ec2_of(ctx).template(template_id, name)
    if t is None:
        if template_id:
            raise ApiError(
                "InvalidLaunchTemplateId.NotFound",
                f"The specified launch template, with template ID {template_id}, does not exist.",
            )
        raise ApiError(
            "InvalidLaunchTemplateName.NotFoundException",
            f"The specified launch template, with template name {name}, does not exist.",
        )
    return t


def _version_not_found(t: LaunchTemplate, version: object) -> ApiError:
    return ApiError(
        "InvalidLaunchTemplateId.VersionNotFound",
        f"Could not find launch template version {version} for {t.template_id}.",
    )


def create_launch_template_version(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:CreateLaunchTemplateVersion", arn(ctx, "launch-template/*"))
    t = _find_template(ctx, params)
    data = _template_data(params, ctx)
    if params.get("SourceVersion"):
        base = t.data(str(params["SourceVersion"]))
        if base is None:
            raise _version_not_found(t, params["SourceVersion"])
        data = {**base, **data}
    n = t.latest_version + 1
    t.versions[n] = data
    ctx.changed = True
    return {"LaunchTemplateVersion": _version_out(t, n)}


def describe_launch_templates(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:DescribeLaunchTemplates", "*")
    ec2 = ec2_of(ctx)
    ids = [str(i) for i in params.get("LaunchTemplateIds") or []]
    names = [str(n) for n in params.get("LaunchTemplateNames") or []]
    chosen = [_find_template(ctx, {"LaunchTemplateId": i}) for i in ids]
    chosen += [_find_template(ctx, {"LaunchTemplateName": n}) for n in names]
    if not ids and not names:
        chosen = list(ec2.launch_templates.values())
    return {"LaunchTemplates": [_template_out(t) for t in chosen]}


def describe_launch_template_versions(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ec2:DescribeLaunchTemplateVersions", "*")
    t = _find_template(ctx, params)
    wanted = [str(v) for v in params.get("Versions") or []]
    numbers: list[int] = []
    for v in wanted:
        n = t.default_version if v == "$Default" else t.latest_version if v == "$Latest" else None
        if n is None:
            try:
                n = int(v)
            except ValueError:
                n = -1
        if n not in t.versions:
            raise _version_not_found(t, v)
        numbers.append(n)
    # Newest first, as the CLI lists them.
    chosen = numbers or sorted(t.versions, reverse=True)
    return {"LaunchTemplateVersions": [_version_out(t, n) for n in chosen]}


HANDLERS: dict[str, Handler] = {
    "CreateLaunchTemplate": create_launch_template,
    "CreateLaunchTemplateVersion": create_launch_template_version,
    "DescribeLaunchTemplates": describe_launch_templates,
    "DescribeLaunchTemplateVersions": describe_launch_template_versions,
}
