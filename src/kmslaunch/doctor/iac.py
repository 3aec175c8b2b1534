"""A verified fix as infrastructure code: Terraform (HCL for the AWS provider) or a CloudFormation template, for
accounts whose policies live in code and would undo a change made with the CLI at the next apply.

Order matters where AWS checks a key policy's principals when it is set: a key policy naming a service-linked
role that does not exist yet is refused with MalformedPolicyDocumentException
(https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html), so the role comes first
(``aws_iam_service_linked_role`` / ``AWS::IAM::ServiceLinkedRole``) and the key policy depends on it.

What a tool cannot express is said, not dropped: CloudFormation has no resource for a KMS grant and sets a key's
policy and state only on the ``AWS::KMS::Key`` that defines the key; those fixes come as comments (Terraform) or
as the template's ``Metadata`` with the CLI command (CloudFormation).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .fixes import Fix, FixPlan

# Service-linked roles by the service that owns them: the role's path names it (aws-service-role/<service>/).
_SLR = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:role/aws-service-role/([^/]+)/(AWSServiceRoleFor[^_/]+)(?:_(.+))?$")


def _ident(*parts: str) -> str:
    """A Terraform resource name / CloudFormation logical id from ``parts``: letters, digits, underscores."""
    text = "_".join(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_") for p in parts if p)
    return text if text and not text[0].isdigit() else f"r_{text}"


def _logical(*parts: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in _ident(*parts).split("_") if w)


def _slrs(fix: Fix) -> list[tuple[str, str, str | None]]:
    """The service-linked roles a key policy names: (ARN, AWS service, custom suffix)."""
    found: dict[str, tuple[str, str, str | None]] = {}
    for st in fix.statements:
        principal = st.get("Principal")
        values = principal.get("AWS") if isinstance(principal, dict) else None
        for arn in [values] if isinstance(values, str) else values or []:
            m = _SLR.match(str(arn))
            if m:
                found[str(arn)] = (str(arn), m.group(1), m.group(3))
    return list(found.values())


def _entity(arn: str) -> tuple[str, str]:
    """(user|role|group, name) of an IAM entity ARN."""
    kind, _, rest = arn.split(":", 5)[5].partition("/")
    return kind, rest.rsplit("/", 1)[-1]


def render_terraform(plan: FixPlan) -> str:
    """The plan's fixes as Terraform resources (AWS provider), in the order they must be applied."""
    out = [
        f"# kmslaunch: {plan.title} ({'verified' if plan.verified else 'NOT verified'} by simulating the launch again)",
        "# Each block belongs to the account named above it: apply it with that account's provider.",
        "",
    ]
    for i, fix in enumerate(plan.fixes, 1):
        out.append(f"# {i}. [{fix.kind}] {fix.target} (account {fix.account}): {fix.rationale}")
        out.extend(_terraform(fix))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def policy_argument(doc: dict[str, Any] | None) -> str:
    """The document as a ``jsonencode`` argument. HCL reads ``${`` and ``%{`` in strings as templates, so a policy
    variable such as ``${aws:username}`` is escaped to stay literal
    (https://developer.hashicorp.com/terraform/language/expressions/strings#escape-sequences)."""
    text = json.dumps(doc, indent=2).replace("${", "$${").replace("%{", "%%{")
    return "jsonencode(" + text.replace("\n", "\n  ") + ")"


