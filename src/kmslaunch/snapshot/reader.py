"""Reading snapshot files: JSON with every problem recorded against its file and path, policy documents parsed."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from kmslaunch.launch.params import parse_block_devices
from kmslaunch.policy.errors import InputError, PolicyValidationError
from kmslaunch.policy.model import PolicyType
from kmslaunch.snapshot.errors import Problem, issue_problems
from kmslaunch.snapshot.jsonio import Node, decode, read_json
from kmslaunch.world.documents import Document
from kmslaunch.world.ec2 import EbsSpec, Image
from kmslaunch.world.ec2 import Snapshot as EbsSnapshot


class Reader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []
        self.unknown: list[str] = []
        self.raw: dict[str, Any] = {}
        # Images and snapshots of other accounts found in an account's files: (listing account, region, item).
        self.shared_images: list[tuple[str, str, Image]] = []
        self.shared_snapshots: list[tuple[str, str, EbsSnapshot]] = []

    # -- files ------------------------------------------------------------------------------------------------

    def read(self, rel: str, who: str = "", shown: str = "", missing: str | None = None) -> Node | None:
        """The top-level object of ``rel``; None when the file is missing (noting ``missing`` when given) or
        broken (the problem is recorded)."""
        path = self.root / rel
        try:
            present = path.is_file()
        except OSError as exc:  # a name too long for the file system, made of an id a file listed
            self.problems.append(Problem(str(path), "", f"cannot be read: {exc.strerror or exc}"))
            return None
        if not present:
            if missing is not None:
                self.unknown.append(f"{who}: {shown or rel} is missing: {missing}")
            return None
        ok, value = read_json(path, str(path), self.problems)
        if not ok:
            return None
        node = Node(value, "", str(path), self.problems)
        return node if node.obj("a JSON object") else None

    def document(self, node: Node, policy_type: PolicyType, name: str) -> Document | None:
        if node.missing:
            node.problem("missing: expected a policy document")
            return None
        value = node.value
        if isinstance(value, str):
            # A document held as JSON text (a key policy, an SCP's Content, IAM's URL-encoded documents): read
            # here, so that what Python's decoder cannot take is reported like any other problem.
            text = value.strip()
            value, where, message = decode(unquote(text) if text[:3].lower() == "%7b" else text)
            if message is not None:
                node.problem(f"{where}: {message}" if where else message)
                return None
        try:
            return Document.parse(value, policy_type, name, source=node.file)
        except PolicyValidationError as exc:
            self.problems.extend(issue_problems(node.file, node.path, exc.issues))
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError) as exc:
            # Whatever JSON a file holds, the user gets a line naming it, never a traceback.
            node.problem(f"cannot be read as a policy document: {type(exc).__name__}: {exc}")
        return None

    def whole_dir(self, base: str, name: str, who: str, what: str) -> bool:
        """Whether a whole service folder is missing; then one sentence says so, instead of one per file."""
        if (self.root / base / name).is_dir():
            return False
        self.unknown.append(f"{who}: {name}/ is missing: {what} are unknown")
        return True

    def block_devices(self, node: Node) -> tuple[EbsSpec, ...]:
        try:
            return parse_block_devices(node.value, node.file, node.path)
        except InputError as exc:
            self.problems.append(Problem(exc.source, exc.path, exc.message))
            return ()

    # -- snapshot.json ----------------------------------------------------------------------------------------


def json_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.is_dir() else []
