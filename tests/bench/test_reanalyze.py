"""``ventbench reanalyze`` on a real Dask LocalCluster of worker processes: the same results
as ``replay`` one by one, a worker killed mid-archive, an unreadable session reported,
results beside (never over) the recorded ones, and the history marked with the version."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ventbench.bench.reanalyze import REANALYSIS_DIR, analysis_version, reanalyze_archive
from ventbench.bench.session import sha256_file

from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow


def _archive(root: Path, copies: int) -> list[Path]:
    sessions = []
    for n in range(copies):
        for name in ("demo-pass", "demo-fail"):
            target = root / f"{name}-{n}"
            shutil.copytree(FIXTURES / "sessions" / name, target)
            sessions.append(target)
    return sessions


def _replay_results(session: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "ventbench", "replay", str(session), "--out",
                           str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1, 2), proc.stderr  # a verdict, not an error
    return json.loads((out / "results.json").read_text())


def _killer(client, killed: list[int], stop: threading.Event) -> None:
    """Kill (SIGKILL) the process of the first worker seen busy with a task."""
    pids = client.run(os.getpid)
    while not stop.is_set():
        busy = [addr for addr, keys in client.processing().items() if keys]
        if busy and busy[0] in pids:
            time.sleep(0.5)  # well inside the task (a demo session takes seconds)
            os.kill(pids[busy[0]], signal.SIGKILL)
            killed.append(pids[busy[0]])
            return
        time.sleep(0.05)


def _with_a_killed_worker(work):
    """``work(client)`` on a real 2-worker LocalCluster while :func:`_killer` kills a busy
    worker; (its result, the pids killed)."""
    from distributed import Client, LocalCluster

    killed: list[int] = []
    stop = threading.Event()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        killer = threading.Thread(target=_killer, args=(client, killed, stop), daemon=True)
        killer.start()
        try:
            return work(client), killed
        finally:
            stop.set()
            killer.join(5)


def test_archive_on_a_local_cluster_survives_a_killed_worker_and_matches_replay(tmp_path):
    sessions = _archive(tmp_path / "archive", copies=2)
    broken = tmp_path / "archive" / "broken"
    broken.mkdir()
    (broken / "start.json").write_text("{ not json")
    recorded = {s: sha256_file(s / "results.json") for s in sessions}
    history = tmp_path / "h.sqlite"
    lines: list[str] = []
    report, killed = _with_a_killed_worker(lambda client: reanalyze_archive(
        sessions + [broken], client=client, history_url=str(history), say=lines.append))
    assert killed, "no worker was killed: the test did not test a dying worker"
    assert sorted(e["session"] for e in report.done) == sorted(str(s) for s in sessions)
    assert [e["session"] for e in report.failed] == [str(broken)]
    assert "start.json" in report.failed[0]["error"]
    assert any("NOT RE-ANALYSED" in line and "broken" in line for line in lines)
    assert all(not e["differences"] for e in report.done)
    version = analysis_version()
    for session in sessions:  # the recorded results untouched, the re-analysis beside them
        assert sha256_file(session / "results.json") == recorded[session]
        assert (session / REANALYSIS_DIR / version / "results.json").exists()
    for session in (sessions[0], sessions[1]):  # identical to `replay --out`, byte for byte
        ours = json.loads((session / REANALYSIS_DIR / version / "results.json").read_text())
        assert ours == _replay_results(session, tmp_path / f"replay-{session.name}")
    with sqlite3.connect(history) as con:
        rows = con.execute("SELECT session_id, analysis_version, verdict, recorded_verdict, "
                           "differences FROM reanalyses ORDER BY verdict").fetchall()
        n_checks = con.execute("SELECT COUNT(*) FROM reanalysis_checks").fetchone()[0]
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        (version, "FAIL", "FAIL", 0), (version, "PASS", "PASS", 0)]
    assert n_checks > 0


def test_cli_reports_an_unreadable_session_and_writes_the_shared_history(tmp_path, postgres,
                                                                          pg_history):
    (session,) = _archive(tmp_path, copies=1)[:1]
    missing = tmp_path / "no-such-session"
    proc = subprocess.run(
        [sys.executable, "-m", "ventbench", "reanalyze", str(session), str(missing),
         "--workers", "2", "--history", pg_history],
        env=postgres.env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "1 of 2 session(s) re-analysed" in proc.stdout
    assert f"{missing}: " in proc.stdout and "NOT RE-ANALYSED" in proc.stdout
    assert "dashboard:" in proc.stdout and "peak memory per worker" in proc.stdout
    assert postgres.password not in proc.stdout + proc.stderr
    name = pg_history.rsplit("/", 1)[1]
    out = subprocess.run(
        [str(postgres.bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(postgres.port), "-U",
         "vbtest", "-d", name, "-At", "-c",
         "SELECT analysis_version, verdict FROM reanalyses"],
        env={**os.environ, "PGPASSWORD": postgres.password}, capture_output=True, text=True,
        check=True).stdout.split()
    assert out == [f"{analysis_version()}|PASS"]


@pytest.fixture(scope="module")
def long_session(tmp_path_factory) -> Path:
    """A reliability run of ~14 compressed capture parts (20 min at 200 Hz, line garbage)."""
    import dataclasses

    from ventbench.bench.live import Live
    from ventbench.bench.reliability.config import load_reliability
    from ventbench.bench.reliability.runner import ReliabilityRun

    config = dataclasses.replace(load_reliability(duration="20m"), capture_rotate_mib=0.1)
    run = ReliabilityRun(config, "sim://rig?speed=max&seed=5&rate_hz=200&garbage=0.02", "rig",
                         sessions_root=tmp_path_factory.mktemp("long"), live=Live(tty=False),
                         render=False)
    run.run()
    return run.session.root


def test_a_long_session_is_split_in_time_over_the_cluster_and_matches_replay(long_session, tmp_path):
    from ventbench.bench.reanalyze import capture_bytes

    session = Path(shutil.copytree(long_session, tmp_path / "archive" / long_session.name))
    assert capture_bytes(session) > 0
    lines: list[str] = []
    report, killed = _with_a_killed_worker(lambda client: reanalyze_archive(
        [session], client=client, write_history=False, split_bytes=0, span_bytes=20_000,
        say=lines.append))
    assert not report.failed, report.failed
    (entry,) = report.done
    assert entry["split"] and not entry["differences"], entry
    assert any("split in time over the cluster" in line for line in lines)
    ours = json.loads((session / REANALYSIS_DIR / analysis_version() / "results.json").read_text())
    assert ours == _replay_results(session, tmp_path / "replay")  # one by one, one pass
    assert not list((session / REANALYSIS_DIR).glob(".spans-*"))  # the decompressed parts removed
    assert killed, "no worker was killed: the retry of a span was not tested"


def test_cli_splits_a_session_over_the_threshold_only(long_session, tmp_path):
    session = Path(shutil.copytree(long_session, tmp_path / long_session.name))
    for split_over, split in (("0", True), ("512", False)):
        proc = subprocess.run([sys.executable, "-m", "ventbench", "reanalyze", str(session), "--workers", "2",
                               "--split-over", split_over, "--no-history"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert ("split in time over the cluster" in proc.stdout) is split, proc.stdout
