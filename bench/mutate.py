"""Mutations of bad input for fuzzing kmslaunch, shared by the test suite (tests/test_fuzz.py, bounded) and the
longer run of ``bench/fuzz.py``.

Two targets, each a case built from a ``random.Random`` (so a case is reproduced by its seed) and run to a verdict:

- a snapshot: one file of a bundled example's snapshot mutated (a key dropped, a value replaced by an odd one or
  by one of another type, a list element doubled, the text truncated, raw text Python's decoder chokes on
  spliced in), then the example's own ``kmslaunch simulate`` command run on it through click's CliRunner: it
  holds when the exit status is 0, 1, 2 or 3 and nothing was raised;
- a policy document: random JSON-ish documents, valid and invalid, parsed (``policy/parse.py``) as each policy
  type and decided (``authorize``, fast and explained) for a few requests: it holds when only a
  ``KmslaunchError`` comes out; and the same documents in an ``authorize`` request file through the CLI.
"""

from __future__ import annotations

import json
import random
import re
import shlex
import shutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.policy.errors import KmslaunchError
from kmslaunch.policy.evaluate import PolicySet, Request, authorize
from kmslaunch.policy.model import PolicyType
from kmslaunch.policy.parse import parse_policy
from kmslaunch.policy.principals import parse_principal
from kmslaunch.snapshot.jsonio import embedded_problem

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EXIT_CODES = frozenset({0, 1, 2, 3})

# Values a collector never writes and a hand-edited or damaged file may hold.
ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    -(2**63) - 1,
    10**300,
    1e308,
    -0.0,
    0.5,
    "",
    " ",
    "*",
    "?",
    "x" * 5000,
    "\u0000",
    "\ud7ff\ue000\U0010ffff",
    "é" * 10,
    "${aws:username}",
    "${",
    "arn:bogus:iam::111122223333:user/alice",
    "arn:aws:iam::111122223333:",
    "arn:aws:kms:us-east-1:111122223333:key/",
    "arn:",
    "alias/",
    "111122223333",
    "1" * 13,
    "lt-" + "0" * 300,
    "i-0",
    "2026-13-45T99:99:99Z",
    "true",
    "Enabled",
    "../../../etc/passwd",
    [],
    {},
    [None],
    [{}],
    {"": ""},
    {"Key": None},
    [[[[[[[[[[[]]]]]]]]]]],
]
# Raw JSON text spliced in where a value was: what json.dumps cannot write and Python's decoder cannot read.
RAW_TEXTS = [
    "9" * 4301,
    "-" + "1" * 5000,
    "[" * 1000 + "]" * 1000,
    "{" + '"a":{' * 900 + "}" * 900 + "}",
    "[" * 100 + "]" * 100,
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    '"\\ud800"',
    '"\\u0000"',
]


def json_paths(doc: Any) -> list[tuple[Any, ...]]:
    """Every path into ``doc`` (without recursion: some inputs are deep)."""
    out: list[tuple[Any, ...]] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(doc, ())]
    while stack:
        v, path = stack.pop()
        out.append(path)
        if len(path) > 40:
            continue
        if isinstance(v, dict):
            stack.extend((x, (*path, k)) for k, x in v.items())
        elif isinstance(v, list):
            stack.extend((x, (*path, i)) for i, x in enumerate(v))
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _retype(value: Any, rnd: random.Random) -> Any:
    """The value as another JSON type (a string as a number, an object as a list…)."""
    choices: list[Any] = [json.dumps(value)[:50], [value], {"value": value}, 7, None, True]
    if isinstance(value, str):
        choices += [len(value), value.upper(), value[::-1], value + "*"]
    if isinstance(value, list):
        choices += [value[0] if value else "", dict(enumerate(map(str, value)))]
    if isinstance(value, dict):
        choices += [list(value.values()), list(value)]
    return rnd.choice(choices)