def _terraform(fix: Fix) -> list[str]:
    kind, name = fix.place or ("", "")
    if fix.kind == "key-policy":
        depends = []
        out: list[str] = []
        for arn, service, suffix in _slrs(fix):
            res = _ident("slr", service, suffix or "")
            depends.append(f"aws_iam_service_linked_role.{res}")
            out += [
                f"# A key policy can name a service-linked role only once it exists: {arn}",
                f"# (it exists already? terraform import aws_iam_service_linked_role.{res} {arn})",
                f'resource "aws_iam_service_linked_role" "{res}" {{',
                f'  aws_service_name = "{service}"',
                *([f'  custom_suffix    = "{suffix}"'] if suffix else []),
                "}",
                "",
            ]
        out += [
            f'resource "aws_kms_key_policy" "{_ident("key", fix.target.rsplit("/", 1)[-1][:8])}" {{',
            f'  key_id = "{fix.target}"',
            f"  policy = {policy_argument(fix.document)}",
        ]
        if depends:
            out.append(f"  depends_on = [{', '.join(depends)}]")
        return [*out, "}"]
    if fix.kind == "identity-policy" and kind == "identity-policy":
        entity, entity_name = _entity(fix.target)
        return [
            f'resource "aws_iam_{entity}_policy" "{_ident(entity_name, name)}" {{',
            f'  name   = "{name}"',
            f'  {entity:<6} = "{entity_name}"',
            f"  policy = {policy_argument(fix.document)}",
            "}",
        ]
    if kind in ("managed-policy", "new-boundary"):
        lines = [
            f'resource "aws_iam_policy" "{_ident(name)}" {{',
            f'  name   = "{name}"',
            f"  policy = {policy_argument(fix.document)}",
            "}",
        ]
        if kind == "new-boundary":
            entity, entity_name = _entity(fix.target)
            ref = f"aws_iam_policy.{_ident(name)}.arn"
            lines.append(f'# then set permissions_boundary = {ref} on the aws_iam_{entity} "{entity_name}"')
        return lines
    if kind in ("scp", "rcp"):
        return [
            f"# the organization's policy {fix.target}: its aws_organizations_policy's content becomes",
            f'resource "aws_organizations_policy" "{_ident(name)}" {{',
            f'  name    = "{name}"',
            f'  type    = "{"SERVICE_CONTROL_POLICY" if kind == "scp" else "RESOURCE_CONTROL_POLICY"}"',
            f"  content = {policy_argument(fix.document)}",
            "}",
        ]
    if fix.kind == "grant" and fix.grant is not None:
        ops = ", ".join(f'"{o}"' for o in fix.grant["Operations"])
        return [
            f'resource "aws_kms_grant" "{_ident("grant", fix.grant["GranteePrincipal"].rsplit("/", 1)[-1])}" {{',
            f'  name              = "kmslaunch-{fix.grant["GranteePrincipal"].rsplit("/", 1)[-1]}"',
            f'  key_id            = "{fix.grant["KeyId"]}"',
            f'  grantee_principal = "{fix.grant["GranteePrincipal"]}"',
            f"  operations        = [{ops}]",
            "}",
        ]
    if fix.kind == "key-state":
        return [
            "# on the aws_kms_key that defines this key: is_enabled = true",
            *[f"#   or: {c}" for c in fix.commands],
        ]
    return [f"# not expressible as a resource; run: {c}" for c in fix.commands]


def render_cloudformation(plan: FixPlan) -> dict[str, Any]:
    """The plan's fixes as a CloudFormation template (one per account is how it deploys; ``Metadata`` says which
    resource belongs to which account, and holds what CloudFormation cannot express)."""
    resources: dict[str, Any] = {}
    notes: list[dict[str, str]] = []
    for fix in plan.fixes:
        kind, name = fix.place or ("", "")
        if fix.kind == "key-policy":
            # AWS::KMS::Key holds its policy: no resource sets the policy of a key defined elsewhere.
            depends = []
            for _arn, service, suffix in _slrs(fix):
                logical = _logical("slr", service, suffix or "")
                props: dict[str, Any] = {"AWSServiceName": service}
                if suffix:
                    props["CustomSuffix"] = suffix
                resources[logical] = {"Type": "AWS::IAM::ServiceLinkedRole", "Properties": props}
                depends.append(logical)
            notes.append(
                {
                    "account": fix.account,
                    "fix": f"set KeyPolicy of the AWS::KMS::Key that defines {fix.target} to the document below"
                    + (f", with DependsOn: {', '.join(depends)}" if depends else ""),
                    "KeyPolicy": json.dumps(fix.document),
                }
            )
        elif fix.kind == "identity-policy" and kind == "identity-policy":
            entity, entity_name = _entity(fix.target)
            typ = {"user": "UserPolicy", "role": "RolePolicy", "group": "GroupPolicy"}[entity]
            key = {"user": "UserName", "role": "RoleName", "group": "GroupName"}[entity]
            resources[_logical(entity_name, name)] = {
                "Type": f"AWS::IAM::{typ}",
                "Properties": {"PolicyName": name, key: entity_name, "PolicyDocument": fix.document},
            }
        elif kind in ("managed-policy", "new-boundary"):
            resources[_logical(name)] = {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"ManagedPolicyName": name, "PolicyDocument": fix.document},
            }
        elif kind in ("scp", "rcp"):
            resources[_logical(name)] = {
                "Type": "AWS::Organizations::Policy",
                "Properties": {
                    "Name": name,
                    "Type": "SERVICE_CONTROL_POLICY" if kind == "scp" else "RESOURCE_CONTROL_POLICY",
                    "Content": fix.document,
                },
            }
        else:
            # No CloudFormation resource makes a KMS grant or enables a key defined elsewhere.
            notes.append({"account": fix.account, "fix": f"[{fix.kind}] {fix.target}", "run": "; ".join(fix.commands)})
    if not resources:
        # A template needs one resource; this one creates nothing (the fixes above are all in Metadata).
        resources["KmslaunchNothingToCreate"] = {"Type": "AWS::CloudFormation::WaitConditionHandle"}
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"kmslaunch: {plan.title} ({'verified' if plan.verified else 'NOT verified'})",
        "Resources": resources,
    }
    if notes:
        template["Metadata"] = {"kmslaunch": {"not-expressible-as-resources": notes}}
    return template
