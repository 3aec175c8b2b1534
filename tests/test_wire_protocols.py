"""Golden round trips for the server side of the wire, with botocore's own client serializer and parser as the
reference (the approach of botocore's tests/unit/protocols): a request botocore serializes must parse back to the
parameters it was given, and a response we serialize must parse, in botocore, to the output we meant.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.session
import pytest
from botocore.awsrequest import (
    AWSPreparedRequest,
    AWSResponse,
    HeadersDict,
    create_request_object,
    prepare_request_dict,
)
from botocore.exceptions import ClientError
from botocore.handlers import json_decode_policies
from botocore.model import OperationModel, Shape
from botocore.model import ServiceModel as BotocoreServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmslaunch.wire.protocols import (
    ServiceModel,
    WireError,
    form_pairs,
    load_service,
    operation_for,
    parse_request,
    serialize_error,
    serialize_response,
    unknown_operation,
)

T0 = datetime(2024, 5, 1, 12, 30, 45, tzinfo=UTC)
T1 = datetime(2024, 5, 1, 12, 31, 0, 250000, tzinfo=UTC)
T2 = datetime(2024, 5, 2, 8, 0, 0, 123456, tzinfo=UTC)  # microseconds survive both ways

ACCOUNT = "111122223333"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/web"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:CreateGrant"],
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}, "StringLike": {"kms:ViaService": "ec2.*"}},
        }
    ],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}

_SESSION = botocore.session.get_session()


def _operation_model(service: str, operation: str) -> OperationModel:
    return _SESSION.get_service_model(service).operation_model(operation)


def _wire_request(service: str, operation: str, params: dict[str, Any]) -> AWSPreparedRequest:
    """The HTTP request botocore's client sends for ``params`` (validated, serialized, prepared)."""
    op_model = _operation_model(service, operation)
    serializer = create_serializer(op_model.metadata["protocol"], include_validation=True)
    request_dict = serializer.serialize_to_request(copy.deepcopy(params), op_model)
    prepare_request_dict(request_dict, endpoint_url=f"https://{service}.us-east-1.amazonaws.com")
    return create_request_object(request_dict).prepare()


def _server_parse(service: str, request: AWSPreparedRequest) -> tuple[str | None, dict[str, Any]]:
    """What the endpoint makes of a request: the operation it names and its parameters."""
    model = load_service(service)
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    content_type = request.headers.get("Content-Type", "")
    if isinstance(content_type, bytes):
        content_type = content_type.decode()
    query = urlsplit(request.url).query
    target = request.headers.get("X-Amz-Target")
    if isinstance(target, bytes):
        target = target.decode()
    form = None
    if model.protocol != "json":
        form = dict(form_pairs(body, content_type, query))
    operation = operation_for(model, target=target, form=form)
    assert operation is not None
    return operation, parse_request(model, operation, body=body, content_type=content_type, query=query)


def _botocore_parse(service: str, operation: str, status: int, headers: dict[str, str], body: bytes) -> Any:
    op_model = _operation_model(service, operation)
    parser = create_parser(op_model.metadata["protocol"])
    # HTTP headers are case-insensitive; botocore hands its parsers a case-insensitive mapping.
    response = {"status_code": status, "headers": HeadersDict(headers), "body": body}
    parsed = parser.parse(response, op_model.output_shape)
    if service == "iam" and status < 300:
        json_decode_policies(parsed, op_model)  # botocore's after-call.iam handler
    return parsed


# --------------------------------------------------------------------------------------------------------------
# 1. Requests

REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "kms",
        "Encrypt",
        {
            "KeyId": "alias/ebs",
            "Plaintext": b"\x00\x01secret\xff",
            "EncryptionContext": {"aws:ebs:id": "vol-0123456789abcdef0"},
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        },
    ),
    (
        "kms",
        "CreateGrant",
        {
            "KeyId": KEY_ARN,
            "GranteePrincipal": ROLE_ARN,
            "RetiringPrincipal": f"arn:aws:iam::{ACCOUNT}:root",
            "Operations": ["Decrypt", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "CreateGrant"],
            "Constraints": {"EncryptionContextSubset": {"aws:ebs:id": "vol-1", "team": "a&b=c"}},
            "GrantTokens": ["token-1"],
            "Name": "ebs-grant",
        },
    ),
    (
        "kms",
        "PutKeyPolicy",
        {
            "KeyId": KEY_ARN,
            "PolicyName": "default",
            "Policy": json.dumps(POLICY),
            "BypassPolicyLockoutSafetyCheck": False,
        },
    ),
    (
        "iam",
        "CreateUser",
        {
            "UserName": "alice",
            "Path": "/eng/",
            "Tags": [{"Key": "team", "Value": "a & b"}, {"Key": "env", "Value": ""}],
        },
    ),
    ("iam", "PutUserPolicy", {"UserName": "alice", "PolicyName": "kms", "PolicyDocument": json.dumps(POLICY)}),
    ("iam", "GetAccountAuthorizationDetails", {"Filter": ["User", "Role", "LocalManagedPolicy"], "MaxItems": 100}),
    ("iam", "ListUsers", {"PathPrefix": "/", "Marker": "m+/=", "MaxItems": 2}),
    (
        "iam",
        "AcquireRole",  # a map in a query request: Name.entry.N.key / .value
        {
            "TemplateArn": "arn:aws:iam::aws:template/x",
            "TemplateMinorVersion": 3,
            "ReplacementValues": {"a": {"Values": ["1", "2"]}, "b c": {"Values": ["3"]}},
        },
    ),
    (
        "sts",
        "AssumeRole",
        {
            "RoleArn": ROLE_ARN,
            "RoleSessionName": "i-0123456789abcdef0",
            "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, {"arn": "arn:aws:iam::aws:policy/X"}],
            "Tags": [{"Key": "project", "Value": "p1"}],
            "TransitiveTagKeys": ["project"],
            "DurationSeconds": 3600,
            "Policy": json.dumps(POLICY),
        },
    ),
    (
        "autoscaling",
        "CreateAutoScalingGroup",
        {
            "AutoScalingGroupName": "web",
            "LaunchTemplate": {"LaunchTemplateId": "lt-0123456789abcdef0", "Version": "$Latest"},
            "MinSize": 0,
            "MaxSize": 4,
            "DesiredCapacity": 2,
            "AvailabilityZones": ["us-east-1a", "us-east-1b"],
            "Tags": [
                {
                    "ResourceId": "web",
                    "ResourceType": "auto-scaling-group",
                    "Key": "Name",
                    "Value": "web",
                    "PropagateAtLaunch": True,
                }
            ],
            "NewInstancesProtectedFromScaleIn": False,
            "ServiceLinkedRoleARN": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/x",
        },
    ),
    (
        "ec2",
        "RunInstances",
        {
            "ImageId": "ami-0123456789abcdef0",
            "InstanceType": "t3.micro",
            "MinCount": 1,
            "MaxCount": 2,
            "ClientToken": "token-1",
            "EbsOptimized": True,
            "DisableApiTermination": False,
            "BlockDeviceMappings": [
                {
                    "DeviceName": "/dev/xvda",
                    "Ebs": {
                        "VolumeSize": 8,
                        "VolumeType": "gp3",
                        "Encrypted": True,
                        "KmsKeyId": KEY_ARN,
                        "DeleteOnTermination": True,
                    },
                },
                {"DeviceName": "/dev/sdf", "NoDevice": ""},
            ],
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}, {"Key": "a", "Value": "b"}]},
                {"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "web-root"}]},
            ],
            "IamInstanceProfile": {"Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/web"},
            "SecurityGroupIds": ["sg-1", "sg-2"],
            "NetworkInterfaces": [  # members with a queryName: PrivateIpAddresses, Ipv6Addresses
                {
                    "DeviceIndex": 0,
                    "SubnetId": "subnet-1",
                    "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": "10.0.0.5"}],
                    "Ipv6Addresses": [{"Ipv6Address": "2001:db8::1"}],
                }
            ],
            "UserData": "IyEvYmluL3NoCg==",
        },
    ),
    (
        "ec2",
        "DescribeInstances",
        {
            "Filters": [
                {"Name": "instance-state-name", "Values": ["running", "pending"]},
                {"Name": "tag:Name", "Values": ["web"]},
            ],
            "InstanceIds": ["i-1", "i-2"],
            "DryRun": False,
        },
    ),
    (
        "ec2",
        "CreateVolume",
        {
            "AvailabilityZone": "us-east-1a",
            "Size": 8,
            "SnapshotId": "snap-1",
            "VolumeType": "gp3",
            "Iops": 3000,
            "Encrypted": True,
            "KmsKeyId": "alias/ebs",
            "TagSpecifications": [{"ResourceType": "volume", "Tags": [{"Key": "k", "Value": "v"}]}],
        },
    ),
    (
        "ec2",
        "ModifySnapshotAttribute",
        {
            "SnapshotId": "snap-1",
            "Attribute": "createVolumePermission",
            "OperationType": "add",
            "UserIds": [ACCOUNT],
            "CreateVolumePermission": {"Add": [{"UserId": ACCOUNT}, {"Group": "all"}], "Remove": [{"UserId": "444"}]},
        },
    ),
    (
        "cloudtrail",
        "LookupEvents",
        {
            "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "Decrypt"}],
            "StartTime": T0,
            "EndTime": T2,
            "MaxResults": 50,
            "NextToken": "n",
        },
    ),
    ("organizations", "AttachPolicy", {"PolicyId": "p-12345678", "TargetId": "ou-abcd-12345678"}),
    ("organizations", "ListRoots", {}),
]


@pytest.mark.parametrize(("service", "operation", "params"), REQUESTS, ids=[f"{s}.{o}" for s, o, _ in REQUESTS])
def test_request_round_trip(service: str, operation: str, params: dict[str, Any]) -> None:
    name, parsed = _server_parse(service, _wire_request(service, operation, params))
    assert name == operation
    assert parsed == params


def test_request_from_query_string_and_unknown_parameters() -> None:
    model = load_service("ec2")
    parsed = parse_request(
        model,
        "DescribeVolumes",
        body=b"Action=DescribeVolumes&Version=2016-11-15&VolumeId.2=vol-2&VolumeId.1=vol-1&Bogus.1=x",
        content_type="application/x-www-form-urlencoded; charset=utf-8",
        query="MaxResults=5",
    )
    assert parsed == {"VolumeIds": ["vol-1", "vol-2"], "MaxResults": 5}


