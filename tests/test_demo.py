"""``artwatch demo`` end to end, as a user runs it: exit 0, the summary, what arrived."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from artwatch.demo import MARKER, prepare_folder
from artwatch.demo_images import EDITS


def run_demo(folder: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    return subprocess.run(
        [sys.executable, "-m", "artwatch", "demo", "--dir", str(folder)],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def test_demo_finds_every_planted_copy_and_delivers_its_alerts(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = run_demo(folder, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "ArtWatch demo: OK" in out
    for edit in EDITS:
        line = next(line for line in out.splitlines() if line.strip().startswith(edit))
        assert "-> no match" not in line, line
    assert out.count("-> no match") == 6  # the decoys, and only them
    # Which kind each edit gets is the matching engine's call; that all seven are hits is ours.
    kinds = re.search(r"^hits by kind: (.*)$", out, re.MULTILINE).group(1)
    assert sum(int(part.split()[1]) for part in kinds.split(", ")) == len(EDITS), kinds
    assert f"alerts received: email 7 (.eml files in {folder / 'mail'})" in out
    assert "webhook 7 (signatures verified, 0 duplicates, 0 refused" in out

    emails = sorted((folder / "mail").glob("*.eml"))
    assert len(emails) == len(EDITS)
    for path in emails:
        message = message_from_bytes(path.read_bytes(), policy=default)
        assert message["To"].addresses[0].addr_spec == "artist@example.org"
        assert message.get_body(("plain",)) is not None
        assert message.get_body(("html",)) is not None
    bodies = [json.loads(p.read_text()) for p in (folder / "webhooks").glob("*.json")]
    assert len(bodies) == len(EDITS)
    # The embedded server of the demo was stopped.
    assert not (folder / "mongo" / "server.json").exists()

    # The next demo wipes the folder this one made.
    assert prepare_folder(folder) == folder.resolve()
    assert sorted(p.name for p in folder.iterdir()) == [MARKER]


def test_demo_refuses_to_wipe_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = run_demo(tmp_path, tmp_path)
    assert result.returncode == 2
    assert "is not empty and not an ArtWatch demo folder" in result.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"
