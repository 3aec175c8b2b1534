"""The README's endpoint story, run as the README writes it: its `kmslaunch serve` block starts the endpoint,
and the block after it runs line by line in bash through the real AWS CLI. Editing the README edits the test."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
AWS = (
    str(Path(sys.executable).with_name("aws"))
    if Path(sys.executable).with_name("aws").exists()
    else shutil.which("aws")
)
KMSLAUNCH = ".venv/bin/kmslaunch"
EXPECTED_RC = re.compile(r"#\s*exit status (\d+)")


def _blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)


def _story() -> tuple[str, list[str]]:
    """The README's `kmslaunch serve --port` block, and the commands of the block that follows it."""
    blocks = _blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    i = next(i for i, b in enumerate(blocks) if b.startswith(f"{KMSLAUNCH} serve --port"))
    return blocks[i].strip(), [line for line in blocks[i + 1].splitlines() if line and not line.startswith("#")]


def test_readme_endpoint_story(tmp_path: Path) -> None:
    if AWS is None:
        pytest.fail("the AWS CLI (the awscli package, a dev dependency) is not installed")
    serve_line, commands = _story()
    argv = serve_line.split()[1:]
    port = argv[argv.index("--port") + 1]
    argv[argv.index("--port") + 1] = "0"  # a free port, read back from what serve prints
    py = [sys.executable, "-c", "from kmslaunch.cli.main import main; main()"]
    env = {
        "PATH": f"{Path(AWS).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT / "src"),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }
    server = subprocess.Popen([*py, *argv], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        m = re.match(r"kmslaunch endpoint on http://127\.0\.0\.1:(\d+) ", first)
        assert m, first
        real_port = m.group(1)
        script = [
            "kmslaunch_() { " + " ".join(f"'{a}'" for a in py) + ' "$@"; }',
            "set -o pipefail",
        ]
        expected: list[int] = []
        snapshot_dir = str(tmp_path / "endpoint-snapshot")
        for n, line in enumerate(commands):
            want = EXPECTED_RC.search(line)
            expected.append(int(want.group(1)) if want else 0)
            run = (
                line.replace(KMSLAUNCH, "kmslaunch_")
                .replace(f"127.0.0.1:{port}", f"127.0.0.1:{real_port}")
                .replace("/tmp/endpoint-snapshot", snapshot_dir)
            )
            script += [f"echo '@@ {n}'", run, f'echo "@@ {n} rc=$?"']
        done = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            check=False,
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        server.terminate()
        server.wait(30)
    out = done.stdout
    outputs = {int(n): body for n, body in re.findall(r"@@ (\d+)\n(.*?)@@ \1 rc=", out, flags=re.DOTALL)}
    codes = {int(n): int(rc) for n, rc in re.findall(r"@@ (\d+) rc=(\d+)", out)}
    for n, line in enumerate(commands):
        assert codes.get(n) == expected[n], f"{line}\n-> rc {codes.get(n)}\n{outputs.get(n)}\n{done.stderr}"

    def output_of(fragment: str, nth: int = 0) -> str:
        found = [outputs[n] for n, line in enumerate(commands) if fragment in line]
        return found[nth]

    assert output_of("ami-0a1b2c3d4e5f60718 --instance-type").strip() == "pending"
    both = output_of("describe-instances", 0)
    assert "\tami-0a1b2c3d4e5f60718\trunning\t" in both
    assert "\tami-0e5a1f2b3c4d5e6f7\tterminated\tClient.InternalError: Client error on launch" in both
    trail = output_of("lookup-events")
    assert '"errorCode": "AccessDenied"' in trail and "kms:CreateGrant" in trail and "user/alice" in trail
    assert "kms:CreateGrant was refused" in output_of("doctor")
    assert output_of("describe-instances", 1).split() == [output_of("describe-instances", 1).split()[0], "running"]
    grants = output_of("list-grants")
    assert "assumed-role/aws:ec2-infrastructure/" in grants and "Decrypt" in grants