def test_request_timestamp_forms() -> None:
    model = load_service("cloudtrail")
    for raw in (1714566645, "2024-05-01T12:30:45Z", "2024-05-01T12:30:45.000+00:00"):
        body = json.dumps({"StartTime": raw}).encode()
        parsed = parse_request(model, "LookupEvents", body=body, content_type="application/x-amz-json-1.1", query="")
        assert parsed == {"StartTime": T0}


@pytest.mark.parametrize(
    ("service", "operation", "body", "code", "names"),
    [
        ("ec2", "RunInstances", b"MinCount=one", "InvalidParameterValue", "MinCount"),
        ("ec2", "RunInstances", b"EbsOptimized=yes", "InvalidParameterValue", "EbsOptimized"),
        ("ec2", "RunInstances", b"BlockDeviceMapping.1.Ebs.VolumeSize=big", "InvalidParameterValue", "VolumeSize"),
        ("iam", "ListUsers", b"MaxItems=x", "InvalidParameterValue", "MaxItems"),
        ("kms", "Encrypt", b'{"KeyId": 5}', "SerializationException", "KeyId"),
        ("kms", "Encrypt", b'{"Plaintext": "***"}', "SerializationException", "Plaintext"),
        ("kms", "CreateGrant", b'{"Operations": "Decrypt"}', "SerializationException", "Operations"),
        ("kms", "Encrypt", b"{not json", "SerializationException", "JSON"),
    ],
)
def test_request_type_errors(service: str, operation: str, body: bytes, code: str, names: str) -> None:
    model = load_service(service)
    content_type = "application/x-amz-json-1.1" if model.protocol == "json" else "application/x-www-form-urlencoded"
    with pytest.raises(WireError) as caught:
        parse_request(model, operation, body=body, content_type=content_type, query="")
    assert caught.value.code == code
    assert names in caught.value.message
    assert caught.value.status == 400


def test_operation_lookup() -> None:
    kms = load_service("kms")
    assert operation_for(kms, target="TrentService.Encrypt", form=None) == "Encrypt"
    assert operation_for(kms, target="TrentService.Nope", form=None) is None
    assert operation_for(kms, target="Other.Encrypt", form=None) is None
    ec2 = load_service("ec2")
    assert operation_for(ec2, target=None, form={"Action": "RunInstances"}) == "RunInstances"
    assert operation_for(ec2, target=None, form={}) is None
    assert unknown_operation(ec2, "Nope").code == "InvalidAction"
    assert unknown_operation(kms, "Nope").code == "UnknownOperationException"
    assert ec2.xml_namespace == "http://ec2.amazonaws.com/doc/2016-11-15/"
    assert kms.target_prefix == "TrentService"
    assert load_service("iam") is load_service("iam")


# --------------------------------------------------------------------------------------------------------------
# 2. Responses


def _instance(n: int) -> dict[str, Any]:
    return {
        "InstanceId": f"i-{n:017x}",
        "ImageId": "ami-0123456789abcdef0",
        "InstanceType": "t3.micro",
        "LaunchTime": T0,
        "State": {"Code": 16, "Name": "running"},
        "StateReason": {"Code": "Client.InternalError", "Message": "Client.InternalError: Client error on launch"},
        "StateTransitionReason": "",
        "PrivateIpAddress": f"10.0.0.{n}",
        "SubnetId": "subnet-1",
        "VpcId": "vpc-1",
        "Placement": {"AvailabilityZone": "us-east-1a", "Tenancy": "default", "GroupName": ""},
        "Monitoring": {"State": "disabled"},
        "Architecture": "x86_64",
        "RootDeviceName": "/dev/xvda",
        "RootDeviceType": "ebs",
        "EbsOptimized": False,
        "EnaSupport": True,
        "Hypervisor": "xen",
        "AmiLaunchIndex": n,
        "BlockDeviceMappings": [
            {
                "DeviceName": "/dev/xvda",
                "Ebs": {
                    "AttachTime": T1,
                    "DeleteOnTermination": True,
                    "Status": "attached",
                    "VolumeId": f"vol-{n:017x}",
                },
            }
        ],
        "IamInstanceProfile": {"Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/web", "Id": "AIPAEXAMPLE"},
        "SecurityGroups": [{"GroupName": "web", "GroupId": "sg-1"}],
        "Tags": [{"Key": "Name", "Value": f"web-{n}"}, {"Key": "aws:autoscaling:groupName", "Value": "web"}],
        "NetworkInterfaces": [
            {
                "NetworkInterfaceId": f"eni-{n}",
                "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": f"10.0.0.{n}"}],
                "Groups": [{"GroupName": "web", "GroupId": "sg-1"}],
                "Attachment": {"AttachTime": T0, "DeviceIndex": 0, "Status": "attached", "DeleteOnTermination": True},
            }
        ],
        "CpuOptions": {"CoreCount": 1, "ThreadsPerCore": 2},
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2, "State": "applied"},
    }


DESCRIBE_INSTANCES = {
    "Reservations": [
        {
            "ReservationId": "r-1",
            "OwnerId": ACCOUNT,
            "Groups": [],
            "Instances": [_instance(n) for n in range(1, 6)],
        }
    ],
}

