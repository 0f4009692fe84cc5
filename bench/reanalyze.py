"""Re-analyse an archive of sessions on a Dask cluster, through the very code of ``replay``.

One task per session, :func:`reanalyze_one`, which calls what ``ventbench replay`` calls —
:func:`bench.reanalysis.reanalyze_session` for a protocol session,
:func:`bench.reliability.replay.replay_into` / ``session_results`` for a reliability
session — so its ``results.json`` is the one ``replay --out`` would write. A long reliability
session (captures over ``split_bytes``) is split in time instead (:func:`reanalyze_split`):
its capture spans are decoded as tasks on every worker, in order through the one analysis
of ``replay --jobs``, with the same results. It goes to
``SESSION/reanalysis/<analysis version>/results.json``; the recorded files are never touched.

:func:`reanalyze_archive` maps the tasks on a cluster (a :class:`distributed.LocalCluster` of
worker processes by default, or a running scheduler), reports each session as it finishes,
and writes the history from this process only (workers need no database access). A worker
that dies has its task rescheduled by the scheduler (up to ``allowed-failures`` times); a
session that cannot be read comes back as an error entry and is reported — never skipped.
"""

from __future__ import annotations

import resource
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ventbench.errors import BenchError

REANALYSIS_DIR = "reanalysis"
#: A reliability session with more capture bytes than this is split in time over the cluster
#: (:func:`reanalyze_split`): ~2.5 days at 1 kHz in compressed captures.
SPLIT_BYTES = 512 * 1024 * 1024

#: Dask configuration of the local cluster (scheduler, nannies and worker processes), each
#: entry measured with ``distributed.get_task_stream`` and the workers' ``getrusage`` on
#: one-hour reliability sessions (one re-analysis costs 1.27 s of CPU in a plain process):
#:
#: - ``MALLOC_TRIM_THRESHOLD_``: Dask's default (65536) makes glibc hand freed memory back
#:   to the kernel after each of the many mid-sized numpy blocks of a replay and map it again
#:   for the next: 1.23 s of CPU per session became 2.47 s (system time 0.16 s → 1.07 s),
#:   which cancelled the second core (0.92× of one-by-one ``replay``). Unset, glibc's own
#:   adaptive threshold applies and a worker's peak memory stays ~180 MB.
#: - the worker's statistical profiler (a thread walking the task's stack every 10 ms) and
#:   the 20 ms event-loop tick, 0.5 s system monitor and 0.1 s memory monitor: each wakes a
#:   thread that takes the GIL from the analysis; off / slowed they cost 1.45 s instead of
#:   1.86 s of worker CPU per session, and on a loaded machine far less wall time (every
#:   GIL hand-over waits for the OS to run the other thread). The dashboard loses its
#:   profile page and samples system load every 5 s.
#:
#: A variable already in the environment still wins over the first (Dask reads
#: ``os.environ`` first). Workers of a lab's running scheduler (``--scheduler``) take their
#: configuration where they are started (``dask worker``): see docs/history.md.
LOCAL_WORKER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def analysis_version() -> str:
    """The version results are marked with: package version and source commit (if known)."""
    from ventbench.bench.session import software_info

    info = software_info()
    sha = info.get("git_sha") or ""
    if not sha:
        return str(info["version"])
    dirty = "-dirty" if sha.endswith("+dirty") else ""
    return f"{info['version']}+g{sha[:12]}{dirty}"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def reanalyze_one(session: str, version: str,
                  replay: Callable[[Path, Path], Any] | None = None) -> dict[str, Any]:
    """Re-analyse one session into ``SESSION/reanalysis/<version>/`` (a Dask task).

    ``replay(session, out)`` re-decodes a reliability session's captures into ``out``:
    :func:`bench.reliability.replay.replay_into` (one pass, in this worker) unless given —
    :func:`reanalyze_split` gives the segment-parallel replay on the cluster.

    Returns
    -------
    dict
        ``session``, ``session_id``, ``kind``, ``verdict``, ``recorded_verdict``,
        ``differences`` (list of str), ``results`` (path), ``peak_rss_mb`` of the worker —
        or ``session`` and ``error`` when the session cannot be read or analysed.
    """
    from ventbench.bench.session import load_session, read_json, write_json_atomic

    root = Path(session)
    try:
        start, _stop = load_session(root)
        out = root / REANALYSIS_DIR / version
        if out.exists():  # an earlier (possibly killed) re-analysis of this version
            shutil.rmtree(out)
        out.mkdir(parents=True)
        recorded_path = root / "results.json"
        recorded = read_json(recorded_path, "results") if recorded_path.exists() else {}
        if start.get("kind") == "reliability":
            from ventbench.bench.reliability.analysis import session_results
            from ventbench.bench.reliability.replay import compare, replay_into

            (replay or replay_into)(root, out)
            differences = compare(root, out)
            results = session_results(root, out)
            verdict = (results.get("reliability") or {}).get("verdict") or results.get("verdict")
            recorded_verdict = (recorded.get("reliability") or {}).get("verdict")
        else:
            from ventbench.bench.reanalysis import reanalyze_session

            outcome = reanalyze_session(root, start)
            results = outcome.recomputed
            differences = [str(d) for d in outcome.differences]
            verdict, recorded_verdict = results["verdict"], recorded.get("verdict")
        write_json_atomic(out / "results.json", results)
    except (BenchError, OSError, ValueError, KeyError) as error:
        return {"session": str(root), "error": f"{type(error).__name__}: {error}"}
    return {"session": str(root), "session_id": start.get("session_id") or root.name,
            "kind": start.get("kind") or "protocol", "verdict": verdict,
            "recorded_verdict": recorded_verdict, "differences": differences,
            "results": str(out / "results.json"), "peak_rss_mb": _peak_rss_mb()}


