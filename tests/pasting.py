"""Pasting printed commands: a bundled example's account loaded into `kmslaunch serve` (started in a thread), the
real AWS CLI pointed at it through ``AWS_ENDPOINT_URL``, and each command run as it is printed, in /bin/sh, as
the root user of the account it names. Shared by tests/test_paste_fixes.py (the doctor's fixes) and
tests/test_paste_check_fixes.py (the pre-flight's)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kmslaunch.server.app import Server
from kmslaunch.server.state import State
from kmslaunch.server.store import Store
from kmslaunch.snapshot.load import load_snapshot

EXAMPLES = Path(__file__).parent.parent / "examples"
AWS = (
    str(Path(sys.executable).with_name("aws"))
    if Path(sys.executable).with_name("aws").exists()
    else shutil.which("aws")
)
ACCOUNT = "111122223333"
ALICE_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"
Keys = tuple[str, str, str | None]
# Access keys the test gives the example's principals in the endpoint (the snapshot holds none).
KEYS: dict[str, Keys] = {
    f"arn:aws:iam::{ACCOUNT}:root": ("AKIAROOT111122223333", "root-secret", None),
    ALICE_ARN: ("AKIAALICE11112222333", "alice-secret", None),
    "arn:aws:iam::444455556666:root": ("AKIAROOT444455556666", "owner-secret", None),
}
# Role sessions as the services that launch as them hold them (Service Catalog, Instance Scheduler): their trust
# policies name those services, so the session is made in the state, as sts:AssumeRole would issue it.
SESSIONS = {
    f"arn:aws:sts::{ACCOUNT}:assumed-role/SCLaunchRole/servicecatalog": "ASIASCLAUNCHROLE0001",
    f"arn:aws:sts::{ACCOUNT}:assumed-role/scheduler-Scheduler-Role/instance-scheduler": "ASIASCHEDULERROLE001",
}
for _session, _akid in SESSIONS.items():
    KEYS[_session] = (_akid, "session-secret", "session-token-" + _akid)
ROOT = KEYS[f"arn:aws:iam::{ACCOUNT}:root"]
_ACCOUNT_NOTE = re.compile(r"# run in account (\d{12})")


def account_of(command: str) -> str | None:
    """The account a printed command says it runs in (``# run in account N``), if it says."""
    found = _ACCOUNT_NOTE.search(command)
    return found.group(1) if found else None


class Aws:
    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.home = home

    def env(self, keys: Keys) -> dict[str, str]:
        token = {"AWS_SESSION_TOKEN": keys[2]} if keys[2] else {}
        return {
            **token,
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "AWS_ACCESS_KEY_ID": keys[0],
            "AWS_SECRET_ACCESS_KEY": keys[1],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(self.home / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / "none"),
            # Read by botocore 1.31 and later, so AWS CLI v1.29+ and v2.13+ alike
            # (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
            "AWS_ENDPOINT_URL": self.url,
        }

    def __call__(self, *args: str, keys: Keys = ROOT) -> Any:
        assert AWS is not None
        done = subprocess.run(  # noqa: PLW1510 - checked below, with stderr in the message
            [AWS, "--output", "json", *args], env=self.env(keys), capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {done.stderr}")
        return json.loads(done.stdout) if done.stdout.strip() else None

    def paste(self, command: str, cwd: Path, account: str | None = None) -> None:
        """Run a printed command as it is, in a POSIX shell, as the root user of the account it names; a command
        that names none (the printf writing the file the next command reads) runs as the root of ``account``."""
        named = account_of(command) or account
        assert named, f"the command does not say which account it runs in: {command}"
        keys = KEYS[f"arn:aws:iam::{named}:root"]
        assert AWS is not None
        env = {**self.env(keys), "PATH": f"{Path(AWS).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        done = subprocess.run(  # noqa: PLW1510 - checked below
            ["/bin/sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{command}\n{done.stderr}"


@contextmanager
def serving(example: str, tmp_path: Path) -> Iterator[tuple[Aws, Path]]:
    """The example's account as a started endpoint's state; (the AWS CLI against it, the state file)."""
    if AWS is None:
        pytest.fail("the AWS CLI (the awscli package, a dev dependency) is not installed")
    state_file = tmp_path / "state.sqlite"
    store = Store(state_file)
    # The example's account is the endpoint's state: its IAM, keys, images, groups, as the snapshot holds them.
    store.save_world(load_snapshot(EXAMPLES / example / "snapshot").world)
    state = State(store)
    for arn, (akid, secret, token) in KEYS.items():
        if token is None:
            state.add_credential(akid, secret, arn)
        else:
            role = f"arn:aws:iam::{ACCOUNT}:role/{arn.split('/')[1]}"
            expires = datetime.now(UTC) + timedelta(hours=1)
            state.add_credential(akid, secret, arn, session_token=token, expires_at=expires, role_arn=role)
    server = Server("127.0.0.1", 0, state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Aws(f"http://127.0.0.1:{server.server_address[1]}", tmp_path), state_file
    finally:
        server.shutdown()
        server.server_close()
        state.store.close()