_USER = {
    "Path": "/",
    "UserName": "alice",
    "UserId": "AIDAEXAMPLE",
    "Arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
    "CreateDate": T0,
    "PasswordLastUsed": T2,
    "Tags": [{"Key": "team", "Value": "<ops> & co"}],
}

RESPONSES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "kms",
        "Encrypt",
        {"CiphertextBlob": b"\x01\x02\x03\xfe\xff", "KeyId": KEY_ARN, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"},
    ),
    (
        "kms",
        "DescribeKey",
        {
            "KeyMetadata": {
                "AWSAccountId": ACCOUNT,
                "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
                "Arn": KEY_ARN,
                "CreationDate": T2,
                "DeletionDate": T0,
                "Enabled": False,
                "Description": "",
                "KeyUsage": "ENCRYPT_DECRYPT",
                "KeyState": "PendingDeletion",
                "Origin": "AWS_KMS",
                "KeyManager": "CUSTOMER",
                "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
                "KeySpec": "SYMMETRIC_DEFAULT",
                "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
                "MultiRegion": False,
                "PendingDeletionWindowInDays": 7,
            }
        },
    ),
    (
        "kms",
        "ListGrants",
        {
            "Grants": [
                {
                    "KeyId": KEY_ARN,
                    "GrantId": "0c237476b39f8bc44e45212e08498fbe3151305030726c0590dd8d3e9f3d6a60",
                    "Name": "",
                    "CreationDate": T0,
                    "GranteePrincipal": ROLE_ARN,
                    "IssuingAccount": f"arn:aws:iam::{ACCOUNT}:root",
                    "Operations": ["Decrypt", "CreateGrant"],
                    "Constraints": {"EncryptionContextSubset": {"aws:ebs:id": "vol-1"}},
                }
            ],
            "Truncated": True,
            "NextMarker": "m",
        },
    ),
    ("iam", "GetUser", {"User": _USER}),
    (
        "iam",
        "ListUsers",
        {"Users": [_USER, {**_USER, "UserName": "bob", "Tags": []}], "IsTruncated": True, "Marker": "m"},
    ),
    (
        "iam",
        "GetAccountAuthorizationDetails",
        {
            "UserDetailList": [
                {
                    "UserName": "alice",
                    "UserId": "AIDAEXAMPLE",
                    "Arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
                    "CreateDate": T0,
                    "UserPolicyList": [{"PolicyName": "kms", "PolicyDocument": POLICY}],
                    "GroupList": ["eng"],
                    "AttachedManagedPolicies": [
                        {"PolicyName": "ReadOnlyAccess", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}
                    ],
                }
            ],
            "RoleDetailList": [
                {
                    "RoleName": "web",
                    "Arn": ROLE_ARN,
                    "AssumeRolePolicyDocument": TRUST,
                    "InstanceProfileList": [
                        {
                            "InstanceProfileName": "web",
                            "InstanceProfileId": "AIPAEXAMPLE",
                            "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/web",
                            "Path": "/",
                            "CreateDate": T0,
                            "Roles": [
                                {
                                    "RoleName": "web",
                                    "RoleId": "AROAEXAMPLE",
                                    "Arn": ROLE_ARN,
                                    "Path": "/",
                                    "CreateDate": T0,
                                    "AssumeRolePolicyDocument": TRUST,
                                }
                            ],
                        }
                    ],
                    "RolePolicyList": [{"PolicyName": "inline", "PolicyDocument": POLICY}],
                }
            ],
            "Policies": [
                {
                    "PolicyName": "ebs",
                    "Arn": f"arn:aws:iam::{ACCOUNT}:policy/ebs",
                    "DefaultVersionId": "v2",
                    "IsAttachable": True,
                    "PolicyVersionList": [
                        {"Document": POLICY, "VersionId": "v2", "IsDefaultVersion": True, "CreateDate": T1}
                    ],
                }
            ],
            "IsTruncated": False,
        },
    ),
    ("iam", "GetUserPolicy", {"UserName": "alice", "PolicyName": "kms", "PolicyDocument": POLICY}),
    ("iam", "GetAccountSummary", {"SummaryMap": {"Users": 2, "Roles": 7, "Policies": 0}}),
    (
        "iam",
        "CreateAccessKey",
        {
            "AccessKey": {
                "UserName": "alice",
                "AccessKeyId": "AKIAEXAMPLE",
                "Status": "Active",
                "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY+",
                "CreateDate": T0,
            }
        },
    ),
    ("sts", "GetCallerIdentity", {"UserId": "AIDAEXAMPLE", "Account": ACCOUNT, "Arn": _USER["Arn"]}),
    (
        "sts",
        "AssumeRole",
        {
            "Credentials": {
                "AccessKeyId": "ASIAEXAMPLE",
                "SecretAccessKey": "secret",
                "SessionToken": "token/+=",
                "Expiration": T1,
            },
            "AssumedRoleUser": {"AssumedRoleId": "AROAEXAMPLE:s", "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/web/s"},
            "PackedPolicySize": 6,
            "SourceIdentity": "alice",
        },
    ),
    ("ec2", "DescribeInstances", DESCRIBE_INSTANCES),
    (
        "ec2",
        "RunInstances",
        {"ReservationId": "r-2", "OwnerId": ACCOUNT, "Groups": [{"GroupId": "sg-1"}], "Instances": [_instance(7)]},
    ),
    (
        "ec2",
        "DescribeVolumes",
        {
            "Volumes": [
                {
                    "VolumeId": "vol-1",
                    "Size": 8,
                    "SnapshotId": "",
                    "AvailabilityZone": "us-east-1a",
                    "State": "in-use",
                    "CreateTime": T0,
                    "Attachments": [
                        {
                            "AttachTime": T1,
                            "Device": "/dev/xvda",
                            "InstanceId": "i-1",
                            "State": "attached",
                            "VolumeId": "vol-1",
                            "DeleteOnTermination": True,
                        }
                    ],
                    "Encrypted": True,
                    "KmsKeyId": KEY_ARN,
                    "VolumeType": "gp3",
                    "Iops": 3000,
                    "Throughput": 125,
                    "MultiAttachEnabled": False,
                    "Tags": [{"Key": "Name", "Value": "root"}],
                }
            ],
            "NextToken": "t",
        },
    ),
    (
        "ec2",
        "DescribeSnapshots",
        {
            "Snapshots": [
                {
                    "SnapshotId": "snap-1",
                    "VolumeId": "vol-1",
                    "State": "completed",
                    "StartTime": T2,
                    "Progress": "100%",
                    "OwnerId": ACCOUNT,
                    "Description": "Created by CreateImage(i-1) for ami-1",
                    "VolumeSize": 8,
                    "Encrypted": True,
                    "KmsKeyId": KEY_ARN,
                }
            ]
        },
    ),
    ("ec2", "GetEbsEncryptionByDefault", {"EbsEncryptionByDefault": True, "SseType": "sse-ebs"}),
    ("ec2", "GetEbsDefaultKmsKeyId", {"KmsKeyId": KEY_ARN}),
    (
        "ec2",
        "DescribeImages",
        {
            "Images": [
                {
                    "ImageId": "ami-1",
                    "ImageLocation": f"{ACCOUNT}/web",
                    "State": "available",
                    "OwnerId": ACCOUNT,
                    "CreationDate": "2024-05-01T12:30:45.000Z",  # a string in EC2's model
                    "Public": False,
                    "Architecture": "x86_64",
                    "ImageType": "machine",
                    "Name": "web",
                    "RootDeviceType": "ebs",
                    "RootDeviceName": "/dev/xvda",
                    "VirtualizationType": "hvm",
                    "BlockDeviceMappings": [
                        {
                            "DeviceName": "/dev/xvda",
                            "Ebs": {
                                "SnapshotId": "snap-1",
                                "VolumeSize": 8,
                                "VolumeType": "gp3",
                                "Encrypted": True,
                                "DeleteOnTermination": True,
                            },
                        },
                        {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"},
                    ],
                    "Tags": [],
                }
            ]
        },
    ),
    ("ec2", "ModifySnapshotAttribute", {}),  # no output shape: just the request id
    (
        "autoscaling",
        "DescribeAutoScalingGroups",
        {
            "AutoScalingGroups": [
                {
                    "AutoScalingGroupName": "web",
                    "AutoScalingGroupARN": f"arn:aws:autoscaling:us-east-1:{ACCOUNT}:autoScalingGroup:1:web",
                    "LaunchTemplate": {
                        "LaunchTemplateId": "lt-1",
                        "LaunchTemplateName": "web",
                        "Version": "$Latest",
                    },
                    "MinSize": 0,
                    "MaxSize": 4,
                    "DesiredCapacity": 1,
                    "DefaultCooldown": 300,
                    "AvailabilityZones": ["us-east-1a"],
                    "HealthCheckType": "EC2",
                    "HealthCheckGracePeriod": 300,
                    "Instances": [
                        {
                            "InstanceId": "i-1",
                            "AvailabilityZone": "us-east-1a",
                            "LifecycleState": "InService",
                            "HealthStatus": "Healthy",
                            "ProtectedFromScaleIn": False,
                            "LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "1"},
                        }
                    ],
                    "CreatedTime": T0,
                    "Tags": [
                        {
                            "ResourceId": "web",
                            "ResourceType": "auto-scaling-group",
                            "Key": "Name",
                            "Value": "web",
                            "PropagateAtLaunch": True,
                        }
                    ],
                    "NewInstancesProtectedFromScaleIn": False,
                    "ServiceLinkedRoleARN": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/x",
                }
            ]
        },
    ),
    (
        "autoscaling",
        "DescribeScalingActivities",
        {
            "Activities": [
                {
                    "ActivityId": "a-1",
                    "AutoScalingGroupName": "web",
                    "Description": "Launching a new EC2 instance.  Status Reason: Instance became unhealthy",
                    "Cause": "At 2024-05-01T12:30:45Z an instance was started in response to a difference...",
                    "StartTime": T0,
                    "EndTime": T1,
                    "StatusCode": "Cancelled",
                    "StatusMessage": "Client.InternalError: Client error on launch",
                    "Progress": 100,
                    "Details": '{"Subnet ID":"subnet-1","Availability Zone":"us-east-1a"}',
                }
            ],
            "NextToken": "n",
        },
    ),
    (
        "cloudtrail",
        "LookupEvents",
        {
            "Events": [
                {
                    "EventId": "e-1",
                    "EventName": "CreateGrant",
                    "ReadOnly": "false",
                    "AccessKeyId": "ASIAEXAMPLE",
                    "EventTime": T0,
                    "EventSource": "kms.amazonaws.com",
                    "Username": "AutoScaling",
                    "Resources": [{"ResourceType": "AWS::KMS::Key", "ResourceName": KEY_ARN}],
                    "CloudTrailEvent": json.dumps({"eventName": "CreateGrant", "errorCode": "AccessDenied"}),
                }
            ],
            "NextToken": "n",
        },
    ),
    ("organizations", "ListRoots", {"Roots": [{"Id": "r-abcd", "Arn": "arn", "Name": "Root", "PolicyTypes": []}]}),
]
OUTPUT = {(service, operation): output for service, operation, output in RESPONSES}


