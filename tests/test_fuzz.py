"""Fuzzing, bounded so the suite stays fast (bench/fuzz.py runs the same cases for longer): policy documents,
valid and invalid, through the parser and the evaluator (only KmslaunchError comes out), the same documents in
``authorize`` request files through the command line, and one mutated file of a bundled example's snapshot
through that example's ``kmslaunch simulate`` command (exit status 0-3, never a traceback)."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmslaunch.policy.errors import KmslaunchError
from kmslaunch.policy.model import PolicyType
from kmslaunch.policy.parse import parse_policy

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from mutate import (  # noqa: E402 - the fuzzer's cases, importable once bench/ is on the path
    SnapshotFuzzer,
    check_document,
    random_document,
    request_file_text,
    run_cli,
    simulate_cases,
)

BOUNDED = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnapshotFuzzer]:
    yield SnapshotFuzzer(tmp_path_factory.mktemp("fuzz"))


def test_the_examples_give_simulate_commands() -> None:
    examples = {c.example for c in simulate_cases()}
    assert {"success", "kc-source-ip", "eks-nodegroup"} <= examples


@settings(BOUNDED, max_examples=120)
@given(rnd=st.randoms(use_true_random=False))
def test_policy_documents_raise_only_kmslaunch_errors(rnd: random.Random) -> None:
    doc = random_document(rnd)
    failure = check_document(doc, rnd)
    assert failure is None, (doc, failure)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"Statement": [], "N": ' + "9" * 4301 + "}", "too many digits"),
        ('{"Statement": ' + "[" * 100000 + "]" * 100000 + "}", "nested too deep"),
    ],
)
def test_parse_policy_reports_what_the_decoder_refuses(text: str, message: str) -> None:
    with pytest.raises(KmslaunchError, match=message):
        parse_policy(text, PolicyType.KEY, "p")


@BOUNDED
@given(rnd=st.randoms(use_true_random=False))
def test_authorize_request_files_exit_0_1_or_2(rnd: random.Random, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("req") / "request.json"
    text = request_file_text(rnd)
    path.write_text(text, encoding="utf-8")
    verdict = run_cli(["authorize", str(path)], "request file")
    assert verdict.held, (text[:2000], verdict.detail)
    assert verdict.detail != "exit status 3"


@BOUNDED
@given(rnd=st.randoms(use_true_random=False))
def test_a_mutated_snapshot_file_never_gives_a_traceback(fuzzer: SnapshotFuzzer, rnd: random.Random) -> None:
    verdict, case, _, text = fuzzer.run(rnd)
    assert verdict.held, (verdict.what, case.args, text[:2000], verdict.detail)
