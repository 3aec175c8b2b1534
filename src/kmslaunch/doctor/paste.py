"""The fixes as files a shell can paste the commands next to: every ``file://`` a printed command names, each the
whole document the command sends (``put-key-policy`` and ``put-user-policy`` replace what is there whole, so a
file with only the new statements would drop the rest;
https://docs.aws.amazon.com/cli/latest/reference/kms/put-key-policy.html)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kmslaunch.policy.errors import KmslaunchError

from .fixes import FixPlan


class FixFilesError(KmslaunchError):
    """The fixes' directory cannot be written as asked (not empty, not a directory, a name leaving it)."""


def fix_files(plans: tuple[FixPlan, ...]) -> dict[str, dict[str, Any]]:
    """Every file the plans' commands read, by the name they read it with, in the order the commands come."""
    out: dict[str, dict[str, Any]] = {}
    for plan in plans:
        for fix in plan.fixes:
            for name, doc in fix.files:
                if name in out and out[name] != doc:
                    raise FixFilesError(f"two fixes would write different documents to {name}")
                out[name] = doc
    return out


def write_fix_files(plans: tuple[FixPlan, ...], out: Path, *, force: bool = False) -> list[Path]:
    """Write ``fix_files(plans)`` into ``out`` (made if missing); the paths written. ``out`` must be missing or
    empty unless ``force``; no file is ever written outside it."""
    files = fix_files(plans)
    if out.exists() and not out.is_dir():
        raise FixFilesError(f"{out}: exists and is not a directory")
    if out.is_dir() and not force and any(out.iterdir()):
        raise FixFilesError(f"{out}: is not empty: refusing to write over what is there (pass --force)")
    root = out.resolve()
    targets = []
    for name in files:
        target = (root / name).resolve()
        if target.parent != root:
            raise FixFilesError(f"{name}: would be written outside {out}")
        targets.append(target)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for target, doc in zip(targets, files.values(), strict=True):
        target.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        written.append(out / target.name)
    return written