@pytest.mark.parametrize(("service", "operation", "output"), RESPONSES, ids=[f"{s}.{o}" for s, o, _ in RESPONSES])
def test_response_round_trip(service: str, operation: str, output: dict[str, Any]) -> None:
    status, headers, body = serialize_response(load_service(service), operation, output, request_id="req-1")
    assert status == 200
    parsed = _botocore_parse(service, operation, status, headers, body)
    assert parsed.pop("ResponseMetadata")["RequestId"] == "req-1"
    assert parsed == output


def test_iam_policy_documents_are_url_encoded_json() -> None:
    _, _, body = serialize_response(
        load_service("iam"),
        "GetUserPolicy",
        {"UserName": "a", "PolicyName": "p", "PolicyDocument": POLICY},
        request_id="r",
    )
    text = body.decode()
    assert "<PolicyDocument>%7B%22Version%22%3A%20%222012-10-17%22" in text
    # A document given as JSON text is encoded the same way.
    _, _, again = serialize_response(
        load_service("iam"),
        "GetUserPolicy",
        {"UserName": "a", "PolicyName": "p", "PolicyDocument": json.dumps(POLICY)},
        request_id="r",
    )
    assert again == body


def test_ec2_response_wire_names() -> None:
    _, headers, body = serialize_response(load_service("ec2"), "DescribeInstances", DESCRIBE_INSTANCES, request_id="r")
    text = body.decode()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse ')
    assert 'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet><item>' in text
    assert "<instanceState><code>16</code><name>running</name></instanceState>" in text
    assert "<launchTime>2024-05-01T12:30:45.000Z</launchTime>" in text
    assert "<ebsOptimized>false</ebsOptimized>" in text
    assert "<groupSet></groupSet>" in text
    assert headers["Content-Type"].startswith("text/xml")