def mutate_json_text(text: str, rnd: random.Random) -> tuple[str, str]:
    """One mutation of a JSON document's text: the new text and what was done."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        doc = None
    op = rnd.choice(["drop", "set", "set", "retype", "double", "truncate", "raw", "raw", "inner"])
    if doc is None or op == "truncate":
        cut = rnd.randrange(0, max(1, len(text)))
        return text[:cut], f"truncate at {cut}"
    paths = json_paths(doc)
    path = rnd.choice(paths)
    if op == "inner":
        # A document held as JSON text (a key policy, a CloudTrail record): mutate the text inside.
        inner = [p for p in paths if isinstance(_get(doc, p), str) and _get(doc, p).lstrip()[:1] in ("{", "[")]
        if inner:
            path = rnd.choice(inner)
            new, what = mutate_json_text(_get(doc, path), rnd)
            return _replace(doc, path, new), f"inside {list(path)}: {what}"
        op = "set"
    if op == "drop":
        keyed = [p for p in paths if p and isinstance(_get(doc, p[:-1]), dict)]
        if keyed:
            path = rnd.choice(keyed)
            del _get(doc, path[:-1])[path[-1]]
            return json.dumps(doc, indent=4), f"drop {list(path)}"
        op = "set"
    if op == "double":
        lists = [p for p in paths if isinstance(_get(doc, p), list) and _get(doc, p)]
        if lists:
            path = rnd.choice(lists)
            items = _get(doc, path)
            items.append(json.loads(json.dumps(items[rnd.randrange(len(items))])))
            return json.dumps(doc, indent=4), f"double an element of {list(path)}"
        op = "set"
    if op == "raw":
        marker = "__kmslaunch_fuzz_raw__"
        raw = rnd.choice(RAW_TEXTS)
        spliced = json.dumps(_replace_value(doc, path, marker), indent=4).replace(json.dumps(marker), raw, 1)
        return spliced, f"raw {raw[:20]!r}… at {list(path)}"
    if op == "retype":
        value = _retype(_get(doc, path), rnd)
        return json.dumps(_replace_value(doc, path, value), indent=4), f"retype {list(path)}"
    value = rnd.choice(ODD_VALUES)
    return json.dumps(_replace_value(doc, path, value), indent=4), f"set {list(path)} = {json.dumps(value)[:40]}"


def _replace_value(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> str:
    return json.dumps(_replace_value(doc, path, value), indent=4)


# -- the snapshot target ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulateCase:
    """An example's ``simulate`` command, as its README gives it."""

    example: str
    args: tuple[str, ...]  # after "simulate SNAPSHOT", paths absolute


def simulate_cases() -> list[SimulateCase]:
    """Every ``kmslaunch simulate`` command in the bundled examples' READMEs."""
    out = []
    for readme in sorted(EXAMPLES.glob("*/README.md")):
        for line in readme.read_text().splitlines():
            if not line.startswith(".venv/bin/kmslaunch simulate "):
                continue
            words = shlex.split(line)[2:]
            snap, rest = words[0], words[1:]
            if Path(snap).parent.name != readme.parent.name:
                continue
            args = tuple(str(ROOT / w) if w.startswith("examples/") else w for w in rest)
            out.append(SimulateCase(readme.parent.name, args))
    return out


@dataclass(frozen=True)
class Verdict:
    held: bool
    what: str  # the mutation
    detail: str  # the exit status, or the exception's traceback


