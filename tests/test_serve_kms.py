"""KMS through the endpoint with boto3: the cryptographic operations, key states, aliases and grants, each
authorized by the key policy, grants and IAM, and refused in KMS's words."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from kmslaunch.server.app import Server
from kmslaunch.server.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET, State
from kmslaunch.server.store import Store

Factory = Callable[..., Any]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Factory]:
    state = State(Store(tmp_path / "s.sqlite"))
    server = Server("127.0.0.1", 0, state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def make(service: str, keys: tuple[str, str] = (DEFAULT_ACCESS_KEY, DEFAULT_SECRET)) -> Any:
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id=keys[0],
            aws_secret_access_key=keys[1],
            config=Config(retries={"max_attempts": 1}),
        )

    try:
        yield make
    finally:
        server.shutdown()
        server.server_close()
        state.store.close()


def _code(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def _user(client: Factory, name: str) -> tuple[str, str]:
    iam = client("iam")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_encrypt_decrypt_round_trip_with_encryption_context(client: Factory) -> None:
    kms = client("kms")
    key = kms.create_key()["KeyMetadata"]
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret", EncryptionContext={"app": "web"})
    assert out["KeyId"] == key["Arn"]
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"app": "web"})
    assert back["Plaintext"] == b"secret" and back["KeyId"] == key["Arn"]
    # The encryption context is bound to the ciphertext: another one does not decrypt.
    assert _code(lambda: kms.decrypt(CiphertextBlob=out["CiphertextBlob"]))[0] == "InvalidCiphertextException"
    tampered = bytearray(out["CiphertextBlob"])
    tampered[-1] ^= 1
    assert _code(lambda: kms.decrypt(CiphertextBlob=bytes(tampered), EncryptionContext={"app": "web"}))[0] == (
        "InvalidCiphertextException"
    )


def test_reencrypt_and_data_keys(client: Factory) -> None:
    kms = client("kms")
    a = kms.create_key()["KeyMetadata"]["Arn"]
    b = kms.create_key()["KeyMetadata"]["Arn"]
    blob = kms.encrypt(KeyId=a, Plaintext=b"x")["CiphertextBlob"]
    moved = kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=b)
    assert moved["SourceKeyId"] == a and moved["KeyId"] == b
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])["Plaintext"] == b"x"
    dk = kms.generate_data_key(KeyId=a, KeySpec="AES_256")
    assert len(dk["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
    assert "Plaintext" not in kms.generate_data_key_without_plaintext(KeyId=a, KeySpec="AES_128")


def test_key_states_refuse_use_in_kms_words(client: Factory) -> None:
    kms = client("kms")
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    kms.disable_key(KeyId=arn)
    assert _code(lambda: kms.encrypt(KeyId=arn, Plaintext=b"x")) == ("DisabledException", f"{arn} is disabled.")
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Disabled"  # DescribeKey works in every state
    kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    assert _code(lambda: kms.encrypt(KeyId=arn, Plaintext=b"x")) == (
        "KMSInvalidStateException",
        f"{arn} is pending deletion.",
    )
    kms.cancel_key_deletion(KeyId=arn)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Disabled"  # cancelling leaves it disabled
    kms.enable_key(KeyId=arn)
    assert kms.encrypt(KeyId=arn, Plaintext=b"x")["KeyId"] == arn


def test_aliases(client: Factory) -> None:
    kms = client("kms")
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["Arn"] == key["Arn"]
    assert [a["AliasName"] for a in kms.list_aliases()["Aliases"]] == ["alias/app"]
    assert (
        _code(lambda: kms.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"]))[0] == "AlreadyExistsException"
    )
    assert _code(lambda: kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=key["KeyId"]))[0] == (
        "InvalidAliasNameException"
    )
    assert _code(lambda: kms.describe_key(KeyId="alias/none"))[0] == "NotFoundException"


def test_default_key_policy_delegates_to_iam_and_grants_need_no_policy(client: Factory) -> None:
    kms = client("kms")
    key = kms.create_key()["KeyMetadata"]
    bob_keys = _user(client, "bob")
    bob = client("kms", bob_keys)
    code, message = _code(lambda: bob.encrypt(KeyId=key["Arn"], Plaintext=b"x"))
    assert code == "AccessDeniedException"
    assert message == (
        f"User: arn:aws:iam::123456789012:user/bob is not authorized to perform: kms:Encrypt on resource: "
        f"{key['Arn']} because no identity-based policy allows the kms:Encrypt action"
    )
    grant = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal="arn:aws:iam::123456789012:user/bob", Operations=["Encrypt", "Decrypt"]
    )
    assert bob.encrypt(KeyId=key["Arn"], Plaintext=b"x")["KeyId"] == key["Arn"]
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key["KeyId"])["Grants"]] == [grant["GrantId"]]
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
    assert _code(lambda: bob.encrypt(KeyId=key["Arn"], Plaintext=b"x"))[0] == "AccessDeniedException"


def test_a_key_policy_that_names_nobody_locks_iam_out(client: Factory) -> None:
    kms = client("kms")
    policy = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": '
        '"arn:aws:iam::123456789012:user/admin"}, "Action": "kms:*", "Resource": "*"}]}'
    )
    key = kms.create_key(Policy=policy, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    code, message = _code(lambda: kms.encrypt(KeyId=key["Arn"], Plaintext=b"x"))
    assert code == "AccessDeniedException"
    assert message.endswith("because no resource-based policy allows the kms:Encrypt action")
    assert _code(lambda: kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy="{"))[0] in (
        "AccessDeniedException",
        "MalformedPolicyDocumentException",
    )