def capture_bytes(session: Path) -> int:
    """Bytes of a reliability session's captures on disk (0 for any other session)."""
    from ventbench.bench.session import read_json

    try:
        if read_json(Path(session) / "start.json", "start").get("kind") != "reliability":
            return 0
    except (BenchError, OSError):
        return 0  # reported by its task
    return sum(p.stat().st_size for p in (Path(session) / "points" / "reliability").glob("capture-*"))


def reanalyze_split(session: str, version: str, client: Any,
                    span_bytes: int | None = None) -> dict[str, Any]:
    """:func:`reanalyze_one` of a long reliability session split in time: its capture spans
    decoded as tasks on every worker of ``client``'s cluster, analysed in order here — the
    parallel replay of ``replay --jobs`` (:func:`bench.reliability.parallel_replay.replay_parallel`),
    with the same results as one pass. A worker that dies has its span rescheduled; the
    decompressed parts go to ``SESSION/reanalysis/<version>/.spans/`` (the workers of a
    running scheduler must see the archive)."""
    from ventbench.bench.reliability.decode_spans import SPAN_BYTES
    from ventbench.bench.reliability.parallel_replay import replay_parallel

    span_bytes = span_bytes or SPAN_BYTES
    slots = max(1, sum(int(w.get("nthreads", 1)) for w in
                       client.scheduler_info().get("workers", {}).values()))

    def replay(root: Path, out: Path) -> Any:
        return replay_parallel(root, out, slots, span_bytes, pool=client.get_executor(pure=False),
                               workdir=out.parent / f".spans-{out.name}")

    entry = reanalyze_one(session, version, replay)
    entry["split"] = True
    return entry


@dataclass
class ArchiveReport:
    """Outcome of :func:`reanalyze_archive`."""

    version: str
    done: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    history_errors: list[str] = field(default_factory=list)
    worker_peak_rss_mb: dict[str, float] = field(default_factory=dict)
    dashboard: str | None = None