def test_query_response_envelope() -> None:
    _, _, body = serialize_response(
        load_service("sts"), "GetCallerIdentity", {"Account": ACCOUNT, "Unknown": 1, "Arn": None}, request_id="r"
    )
    assert body.decode().endswith(
        '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
        f"<Account>{ACCOUNT}</Account></GetCallerIdentityResult>"
        "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
    )


def test_json_response_headers() -> None:
    _, headers, body = serialize_response(load_service("kms"), "Encrypt", {"CiphertextBlob": b"\x00"}, request_id="r")
    assert headers == {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "r"}
    assert json.loads(body) == {"CiphertextBlob": "AA=="}


# --------------------------------------------------------------------------------------------------------------
# 3. Errors


@pytest.mark.parametrize(
    ("service", "code", "message", "status"),
    [
        ("ec2", "UnauthorizedOperation", "You are not authorized to perform this operation. <&>", 403),
        ("ec2", "InvalidInstanceID.NotFound", "The instance ID 'i-1' does not exist", 400),
        ("iam", "AccessDenied", f"User: {_USER['Arn']} is not authorized to perform: iam:GetUser", 403),
        ("sts", "ExpiredToken", "The security token included in the request is expired", 403),
        ("autoscaling", "ValidationError", "AutoScalingGroup name not found - web", 400),
        ("kms", "NotFoundException", f"Key '{KEY_ARN}' does not exist", 400),
        ("kms", "KMSInternalException", "internal", 500),
        ("cloudtrail", "InvalidLookupAttributesException", "bad", 400),
        ("organizations", "AWSOrganizationsNotInUseException", "not in use", 400),
    ],
)
def test_error_round_trip(service: str, code: str, message: str, status: int) -> None:
    model = load_service(service)
    got_status, headers, body = serialize_error(model, code=code, message=message, status=status, request_id="req-9")
    assert got_status == status
    parsed = _botocore_parse(service, model.operation_names[0], got_status, headers, body)
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == message
    assert parsed["ResponseMetadata"]["RequestId"] == "req-9"


