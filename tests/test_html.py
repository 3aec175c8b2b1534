"""The HTML reports: self-contained, escaped, and readable in a real browser (headless Chromium renders the
kc-iam-user diagnosis to a screenshot and a DOM, and the refused call is where the page says it is)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from kmslaunch.cli.main import cli
from kmslaunch.doctor.diagnose import diagnose
from kmslaunch.doctor.html import render_html
from kmslaunch.launch.replay import replay_instance
from kmslaunch.snapshot import load_snapshot

EXAMPLES = Path(__file__).parent.parent / "examples"
INSTANCE = "i-056cc6fd323c6308f"
KEY_DIR = "111122223333/us-east-1/kms/keys/3ff5ba93-a89b-4ec2-a7a8-23aefad6c857"


def _doctor_html(snapshot: Path) -> str:
    snap = load_snapshot(snapshot)
    req = replay_instance(snap.world, "111122223333", "us-east-1", INSTANCE, None, None)
    return render_html(diagnose(snap.world, req, instance_id=INSTANCE))


class _Elements(HTMLParser):
    """The text inside each element whose class list holds ``cls``, and every tag and attribute seen."""

    def __init__(self, cls: str) -> None:
        super().__init__()
        self.cls = cls
        self.stack: list[tuple[str, bool]] = []
        self.texts: list[list[str]] = []
        self.open: list[list[str]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        marked = self.cls in (dict(attrs).get("class") or "").split()
        self.stack.append((tag, marked))
        if marked:
            self.open.append([])

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            name, marked = self.stack.pop()
            if marked:
                self.texts.append(self.open.pop())
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        for buf in self.open:
            buf.append(data)


def _refused_texts(html: str) -> list[str]:
    p = _Elements("refused")
    p.feed(html)
    return ["".join(t) for t in p.texts]


def test_doctor_page_is_self_contained_and_ordered() -> None:
    html = _doctor_html(EXAMPLES / "kc-iam-user" / "snapshot")
    assert html.startswith("<!DOCTYPE html>")
    p = _Elements("refused")
    p.feed(html)
    tags = {t for t, _ in p.tags}
    assert "script" not in tags and "link" not in tags and "img" not in tags and "iframe" not in tags
    # Nothing is fetched: the only URLs are links a reader may follow (AWS's documentation).
    for tag, attrs in p.tags:
        for name, value in attrs.items():
            if name in ("src", "href") and value:
                assert tag == "a" and value.startswith("https://docs.aws.amazon.com/"), (tag, name, value)
    assert "@import" not in html and "url(http" not in html
    # The verdict first; then the diagram, the fix, CloudTrail.
    order = [html.index(s) for s in ('class="verdict fails"', "<svg", 'id="fix"', 'id="cloudtrail"')]
    assert order == sorted(order)
    assert any("kms:CreateGrant" in t for t in _refused_texts(html))
    # The call EC2 never made after the refusal is drawn, greyed.
    assert 'class="not-made" data-action="kms:Decrypt"' in html
    # The fix's commands and documents are there in full.
    assert "aws iam put-user-policy --user-name alice" in html and "GrantsForEbsVolumes" in html


def test_policies_are_escaped(tmp_path: Path) -> None:
    """A Sid is user data: markup in it is shown, never interpreted."""
    snap = tmp_path / "snapshot"
    shutil.copytree(EXAMPLES / "kc-iam-user" / "snapshot", snap)
    f = snap / KEY_DIR / "get-key-policy.json"
    doc = json.loads(f.read_text())
    policy = json.loads(doc["Policy"])
    policy["Statement"][0]["Sid"] = "<script>alert(1)</script>&"
    doc["Policy"] = json.dumps(policy, indent=2)
    f.write_text(json.dumps(doc, indent=4))
    html = _doctor_html(snap)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in html


def test_audit_page_lists_failing_paths_first_with_fix_and_lint() -> None:
    res = CliRunner().invoke(cli, ["audit", str(EXAMPLES / "kc-source-ip" / "snapshot"), "--format", "html"])
    assert res.exit_code == 1, res.output
    html = res.output
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    assert "2 of 3 launch paths fail" in html
    fails, runs = html.index('class="fix path fails"'), html.index('class="fix path runs"')
    assert fails < runs
    assert "aws kms put-key-policy" in html and 'id="lint"' in html


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_doctor_page_in_a_headless_browser(tmp_path: Path) -> None:
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it and runs this test")
    page = tmp_path / "doctor.html"
    page.write_text(_doctor_html(EXAMPLES / "kc-iam-user" / "snapshot"), encoding="utf-8")
    shot = tmp_path / "doctor.png"
    common = [exe, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    data = shot.read_bytes()
    assert len(data) > 0 and data[:8] == b"\x89PNG\r\n\x1a\n"
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    assert any("kms:CreateGrant" in t for t in _refused_texts(dom)), dom[:2000]
