"""A non-editable install ships what the README uses: the bundled examples, inside the package, and the
commands find them by the README's `examples/…` paths outside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _files(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".py"
    }


def test_wheel_install_ships_the_examples_and_finds_them(tmp_path: Path) -> None:
    # Built from a copy, so that setuptools' build/ and egg-info never land in the working tree.
    src = tmp_path / "src-copy"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", src / "src", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "examples", src / "examples", ignore=ignore)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    shipped = target / "kmslaunch" / "examples"
    assert not shipped.is_symlink()
    assert _files(shipped) == _files(ROOT / "examples")
    assert not (shipped / "generate.py").exists()

    elsewhere = tmp_path / "elsewhere"  # no examples/ here: the installed copy answers
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "KMSLAUNCH_SITE": str(target), "NO_COLOR": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, kmslaunch\n"
            "assert kmslaunch.__file__.startswith(os.environ['KMSLAUNCH_SITE']), kmslaunch.__file__\n"
            "from kmslaunch.cli.main import main; main()",
            "doctor",
            "examples/kc-iam-user/snapshot",
            "--instance",
            "i-056cc6fd323c6308f",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "i-056cc6fd323c6308f  terminated" in done.stdout