# --------------------------------------------------------------------------------------------------------------
# End to end through boto3: every botocore customization (idempotency tokens, IAM's policy decoding, error
# classes) applies, and the request is the one the SDK really sends.


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _answer(outputs: dict[str, Any], seen: list[tuple[str, dict[str, Any]]]) -> Any:
    def before_send(request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse:
        service = event_name.split(".")[1]
        operation, params = _server_parse(service, request)
        assert operation is not None
        seen.append((operation, params))
        model = load_service(service)
        result = outputs[operation]
        if isinstance(result, WireError):
            status, headers, body = serialize_error(
                model, code=result.code, message=result.message, status=result.status, request_id="e2e"
            )
        else:
            status, headers, body = serialize_response(model, operation, result, request_id="e2e")
        return AWSResponse(request.url, status, headers, _Body(body))

    return before_send


@pytest.mark.parametrize(
    ("service", "method", "params", "outputs"),
    [
        ("kms", "encrypt", {"KeyId": "alias/ebs", "Plaintext": b"x"}, {"Encrypt": OUTPUT["kms", "Encrypt"]}),
        ("ec2", "describe_instances", {"InstanceIds": ["i-1"]}, {"DescribeInstances": DESCRIBE_INSTANCES}),
        (
            "iam",
            "get_account_authorization_details",
            {},
            {"GetAccountAuthorizationDetails": OUTPUT["iam", "GetAccountAuthorizationDetails"]},
        ),
        (
            "sts",
            "assume_role",
            {"RoleArn": ROLE_ARN, "RoleSessionName": "s1"},
            {"AssumeRole": OUTPUT["sts", "AssumeRole"]},
        ),
    ],
)
def test_through_boto3(service: str, method: str, params: dict[str, Any], outputs: dict[str, Any]) -> None:
    client = boto3.client(
        service, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret"
    )
    seen: list[tuple[str, dict[str, Any]]] = []
    client.meta.events.register_first(f"before-send.{service}", _answer(outputs, seen))
    result = getattr(client, method)(**params)
    result.pop("ResponseMetadata")
    ((operation, expected),) = outputs.items()
    assert result == expected
    assert seen == [(operation, params)]


def test_run_instances_idempotency_token_reaches_the_server() -> None:
    client = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="AKID", aws_secret_access_key="s")
    seen: list[tuple[str, dict[str, Any]]] = []
    client.meta.events.register_first("before-send.ec2", _answer({"RunInstances": OUTPUT["ec2", "RunInstances"]}, seen))
    client.run_instances(ImageId="ami-1", MinCount=1, MaxCount=1)
    assert seen[0][1]["ClientToken"]  # botocore's generate_idempotent_uuid


def test_error_through_boto3() -> None:
    client = boto3.client("kms", region_name="us-east-1", aws_access_key_id="AKID", aws_secret_access_key="s")
    refusal = WireError("AccessDeniedException", "User: x is not authorized to perform: kms:Decrypt")
    client.meta.events.register_first("before-send.kms", _answer({"Decrypt": refusal}, []))
    with pytest.raises(ClientError) as caught:
        client.decrypt(CiphertextBlob=b"x")
    assert caught.value.response["Error"] == {"Code": refusal.code, "Message": refusal.message}


# --------------------------------------------------------------------------------------------------------------
# 4. Properties: values generated from the model's shapes round-trip both ways.

# Text an XML 1.0 document can carry (no C0 controls but tab/LF/CR, no surrogates or non-characters).
_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn"), include_characters="\t\n\r"), max_size=12
)
_MAX_DEPTH = 5  # structures deep: reaches EC2 Instance.BlockDeviceMappings[].Ebs


def _strategy(shape: Shape, depth: int = 0, *, nonempty: bool = False) -> st.SearchStrategy[Any]:
    """Values of a botocore shape. ``nonempty`` keeps structures, lists and maps non-empty: the query protocols
    send no key at all for an empty structure or map (nor, in EC2, for an empty list), so those cannot come back."""
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        if depth >= _MAX_DEPTH:
            members = {k: v for k, v in members.items() if v.type_name not in ("structure", "list", "map")}
        optional = {name: _strategy(m, depth + 1, nonempty=nonempty) for name, m in members.items()}
        strategy = st.fixed_dictionaries({}, optional=optional)
        return strategy.filter(bool) if nonempty else strategy
    if kind == "list":
        return st.lists(_strategy(shape.member, depth, nonempty=nonempty), min_size=int(nonempty), max_size=2)
    if kind == "map":
        values = _strategy(shape.value, depth, nonempty=nonempty)
        return st.dictionaries(_TEXT, values, min_size=int(nonempty), max_size=2)
    if kind == "string":
        return st.sampled_from(shape.enum) if shape.enum else _TEXT
    if kind in ("integer", "long"):
        return st.integers(-(2**31), 2**31 - 1)
    if kind == "boolean":
        return st.booleans()
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "blob":
        return st.binary(max_size=16)
    if kind == "timestamp":
        return st.datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)).map(
            lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)
        )
    raise AssertionError(f"no strategy for {kind}")


_PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)


