"""Errors a launch request gets synchronously, in EC2's codes and words; nothing is created."""

from __future__ import annotations

from kmslaunch.policy.errors import KmslaunchError


class Ec2Error(KmslaunchError):
    """An EC2 API error (``Code``, ``Message``) returned to the caller instead of a launch."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        self.code = code
        self.message = message
        self.status = status
        super().__init__(f"{code}: {message}")


class NotInWorld(KmslaunchError):
    """Something a launch needs is not in the snapshot (another account's key, an unknown image): the answer
    would be a guess, so kmslaunch says what to collect instead."""
