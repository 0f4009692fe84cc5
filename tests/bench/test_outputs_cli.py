"""Outputs checked before any work, and full disks named: ``analyze --json/--plot``,
session records."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

from ventbench.bench import records, session
from ventbench.bench.session import write_json_atomic

from tests.conftest import FIXTURES

TRACE = FIXTURES / "traces" / "vc-adult-short.csv"


def analyze(*args):
    return subprocess.run([sys.executable, "-m", "ventbench", "analyze", str(TRACE), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("option", "target", "message"), [
    ("--plot", "out.txt", "--plot {p}: cannot write a .txt file; use one of .png, .pdf, .svg"),
    ("--plot", ".", "--plot {p}: is a directory; give a file name inside it"),
    ("--json", ".", "--json {p}: is a directory; give a file name inside it"),
])
def test_bad_outputs_are_usage_errors_before_any_work(tmp_path, option, target, message):
    path = tmp_path / target if target != "." else tmp_path
    proc = analyze(option, path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert message.format(p=path) in proc.stderr
    assert proc.stdout == ""  # refused before the analysis: no verdict printed
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, no temp file


def test_a_full_disk_names_the_record_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(session.os, "fsync", full)
    target = tmp_path / "s" / "results.json"
    with pytest.raises(OSError, match=rf"cannot write {target}: disk full") as caught:
        write_json_atomic(target, {"a": 1})
    assert caught.value.errno == errno.ENOSPC
    assert list((tmp_path / "s").iterdir()) == []
    monkeypatch.setattr(records.os, "fsync", full)
    with pytest.raises(OSError, match=r"manifest.json: disk full"):
        records.write_manifest(tmp_path / "s", "x", "t")
    assert list((tmp_path / "s").iterdir()) == []