@pytest.mark.parametrize(
    ("service", "operation"),
    [
        ("kms", "CreateGrant"),
        ("ec2", "RunInstances"),
        ("autoscaling", "CreateAutoScalingGroup"),
        ("iam", "AcquireRole"),
    ],
)
def test_property_requests(service: str, operation: str) -> None:
    input_shape = _operation_model(service, operation).input_shape
    xml = load_service(service).protocol != "json"

    @_PROPERTY
    @given(_strategy(input_shape, nonempty=xml))
    def check(params: dict[str, Any]) -> None:
        op_model = _operation_model(service, operation)
        serializer = create_serializer(op_model.metadata["protocol"], include_validation=False)
        request_dict = serializer.serialize_to_request(copy.deepcopy(params), op_model)
        prepare_request_dict(request_dict, endpoint_url="https://example.amazonaws.com")
        name, parsed = _server_parse(service, create_request_object(request_dict).prepare())
        assert name == operation
        assert parsed == params

    check()


@pytest.mark.parametrize(
    ("service", "operation"),
    [
        ("ec2", "DescribeInstances"),
        ("kms", "ListGrants"),
        ("iam", "GetAccountAuthorizationDetails"),
        ("iam", "GetAccountSummary"),
    ],
)
def test_property_responses(service: str, operation: str) -> None:
    output_shape = _operation_model(service, operation).output_shape

    @_PROPERTY
    @given(_strategy(output_shape))
    def check(output: dict[str, Any]) -> None:
        if service == "iam":
            # IAM's policy documents are JSON documents; botocore decodes them, so generate documents.
            output = _with_policy_documents(output, output_shape)
        status, headers, body = serialize_response(load_service(service), operation, output, request_id="p")
        parsed = _botocore_parse(service, operation, status, headers, body)
        parsed.pop("ResponseMetadata")
        assert parsed == output

    check()


def _with_policy_documents(value: Any, shape: Shape) -> Any:
    if shape.type_name == "structure":
        return {
            k: (
                {"Statement": [{"Sid": v}]}
                if shape.members[k].name == "policyDocumentType"
                else _with_policy_documents(v, shape.members[k])
            )
            for k, v in value.items()
        }
    if shape.type_name == "list":
        return [_with_policy_documents(v, shape.member) for v in value]
    return value


# --------------------------------------------------------------------------------------------------------------
# The query traits the services in scope barely use (flattened lists and maps, renamed elements, nested lists),
# on a small model: botocore's serializer and parser, built from the same model, are the reference.

_TRAITS_MODEL: dict[str, Any] = {
    "metadata": {
        "apiVersion": "2020-01-01",
        "protocol": "query",
        "xmlNamespace": "https://traits.example/doc/2020-01-01/",
        "endpointPrefix": "traits",
        "serviceId": "Traits",
        "signatureVersion": "v4",
    },
    "operations": {
        "Op": {
            "name": "Op",
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": "Shape"},
            "output": {"shape": "Shape", "resultWrapper": "OpResult"},
        }
    },
    "shapes": {
        "Shape": {
            "type": "structure",
            "members": {
                "Flat": {"shape": "FlatList"},
                "FlatNamed": {"shape": "FlatNamedList"},
                "Renamed": {"shape": "String", "locationName": "OtherName"},
                "Nested": {"shape": "ListOfLists"},
                "Named": {"shape": "NamedList"},
                "FlatMap": {"shape": "FlatMap"},
                "NamedMap": {"shape": "NamedMap"},
                "When": {"shape": "Time"},
                "Ratio": {"shape": "Double"},
            },
        },
        "FlatList": {"type": "list", "member": {"shape": "String"}, "flattened": True},
        "FlatNamedList": {"type": "list", "member": {"shape": "String", "locationName": "Item"}, "flattened": True},
        "ListOfLists": {"type": "list", "member": {"shape": "NamedList"}},
        "NamedList": {"type": "list", "member": {"shape": "String", "locationName": "Thing"}},
        "FlatMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "String"}, "flattened": True},
        "NamedMap": {
            "type": "map",
            "key": {"shape": "String", "locationName": "Name"},
            "value": {"shape": "NamedList", "locationName": "Values"},
        },
        "String": {"type": "string"},
        "Time": {"type": "timestamp"},
        "Double": {"type": "double"},
    },
}


def test_query_traits_round_trip() -> None:
    value = {
        "Flat": ["a", "b"],
        "FlatNamed": ["c"],
        "Renamed": "x & <y>\r\n",
        "Nested": [["1", "2"], ["3"]],
        "Named": ["t"],
        "FlatMap": {"k1": "v1", "k2": ""},
        "NamedMap": {"n": ["v", "w"]},
        "When": T2,
        "Ratio": 0.1,
    }
    ours = ServiceModel("traits", _TRAITS_MODEL)
    op_model = BotocoreServiceModel(_TRAITS_MODEL, "traits").operation_model("Op")
    request_dict = create_serializer("query").serialize_to_request(copy.deepcopy(value), op_model)
    assert request_dict["body"]["Item.1"] == "c"  # a flattened list's element name replaces the member's
    prepare_request_dict(request_dict, endpoint_url="https://traits.example")
    request = create_request_object(request_dict).prepare()
    body = request.body.encode() if isinstance(request.body, str) else request.body
    assert parse_request(ours, "Op", body=body, content_type=request.headers["Content-Type"], query="") == value
    status, headers, response_body = serialize_response(ours, "Op", value, request_id="t")
    parsed = create_parser("query").parse(
        {"status_code": status, "headers": HeadersDict(headers), "body": response_body}, op_model.output_shape
    )
    parsed.pop("ResponseMetadata")
    assert parsed == value
