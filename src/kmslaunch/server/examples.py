"""What a fresh endpoint holds besides its account: two example AMIs, so that the README's story runs from a
first start with nothing created by hand. Their ids are fixed, so that the README can name them."""

from __future__ import annotations

from dataclasses import dataclass

from kmslaunch.world import builder as b
from kmslaunch.world.world import World

REGION = "us-east-1"
KEY_ID = "0e5a1f2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b"
KEY_ALIAS = "alias/kmslaunch-example"


@dataclass(frozen=True)
class ExampleImage:
    image_id: str
    snapshot_id: str
    name: str
    encrypted: bool


ENCRYPTED = ExampleImage("ami-0e5a1f2b3c4d5e6f7", "snap-0e5a1f2b3c4d5e6f7", "kmslaunch-example-encrypted", True)
PLAIN = ExampleImage("ami-0a1b2c3d4e5f60718", "snap-0a1b2c3d4e5f60718", "kmslaunch-example-unencrypted", False)
IMAGES = (ENCRYPTED, PLAIN)


def add_examples(world: World, account: str) -> None:
    """A customer managed key with the policy CreateKey gives by default (it lets IAM decide), an AMI whose
    snapshot it encrypts, and an AMI whose snapshot is not encrypted, in ``account``'s us-east-1."""
    key = b.add_key(
        world,
        account,
        REGION,
        alias=KEY_ALIAS,
        description="kmslaunch example: encrypts the snapshot of kmslaunch-example-encrypted",
        key_id=KEY_ID,
    )
    for image in IMAGES:
        b.add_image(
            world,
            account,
            REGION,
            name=image.name,
            encrypted_with=key if image.encrypted else None,
            image_id=image.image_id,
            snapshot_id=image.snapshot_id,
            description="kmslaunch example: "
            + (f"root volume encrypted with {KEY_ALIAS}" if image.encrypted else "root volume not encrypted"),
        )
