"""IAM, Organizations and CloudTrail through the endpoint, end to end: boto3 and the AWS CLI sign real requests, the
endpoint verifies each signature and authorizes each call with the policy engine.

Stories: a user with no policy is refused and then allowed; a role is assumed (and refused) through its trust
policy; a service-linked role cannot be edited; get-account-authorization-details gives back what was put; a user is
refused a KMS key until IAM allows it; an SCP refuses a member account, even its root user; CloudTrail shows every
call, refused ones with their errorCode; bad signatures are refused in each protocol's words; the state survives a
restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from kmslaunch.server.app import Server
from kmslaunch.server.handlers import HANDLERS
from kmslaunch.server.state import DEFAULT_ACCESS_KEY, DEFAULT_ACCOUNT, DEFAULT_SECRET, State
from kmslaunch.server.store import Store

ACCOUNT = DEFAULT_ACCOUNT
REGION = "us-east-1"
ROOT = (DEFAULT_ACCESS_KEY, DEFAULT_SECRET, None)
ALLOW_ALL_KMS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}

Keys = tuple[str, str, str | None]


@dataclass
class Endpoint:
    url: str
    state: State
    server: Server

    def client(self, service: str, keys: Keys = ROOT, region: str = REGION) -> Any:
        akid, secret, token = keys
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=akid,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=Config(retries={"total_max_attempts": 1}),
        )


def _start(path: Path) -> Endpoint:
    state = State(Store(path))
    server = Server("127.0.0.1", 0, state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Endpoint(f"http://127.0.0.1:{server.server_address[1]}", state, server)


def _stop(ep: Endpoint) -> None:
    ep.server.shutdown()
    ep.server.server_close()
    ep.state.store.close()


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    ep = _start(tmp_path / "s.sqlite")
    yield ep
    _stop(ep)


def _error(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response["Error"]
    return err["Code"], err.get("Message", "")


def _user_with_key(ep: Endpoint, name: str) -> Keys:
    iam = ep.client("iam")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"], None


def _role_session(ep: Endpoint, role_arn: str, session: str) -> Keys:
    """Credentials for a session of ``role_arn``, as sts:AssumeRole issues them, made in the state directly so that
    the tests using it exercise the SCP alone (AssumeRole has its own tests below)."""
    account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
    akid = "ASIA" + hashlib.sha256(f"{role_arn}/{session}".encode()).hexdigest().upper()[:16]
    ep.state.add_credential(
        akid,
        "session-secret",
        f"arn:aws:sts::{account}:assumed-role/{name}/{session}",
        session_token="KLtest-session-token",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        role_arn=role_arn,
    )
    return akid, "session-secret", "KLtest-session-token"


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# -- users, keys and policies ---------------------------------------------------------------------------------------


def test_a_user_is_refused_until_a_policy_allows(endpoint: Endpoint) -> None:
    alice = _user_with_key(endpoint, "alice")
    iam, as_alice = endpoint.client("iam"), endpoint.client("iam", alice)
    assert endpoint.client("sts", alice).get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"

    code, message = _error(as_alice.list_users)
    assert code == "AccessDenied"
    assert message == (
        f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: iam:ListUsers on resource: "
        f"arn:aws:iam::{ACCOUNT}:user/ because no identity-based policy allows the iam:ListUsers action"
    )
    # An AWS managed policy the endpoint does not know cannot be attached.
    code, _ = _error(lambda: iam.attach_user_policy(UserName="alice", PolicyArn="arn:aws:iam::aws:policy/NoSuch"))
    assert code == "NoSuchEntity"

    iam.attach_user_policy(UserName="alice", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    assert [u["UserName"] for u in as_alice.list_users()["Users"]] == ["alice"]
    assert as_alice.get_user()["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert _error(lambda: as_alice.create_user(UserName="mallory"))[0] == "AccessDenied"
    keys = as_alice.list_access_keys()["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [alice[0]]

    # IAM's own errors, in its words.
    assert _error(lambda: iam.create_user(UserName="alice")) == (
        "EntityAlreadyExists",
        "User with name alice already exists.",
    )
    assert _error(lambda: iam.get_user(UserName="bob")) == ("NoSuchEntity", "The user with name bob cannot be found.")
    code, message = _error(
        lambda: iam.put_user_policy(UserName="alice", PolicyName="p", PolicyDocument='{"Statement": [')
    )
    assert code == "MalformedPolicyDocument" and "not valid JSON" in message
    code, message = _error(
        lambda: iam.put_user_policy(
            UserName="alice", PolicyName="p", PolicyDocument=_doc({"Effect": "Allow", "Action": "kms:*"})
        )
    )
    assert code == "MalformedPolicyDocument" and "Resource" in message
    assert _error(lambda: iam.delete_user(UserName="alice"))[0] == "DeleteConflict"

    # Group policies count too; a boundary limits them.
    bob = _user_with_key(endpoint, "bob")
    iam.create_group(GroupName="readers")
    iam.add_user_to_group(GroupName="readers", UserName="bob")
    iam.attach_group_policy(GroupName="readers", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    as_bob = endpoint.client("iam", bob)
    assert len(as_bob.list_users()["Users"]) == 2
    iam.put_user_permissions_boundary(UserName="bob", PermissionsBoundary="arn:aws:iam::aws:policy/AmazonEC2FullAccess")
    code, message = _error(as_bob.list_users)
    assert code == "AccessDenied" and message.endswith(
        "because no permissions boundary allows the iam:ListUsers action"
    )

    # Deleting a key revokes it at once.
    iam.delete_access_key(UserName="bob", AccessKeyId=bob[0])
    assert _error(as_bob.list_users)[0] == "InvalidClientTokenId"


def test_get_caller_identity_cannot_be_denied(endpoint: Endpoint) -> None:
    # "If an administrator attaches a policy to your identity that explicitly denies access to the
    # sts:GetCallerIdentity action, you can still perform this operation"
    # (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
    alice = _user_with_key(endpoint, "alice")
    endpoint.client("iam").put_user_policy(
        UserName="alice", PolicyName="deny-all", PolicyDocument=_doc({"Effect": "Deny", "Action": "*", "Resource": "*"})
    )
    assert endpoint.client("sts", alice).get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"


def test_assume_role_by_trust_policy(endpoint: Endpoint) -> None:
    alice, bob = _user_with_key(endpoint, "alice"), _user_with_key(endpoint, "bob")
    iam = endpoint.client("iam")
    code, message = _error(
        lambda: iam.create_role(
            RoleName="bad", AssumeRolePolicyDocument=_doc({"Effect": "Allow", "Action": "sts:AssumeRole"})
        )
    )
    assert code == "MalformedPolicyDocument" and "Principal" in message
    trust = _doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}, "Action": "sts:AssumeRole"}
    )
    role = iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=trust)["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/deployer"
    assert role["AssumeRolePolicyDocument"] == json.loads(trust)
    iam.put_role_policy(RoleName="deployer", PolicyName="kms", PolicyDocument=json.dumps(ALLOW_ALL_KMS))
    may_assume = _doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role["Arn"]})
    iam.put_user_policy(UserName="alice", PolicyName="assume", PolicyDocument=may_assume)

    # Neither bob's policies nor the role's trust policy allow him.
    code, message = _error(lambda: endpoint.client("sts", bob).assume_role(RoleArn=role["Arn"], RoleSessionName="s1"))
    assert code == "AccessDenied"
    assert message.startswith(f"User: arn:aws:iam::{ACCOUNT}:user/bob is not authorized to perform: sts:AssumeRole")

    creds = endpoint.client("sts", alice).assume_role(RoleArn=role["Arn"], RoleSessionName="deploy-1")["Credentials"]
    session = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert session[0].startswith("ASIA")
    who = endpoint.client("sts", session).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/deploy-1"
    assert who["UserId"].endswith(":deploy-1")
    # The session has the role's permissions, not alice's.
    endpoint.client("kms", session).create_key()
    assert _error(lambda: endpoint.client("kms", alice).create_key())[0] == "AccessDeniedException"
    assert _error(endpoint.client("iam", session).list_users)[0] == "AccessDenied"


def test_a_session_is_narrowed_by_its_session_policies(tmp_path: Path) -> None:
    """AssumeRole's Policy and PolicyArns: the session may do only what both they and the role allow, on every
    later request, in role chaining, and after a restart (the credentials keep them)."""
    path = tmp_path / "s.sqlite"
    first = _start(path)
    try:
        iam = first.client("iam")
        trust = _doc(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        )
        role = iam.create_role(RoleName="ops", AssumeRolePolicyDocument=trust)["Role"]
        iam.put_role_policy(RoleName="ops", PolicyName="kms", PolicyDocument=json.dumps(ALLOW_ALL_KMS))
        sts = first.client("sts")
        list_only = _doc({"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"})
        code, _ = _error(
            lambda: sts.assume_role(RoleArn=role["Arn"], RoleSessionName="bad-policy", Policy='{"Statement": 1}')
        )
        assert code == "MalformedPolicyDocument"
        creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="narrow", Policy=list_only)["Credentials"]
        narrow = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        first.client("kms", narrow).list_keys()
        code, message = _error(lambda: first.client("kms", narrow).create_key())
        assert code == "AccessDeniedException" and "session policy" in message
        # The same session name again, without a policy, does not widen the first session.
        wide = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="narrow")["Credentials"]
        first.client("kms", (wide["AccessKeyId"], wide["SecretAccessKey"], wide["SessionToken"])).create_key()
        assert _error(lambda: first.client("kms", narrow).create_key())[0] == "AccessDeniedException"
        # A managed session policy, looked up at each request.
        arn = iam.create_policy(
            PolicyName="describe-only",
            PolicyDocument=_doc({"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}),
        )["Policy"]["Arn"]
        managed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="managed", PolicyArns=[{"arn": arn}])[
            "Credentials"
        ]
        by_arn = (managed["AccessKeyId"], managed["SecretAccessKey"], managed["SessionToken"])
        assert _error(lambda: first.client("kms", by_arn).list_keys())[0] == "AccessDeniedException"
    finally:
        _stop(first)
    second = _start(path)
    try:
        second.client("kms", narrow).list_keys()
        assert _error(lambda: second.client("kms", narrow).create_key())[0] == "AccessDeniedException"
    finally:
        _stop(second)


def test_the_trust_policy_must_name_the_caller(endpoint: Endpoint) -> None:
    """A role's trust policy must allow the caller, in the role's own account too
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_permissions-to-switch.html)."""
    bob = _user_with_key(endpoint, "bob")
    iam = endpoint.client("iam")
    trust = _doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}, "Action": "sts:AssumeRole"}
    )
    arn = iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    may_assume = _doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": arn})
    iam.put_user_policy(UserName="bob", PolicyName="assume", PolicyDocument=may_assume)
    code, _ = _error(lambda: endpoint.client("sts", bob).assume_role(RoleArn=arn, RoleSessionName="s1"))
    assert code == "AccessDenied"


def test_the_management_account_assumes_organization_account_access_role(endpoint: Endpoint) -> None:
    orgs = endpoint.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    member = orgs.create_account(Email="dev@example.com", AccountName="dev")["CreateAccountStatus"]["AccountId"]
    role_arn = f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
    creds = endpoint.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="admin")["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")


def test_service_linked_roles_belong_to_their_service(endpoint: Endpoint) -> None:
    iam = endpoint.client("iam")
    role = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForAutoScaling"
    assert role["Path"] == "/aws-service-role/autoscaling.amazonaws.com/"
    assert role["Arn"] == (
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    )
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["autoscaling.amazonaws.com"]}
    custom = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="app")["Role"]
    assert custom["RoleName"] == "AWSServiceRoleForAutoScaling_app"
    code, _ = _error(lambda: iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com"))
    assert code == "InvalidInput"

    protected = (
        "UnmodifiableEntity",
        "Cannot perform the operation on the protected role 'AWSServiceRoleForAutoScaling' - "
        "this role is only modifiable by AWS",
    )
    name = "AWSServiceRoleForAutoScaling"
    assert (
        _error(lambda: iam.put_role_policy(RoleName=name, PolicyName="x", PolicyDocument=json.dumps(ALLOW_ALL_KMS)))
        == protected
    )
    assert (
        _error(lambda: iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"))
        == protected
    )
    assert _error(lambda: iam.delete_role(RoleName=name)) == protected
    assert [r["RoleName"] for r in iam.list_roles(PathPrefix="/aws-service-role/")["Roles"]] == [
        name,
        "AWSServiceRoleForAutoScaling_app",
    ]


def test_account_authorization_details_round_trip(endpoint: Endpoint) -> None:
    iam = endpoint.client("iam")
    inline = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Odd characters survive: & < > % + =",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}},
            }
        ],
    }
    managed = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_user(UserName="alice", Path="/team/")
    iam.put_user_policy(UserName="alice", PolicyName="kms", PolicyDocument=json.dumps(inline))
    policy = iam.create_policy(PolicyName="describe", PolicyDocument=json.dumps(managed))["Policy"]
    iam.attach_user_policy(UserName="alice", PolicyArn=policy["Arn"])
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="app", PolicyName="kms", PolicyDocument=json.dumps(inline))
    iam.put_role_permissions_boundary(RoleName="app", PermissionsBoundary=policy["Arn"])
    iam.create_group(GroupName="ops")
    iam.put_group_policy(GroupName="ops", PolicyName="kms", PolicyDocument=json.dumps(inline))
    iam.add_user_to_group(GroupName="ops", UserName="alice")

    details = iam.get_account_authorization_details()
    (user,) = details["UserDetailList"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/team/alice"
    assert user["UserPolicyList"] == [{"PolicyName": "kms", "PolicyDocument": inline}]
    assert user["AttachedManagedPolicies"] == [{"PolicyName": "describe", "PolicyArn": policy["Arn"]}]
    assert user["GroupList"] == ["ops"]
    (role,) = details["RoleDetailList"]
    assert role["AssumeRolePolicyDocument"] == trust
    assert role["RolePolicyList"][0]["PolicyDocument"] == inline
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == policy["Arn"]
    assert details["GroupDetailList"][0]["GroupPolicyList"][0]["PolicyDocument"] == inline
    (pol,) = [p for p in details["Policies"] if p["Arn"] == policy["Arn"]]
    assert pol["PolicyVersionList"][0]["Document"] == managed and pol["AttachmentCount"] == 1

    assert iam.get_user_policy(UserName="alice", PolicyName="kms")["PolicyDocument"] == inline
    assert iam.get_role_policy(RoleName="app", PolicyName="kms")["PolicyDocument"] == inline
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId="v1")["PolicyVersion"]
    assert version["Document"] == managed
    assert iam.get_policy(PolicyArn=policy["Arn"])["Policy"]["AttachmentCount"] == 1
    local = iam.list_policies(Scope="Local")["Policies"]
    assert [p["PolicyName"] for p in local] == ["describe"]
    aws = {p["PolicyName"] for p in iam.list_policies(Scope="AWS")["Policies"]}
    assert {"AmazonEC2FullAccess", "AWSKeyManagementServicePowerUser", "ReadOnlyAccess"} <= aws
    iam.detach_user_policy(UserName="alice", PolicyArn=policy["Arn"])
    iam.delete_user_policy(UserName="alice", PolicyName="kms")
    assert iam.get_policy(PolicyArn=policy["Arn"])["Policy"]["AttachmentCount"] == 0


# -- KMS with IAM users -----------------------------------------------------------------------------------------------


def test_kms_key_with_default_policy_needs_an_iam_allow(endpoint: Endpoint) -> None:
    key_id = endpoint.client("kms").create_key(Description="app")["KeyMetadata"]["KeyId"]
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"
    alice = _user_with_key(endpoint, "alice")
    kms = endpoint.client("kms", alice)
    code, message = _error(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"secret"))
    assert code == "AccessDeniedException"
    assert message == (
        f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: kms:Encrypt on resource: {key_arn} "
        "because no identity-based policy allows the kms:Encrypt action"
    )
    # The default key policy delegates to IAM: an identity policy is enough.
    endpoint.client("iam").put_user_policy(
        UserName="alice",
        PolicyName="use-key",
        PolicyDocument=_doc({"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": key_arn}),
    )
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    assert _error(kms.create_key)[0] == "AccessDeniedException"


# -- Organizations: an SCP over a member account ---------------------------------------------------------------------


def test_scp_denies_even_the_member_accounts_root(endpoint: Endpoint) -> None:
    orgs = endpoint.client("organizations")
    org = orgs.create_organization(FeatureSet="ALL")["Organization"]
    assert org["MasterAccountId"] == ACCOUNT and org["Id"].startswith("o-")
    (root,) = orgs.list_roots()["Roots"]
    assert root["Id"].startswith("r-") and root["PolicyTypes"] == [
        {"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}
    ]
    ou = orgs.create_organizational_unit(ParentId=root["Id"], Name="workloads")["OrganizationalUnit"]
    status = orgs.create_account(Email="dev@example.com", AccountName="dev")["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED"
    member = status["AccountId"]
    assert len(member) == 12 and member.isdigit() and member != ACCOUNT
    assert orgs.list_parents(ChildId=member)["Parents"] == [{"Id": root["Id"], "Type": "ROOT"}]
    orgs.move_account(AccountId=member, SourceParentId=root["Id"], DestinationParentId=ou["Id"])
    assert orgs.list_parents(ChildId=member)["Parents"] == [{"Id": ou["Id"], "Type": "ORGANIZATIONAL_UNIT"}]
    inherited = orgs.list_policies_for_target(TargetId=member, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    assert [p["Id"] for p in inherited] == ["p-FullAWSAccess"]

    # The management account reaches into the member through OrganizationAccountAccessRole.
    role_arn = f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
    admin = _role_session(endpoint, role_arn, "admin")
    member_kms = endpoint.client("kms", admin)
    member_kms.create_key(Description="before the SCP")
    # The member's root user (AWS gives none to a created account until a password reset; the test makes one).
    endpoint.state.add_credential("AKIAMEMBERROOT000001", "member-root-secret", f"arn:aws:iam::{member}:root")
    member_root = ("AKIAMEMBERROOT000001", "member-root-secret", None)
    endpoint.client("kms", member_root).list_keys()

    deny = _doc({"Effect": "Deny", "Action": "kms:*", "Resource": "*"})
    code, _ = _error(
        lambda: orgs.create_policy(Content='{"Statement": 1}', Name="x", Type="SERVICE_CONTROL_POLICY", Description="")
    )
    assert code == "MalformedPolicyDocumentException"
    scp = orgs.create_policy(Content=deny, Name="no-kms", Type="SERVICE_CONTROL_POLICY", Description="")["Policy"]
    scp_id = scp["PolicySummary"]["Id"]
    orgs.attach_policy(PolicyId=scp_id, TargetId=ou["Id"])
    assert json.loads(orgs.describe_policy(PolicyId=scp_id)["Policy"]["Content"]) == json.loads(deny)

    for who, arn in (
        (admin, f"arn:aws:sts::{member}:assumed-role/OrganizationAccountAccessRole/admin"),
        (member_root, f"arn:aws:iam::{member}:root"),
    ):
        code, message = _error(lambda who=who: endpoint.client("kms", who).create_key())
        assert code == "AccessDeniedException"
        assert message == (
            f"User: {arn} is not authorized to perform: kms:CreateKey on resource: * "
            "with an explicit deny in a service control policy"
        )
    # IAM in the member is still allowed; the management account is not limited by SCPs.
    assert endpoint.client("iam", admin).list_roles()["Roles"]
    endpoint.client("kms").create_key()
    # Only the management account administers the organization.
    assert _error(endpoint.client("organizations", admin).list_roots)[0] == "AccessDeniedException"
    assert endpoint.client("organizations", admin).describe_organization()["Organization"]["Id"] == org["Id"]

    orgs.detach_policy(PolicyId=scp_id, TargetId=ou["Id"])
    member_kms.create_key(Description="after the SCP")
    code, _ = _error(lambda: orgs.detach_policy(PolicyId="p-FullAWSAccess", TargetId=ou["Id"]))
    assert code == "ConstraintViolationException"
    rcps = orgs.enable_policy_type(RootId=root["Id"], PolicyType="RESOURCE_CONTROL_POLICY")["Root"]["PolicyTypes"]
    assert {"Type": "RESOURCE_CONTROL_POLICY", "Status": "ENABLED"} in rcps
    member_kms.create_key(Description="RCPFullAWSAccess allows")


# -- CloudTrail -------------------------------------------------------------------------------------------------------


def test_lookup_events_shows_calls_and_refusals(endpoint: Endpoint) -> None:
    alice = _user_with_key(endpoint, "alice")
    as_alice = endpoint.client("iam", alice)
    _error(as_alice.list_users)
    _error(lambda: as_alice.create_user(UserName="mallory"))
    trail = endpoint.client("cloudtrail")

    events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "alice"}])["Events"]
    assert [e["EventName"] for e in events] == ["CreateUser", "ListUsers"]  # newest first
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    assert {r["errorCode"] for r in records} == {"AccessDenied"}
    assert records[1]["errorMessage"].startswith(f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized")
    assert records[0]["userIdentity"]["type"] == "IAMUser" and events[1]["ReadOnly"] == "true"
    assert events[0]["EventSource"] == "iam.amazonaws.com"

    created = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}])
    assert [e["Username"] for e in created["Events"]] == ["alice", "root"]
    assert {"ResourceType": "AWS::IAM::User", "ResourceName": "alice"} in created["Events"][1]["Resources"]
    by_resource = trail.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": "mallory"}])
    assert [e["EventName"] for e in by_resource["Events"]] == ["CreateUser"]
    (issued,) = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateAccessKey"}]
    )["Events"]
    logged = json.loads(issued["CloudTrailEvent"])["responseElements"]["accessKey"]
    assert logged["secretAccessKey"] == "HIDDEN_DUE_TO_SECURITY_REASONS" and logged["accessKeyId"] == alice[0]

    # Paging: two at a time, back to the first call, nothing repeated.
    seen: list[str] = []
    kwargs: dict[str, Any] = {"MaxResults": 2}
    while True:
        page = trail.lookup_events(**kwargs)
        assert len(page["Events"]) <= 2
        seen.extend(e["EventId"] for e in page["Events"])
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    assert len(seen) == len(set(seen)) >= 5
    later = trail.lookup_events(StartTime=datetime.now(UTC).replace(year=2100))["Events"]
    assert later == []
    assert (
        _error(
            lambda: trail.lookup_events(
                LookupAttributes=[
                    {"AttributeKey": "Username", "AttributeValue": "a"},
                    {"AttributeKey": "EventName", "AttributeValue": "b"},
                ]
            )
        )[0]
        == "InvalidLookupAttributesException"
    )
    assert _error(lambda: endpoint.client("cloudtrail", alice).lookup_events())[0] == "AccessDeniedException"


# -- SigV4 through the real wire --------------------------------------------------------------------------------------


def _raw(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    req = urllib.request.Request(url + "/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _sign(url: str, service: str, body: bytes, headers: dict[str, str], keys: Keys = ROOT) -> dict[str, str]:
    req = AWSRequest(method="POST", url=url + "/", data=body, headers=headers)
    SigV4Auth(Credentials(keys[0], keys[1], keys[2]), service, REGION).add_auth(req)
    return dict(req.headers.items())


def test_signature_failures_in_each_protocols_words(endpoint: Endpoint) -> None:
    wrong = (DEFAULT_ACCESS_KEY, "not-the-secret", None)
    unknown = ("AKIAUNKNOWNKEY000000", DEFAULT_SECRET, None)
    assert _error(endpoint.client("iam", wrong).list_users)[0] == "SignatureDoesNotMatch"
    assert _error(endpoint.client("kms", wrong).list_keys)[0] == "InvalidSignatureException"
    assert _error(endpoint.client("iam", unknown).list_users)[0] == "InvalidClientTokenId"
    assert _error(endpoint.client("kms", unknown).list_keys)[0] == "UnrecognizedClientException"
    assert _error(endpoint.client("organizations", wrong).list_roots)[0] == "InvalidSignatureException"
    if "ec2" in HANDLERS:
        assert _error(endpoint.client("ec2", wrong).describe_instances)[0] == "AuthFailure"

    # A body changed after signing: the payload hash no longer matches.
    body = b"Action=ListUsers&Version=2010-05-08"
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    headers = _sign(endpoint.url, "iam", body, form)
    assert _raw(endpoint.url, body, headers)[0] == 200
    status, reply = _raw(endpoint.url, body.replace(b"ListUsers", b"ListRoles"), headers)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in reply
    kms_body = json.dumps({"KeyId": "alias/x", "Plaintext": "AAAA"}).encode()
    kms_headers = _sign(
        endpoint.url,
        "kms",
        kms_body,
        {"X-Amz-Target": "TrentService.Encrypt", "Content-Type": "application/x-amz-json-1.1"},
    )
    status, reply = _raw(endpoint.url, kms_body.replace(b"AAAA", b"BBBB"), kms_headers)
    assert status == 400 and json.loads(reply)["__type"] == "InvalidSignatureException"

    # Signed an hour ago: outside the 15 minutes AWS accepts.
    with mock.patch("botocore.auth.get_current_datetime", return_value=datetime(2020, 1, 1, 12, 0, 0)):
        code, message = _error(endpoint.client("iam").list_users)
    assert code == "SignatureDoesNotMatch" and message.startswith("Signature expired")

    # Temporary credentials without their session token.
    trust = _doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"})
    arn = endpoint.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    session = endpoint.client("sts").assume_role(RoleArn=arn, RoleSessionName="s1")["Credentials"]
    no_token = (session["AccessKeyId"], session["SecretAccessKey"], None)
    assert _error(endpoint.client("sts", no_token).get_caller_identity)[0] == "InvalidClientTokenId"
    assert _error(endpoint.client("kms", no_token).list_keys)[0] == "UnrecognizedClientException"
    bad_token = (session["AccessKeyId"], session["SecretAccessKey"], "KL-forged")
    assert _error(endpoint.client("sts", bad_token).get_caller_identity)[0] == "InvalidClientTokenId"


# -- persistence and the AWS CLI --------------------------------------------------------------------------------------


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    first = _start(path)
    try:
        alice = _user_with_key(first, "alice")
        iam = first.client("iam")
        iam.attach_user_policy(UserName="alice", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
        iam.put_user_policy(UserName="alice", PolicyName="kms", PolicyDocument=json.dumps(ALLOW_ALL_KMS))
        trust = _doc(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"}, "Action": "sts:AssumeRole"}
        )
        iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=trust)
        first.client("organizations").create_organization(FeatureSet="ALL")
    finally:
        _stop(first)

    second = _start(path)
    try:
        as_alice = second.client("iam", alice)
        assert [u["UserName"] for u in as_alice.list_users()["Users"]] == ["alice"]
        assert as_alice.get_user_policy(UserName="alice", PolicyName="kms")["PolicyDocument"] == ALLOW_ALL_KMS
        attached = as_alice.list_attached_user_policies(UserName="alice")["AttachedPolicies"]
        assert [p["PolicyName"] for p in attached] == ["IAMReadOnlyAccess"]
        assert [k["AccessKeyId"] for k in as_alice.list_access_keys()["AccessKeyMetadata"]] == [alice[0]]
        assert as_alice.get_role(RoleName="deployer")["Role"]["AssumeRolePolicyDocument"] == json.loads(trust)
        second.client("kms", alice).create_key()
        assert second.client("organizations").list_roots()["Roots"][0]["PolicyTypes"] == [
            {"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}
        ]
        names = [e["EventName"] for e in second.client("cloudtrail").lookup_events(MaxResults=50)["Events"]]
        assert {"CreateUser", "CreateAccessKey", "CreateOrganization"} <= set(names)
    finally:
        _stop(second)


def test_the_aws_cli(endpoint: Endpoint) -> None:
    # The venv's CLI when it is installed there (pyproject's dev dependencies), else the one on PATH.
    venv_cli = Path(sys.executable).parent / "aws"
    aws = str(venv_cli) if venv_cli.exists() else shutil.which("aws")
    if aws is None:
        pytest.skip("the AWS CLI is not installed")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }

    def cli(*args: str) -> Any:
        done = subprocess.run(
            [aws, "--endpoint-url", endpoint.url, "--output", "json", *args],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    user = cli("iam", "create-user", "--user-name", "carol")["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/carol"
    cli(
        "iam",
        "put-user-policy",
        "--user-name",
        "carol",
        "--policy-name",
        "kms",
        "--policy-document",
        json.dumps(ALLOW_ALL_KMS),
    )
    details = cli("iam", "get-account-authorization-details", "--filter", "User")
    assert details["UserDetailList"][0]["UserPolicyList"][0]["PolicyDocument"] == ALLOW_ALL_KMS