class SnapshotFuzzer:
    """Copies of the examples' snapshots in ``work``, one file mutated per case and put back after."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.cases = simulate_cases()
        self.files: dict[str, list[Path]] = {}
        for case in self.cases:
            if case.example not in self.files:
                dest = work / case.example / "snapshot"
                shutil.copytree(EXAMPLES / case.example / "snapshot", dest)
                self.files[case.example] = sorted(p for p in dest.rglob("*.json"))

    def pick(self, rnd: random.Random) -> tuple[SimulateCase, Path, str, str]:
        """A case: the command, the file, its mutated text and what the mutation was."""
        case = rnd.choice(self.cases)
        target = rnd.choice(self.files[case.example])
        text, what = mutate_json_text(target.read_text(encoding="utf-8"), rnd)
        return case, target, text, f"{case.example}: {target.relative_to(self.work / case.example)}: {what}"

    def run(self, rnd: random.Random) -> tuple[Verdict, SimulateCase, Path, str]:
        case, target, text, what = self.pick(rnd)
        original = target.read_bytes()
        try:
            target.write_text(text, encoding="utf-8")
            verdict = run_cli(["simulate", str(self.work / case.example / "snapshot"), *case.args], what)
        finally:
            target.write_bytes(original)
        return verdict, case, target, text


def run_cli(args: list[str], what: str) -> Verdict:
    """Run the command line; it holds when it exits 0-3 without raising."""
    res = CliRunner().invoke(cli, args)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        assert res.exc_info is not None
        return Verdict(False, what, "".join(traceback.format_exception(*res.exc_info)))
    if res.exit_code not in EXIT_CODES:
        return Verdict(False, what, f"exit status {res.exit_code}: {res.output[-500:]}")
    if "Traceback (most recent call last)" in res.output:
        return Verdict(False, what, res.output[-2000:])
    return Verdict(True, what, f"exit status {res.exit_code}")


# -- the policy target -----------------------------------------------------------------------------------------

ALICE = "arn:aws:iam::111122223333:user/alice"
SESSION = "arn:aws:sts::111122223333:assumed-role/app/s1"
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ACTIONS = ["kms:Decrypt", "kms:CreateGrant", "kms:*", "kms:GenerateDataKey*", "ec2:RunInstances", "*", "s3:Get?bject"]
RESOURCES = ["*", KEY, "arn:aws:kms:*:111122223333:key/*", "arn:aws:s3:::b/${aws:username}/*"]
PRINCIPALS: list[Any] = ["*", {"AWS": ALICE}, {"AWS": "111122223333"}, {"Service": "ec2.amazonaws.com"}]
OPERATORS = ["StringEquals", "StringLike", "ArnLike", "Bool", "IpAddress", "NotIpAddress", "NumericLessThan"]
OPERATORS += ["DateGreaterThan", "ForAnyValue:StringEquals", "StringEqualsIfExists", "Null", "BinaryEquals"]
KEYS = ["aws:SourceIp", "kms:ViaService", "aws:PrincipalTag/team", "kms:CallerAccount", "aws:CurrentTime"]
KEYS += ["kms:GrantIsForAWSResource", "kms:EncryptionContext:Dept", "aws:username"]
REQUESTS = [
    Request(parse_principal(ALICE), "kms:Decrypt", KEY, {"aws:sourceip": ("10.1.2.3",)}),
    Request(
        parse_principal(SESSION, tags={"team": "blue"}),
        "kms:CreateGrant",
        KEY,
        {"kms:grantisforawsresource": ("true",), "kms:viaservice": ("ec2.us-east-1.amazonaws.com",)},
    ),
]


def _sometimes(rnd: random.Random, value: Callable[[], Any]) -> Any:
    return value() if rnd.random() < 0.85 else rnd.choice(ODD_VALUES)


def _key(rnd: random.Random, names: list[str]) -> str:
    return rnd.choice(names) if rnd.random() < 0.85 else json.dumps(rnd.choice(ODD_VALUES))[:30]


def random_statement(rnd: random.Random) -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": _sometimes(rnd, lambda: rnd.choice(["Allow", "Deny"]))}
    st["Action" if rnd.random() < 0.8 else "NotAction"] = _sometimes(
        rnd, lambda: rnd.choice(ACTIONS) if rnd.random() < 0.5 else rnd.sample(ACTIONS, rnd.randint(1, 3))
    )
    st["Resource" if rnd.random() < 0.8 else "NotResource"] = _sometimes(rnd, lambda: rnd.choice(RESOURCES))
    if rnd.random() < 0.5:
        st["Principal"] = _sometimes(rnd, lambda: rnd.choice(PRINCIPALS))
    if rnd.random() < 0.6:
        st["Condition"] = {
            _key(rnd, OPERATORS): {
                _key(rnd, KEYS): _sometimes(
                    rnd, lambda: rnd.choice(["10.0.0.0/8", "true", "ec2.us-east-1.amazonaws.com", "blue", "5"])
                )
            }
            for _ in range(rnd.randint(1, 2))
        }
    if rnd.random() < 0.3:
        st["Sid"] = _sometimes(rnd, lambda: "S1")
    return st


def random_document(rnd: random.Random) -> Any:
    """A policy document as an object or as JSON text (plain or URL-encoded), perhaps mutated once."""
    doc: Any = {"Version": _sometimes(rnd, lambda: "2012-10-17")}
    doc["Statement"] = [random_statement(rnd) for _ in range(rnd.randint(0, 4))]
    if rnd.random() < 0.2:
        doc["Statement"] = doc["Statement"][0] if doc["Statement"] else {}
    text = json.dumps(doc)
    if rnd.random() < 0.5:
        text, _ = mutate_json_text(text, rnd)
    form = rnd.random()
    if form < 0.5:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return text
    return quote(text) if form < 0.6 else text


def check_document(doc: Any, rnd: random.Random) -> str | None:
    """Parse ``doc`` as three policy types and decide requests with it; None when only KmslaunchError came out,
    else the traceback."""
    if embedded_problem(doc) is not None:
        # JSON text Python's decoder cannot take (nested too deep, a number too long): kmslaunch's readers
        # (snapshot/jsonio.decode) report it before the text reaches the parser, which would raise
        # RecursionError or ValueError (tests/test_fuzz.py::test_parse_policy_lets_decoder_errors_out).
        return None
    try:
        for ptype in rnd.sample(list(PolicyType), 3):
            try:
                pol = parse_policy(doc, ptype, "fuzzed")
            except KmslaunchError:
                continue
            for ps in (PolicySet(identity=(pol,)), PolicySet(resource=pol), PolicySet(identity=(pol,), resource=pol)):
                for req in REQUESTS:
                    try:
                        authorize(req, ps)
                        authorize(req, ps, explain=True).to_json()
                    except KmslaunchError:
                        pass
    except Exception:  # anything else is what the fuzzer looks for
        return traceback.format_exc()
    return None


def request_file_text(rnd: random.Random) -> str:
    """An ``authorize`` request file around random documents, sometimes mutated as text."""
    data = {
        "principal": ALICE,
        "action": rnd.choice(ACTIONS[:4]),
        "resource": KEY,
        "context": {"aws:SourceIp": "203.0.113.10", "kms:ViaService": "ec2.us-east-1.amazonaws.com"},
        "identity_policies": [{"name": "p", "document": random_document(rnd)}],
        "resource_policy": random_document(rnd),
    }
    text = json.dumps(data, indent=2)
    if rnd.random() < 0.3:
        text, _ = mutate_json_text(text, rnd)
    return text


SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def slug(text: str) -> str:
    return SAFE_NAME.sub("-", text)[:60].strip("-")