def reanalyze_archive(sessions: list[Path], *, scheduler: str | None = None,
                      workers: int = 2, history_url: str | None = None,
                      write_history: bool = True, client: Any = None,
                      split_bytes: int | None = SPLIT_BYTES, span_bytes: int | None = None,
                      say: Callable[[str], None] = print) -> ArchiveReport:
    """Re-analyse ``sessions`` on a Dask cluster; see the module docstring.

    Parameters
    ----------
    scheduler : str, optional
        ``tcp://HOST:PORT`` of a running scheduler (default: a local cluster).
    workers : int
        Worker processes of the local cluster (one thread each: the analysis holds the GIL).
    client : distributed.Client, optional
        An existing client (tests); ``scheduler`` and ``workers`` are then ignored.
    split_bytes : int or None
        A reliability session whose captures exceed this many bytes is split in time
        (:func:`reanalyze_split`, spans of ``span_bytes``, default the parallel replay's); None:
        never.
    """
    import dask
    from distributed import Client, LocalCluster, as_completed

    version = analysis_version()
    report = ArchiveReport(version)
    cluster = None
    own_client = client is None
    if client is None:
        if scheduler:
            client = Client(scheduler, timeout="10s")
        else:
            with dask.config.set(LOCAL_WORKER_CONFIG):
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=":0" if _has_bokeh() else None)
            client = Client(cluster)
    try:
        report.dashboard = client.dashboard_link if _has_bokeh() else None
        n_workers = len(client.scheduler_info().get("workers", {}))
        say(f"reanalyze: {len(sessions)} session(s), analysis version {version}, "
            f"{n_workers} worker(s) at {client.scheduler.address}; dashboard: "
            + (report.dashboard or "not available (install bokeh>=3.1 for it)"))
        paths = [str(Path(s).resolve()) for s in sessions]
        long = [p for p in paths if split_bytes is not None and capture_bytes(Path(p)) > split_bytes]
        whole = [p for p in paths if p not in long]
        futures = client.map(reanalyze_one, whole, version=version, pure=False)
        index = {f.key: p for f, p in zip(futures, whole, strict=True)}

        def entries():  # the long sessions driven from here while the others run
            for path in long:
                try:
                    yield reanalyze_split(path, version, client, span_bytes)
                except BenchError as error:  # a span the cluster gave up on
                    yield {"session": path, "error": f"{type(error).__name__}: {error}"}
            for future in as_completed(futures):
                try:
                    yield future.result()
                except Exception as error:  # noqa: BLE001 - KilledWorker etc.: reported, not lost
                    yield {"session": index[future.key], "error": f"{type(error).__name__}: {error}"}

        for n, entry in enumerate(entries(), start=1):
            if "error" in entry:
                report.failed.append(entry)
                say(f"[{n}/{len(paths)}] {entry['session']}: NOT RE-ANALYSED: {entry['error']}")
                continue
            report.done.append(entry)
            change = ("identical to the recorded results" if not entry["differences"]
                      else f"{len(entry['differences'])} difference(s) from the recorded results")
            split = ", split in time over the cluster" if entry.get("split") else ""
            say(f"[{n}/{len(paths)}] {entry['session_id']}: {entry['verdict']} "
                f"(recorded {entry['recorded_verdict']}{split}); {change}")
            if write_history:
                _to_history(entry, version, history_url, report)
        try:
            report.worker_peak_rss_mb = {
                str(k): float(v) for k, v in client.run(_peak_rss_mb).items()}
        except Exception:  # noqa: BLE001 - a statistic, not a result
            pass
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()
    return report


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def _to_history(entry: dict[str, Any], version: str, history_url: str | None,
                report: ArchiveReport) -> None:
    """The session (from its records) and its re-analysis, under ``version``."""
    from ventbench.bench.history import session_rows
    from ventbench.bench.history_store import retrying, write_reanalysis
    from ventbench.bench.history_sync import _index_from_disk
    from ventbench.bench.history_url import resolve
    from ventbench.bench.session import iso_utc, load_session, read_json, sha256_file, utc_now

    session = Path(entry["session"])
    try:
        target = resolve(history_url, session.parent)
        _index_from_disk(target, session)
        start, stop = load_session(session)
        results = read_json(Path(entry["results"]), "re-analysis results")
        _, check_rows = session_rows(session, start, stop, results)
        sid = check_rows[0]["session_id"] if check_rows else start.get("session_id")
        for row in check_rows:
            row["analysis_version"] = version
        row = {"session_id": sid, "analysis_version": version, "verdict": entry["verdict"],
               "recorded_verdict": entry["recorded_verdict"],
               "differences": len(entry["differences"]),
               "results_sha256": sha256_file(Path(entry["results"])), "time_utc": iso_utc(utc_now())}
        retrying(target, lambda con: write_reanalysis(con, row, check_rows))
    except BenchError as error:
        report.history_errors.append(f"{session}: {error}")
