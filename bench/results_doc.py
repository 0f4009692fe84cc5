"""The top level of a ``ventbench.results/1`` document: software, source files, gas, verdict.

The points (with their breaths, summary and checks) and the document itself come from
:mod:`analysis.results`; this module adds what analysis may not know because it does no I/O: which software produced the
numbers, which files (by SHA-256) they came from, and under which gas conditions, so that
every number can be traced to a file, a hash and a line of configuration.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ventbench.analysis.gas import Ambient, GasCondition
from ventbench.analysis.results import SCHEMA, results_document
from ventbench.analysis.trace import Trace
from ventbench.bench.records import sha256_and_lines
from ventbench.bench.session import git_sha, write_json_atomic

__all__ = ["SCHEMA", "build_results", "digest_in_background", "gas_block", "software_block",
           "source_file_entry", "write_results"]


def software_block() -> dict[str, Any]:
    """``{name, version, git_sha}``; ``git_sha`` is None outside a git checkout (never fails)."""
    from ventbench import __version__

    try:
        sha = git_sha()
    except Exception:  # noqa: BLE001 - provenance must never stop an analysis
        sha = None
    return {"name": "ventbench", "version": __version__, "git_sha": sha}


def source_file_entry(
    path: str | os.PathLike, format: str, trace: Trace | None = None,
    digest: Callable[[], tuple[str, int]] | None = None,
) -> dict[str, Any]:
    """One entry of ``source.files``: path, SHA-256 of the bytes, format, lines and samples.

    Parameters
    ----------
    path : str or path-like
        The file as named on the command line (kept as given, POSIX separators).
    format : str
        The importer's format name ("csv", "labchart" …).
    trace : Trace, optional
        The trace read from it; adds ``samples`` and, when the importer counted them,
        ``skipped_lines``.
    digest : callable, optional
        Returns (SHA-256, lines) of the file, e.g. from :func:`digest_in_background`;
        computed here when omitted.
    """
    path = Path(path)
    digest_hex, lines = digest() if digest is not None else sha256_and_lines(path)
    entry: dict[str, Any] = {
        "path": path.as_posix(),
        "sha256": digest_hex,
        "format": format,
        "bytes": path.stat().st_size,
        "lines": lines,
    }
    if trace is not None:
        entry["samples"] = len(trace)
        if "skipped_lines" in trace.meta:
            entry["skipped_lines"] = int(trace.meta["skipped_lines"])
    return entry


def digest_in_background(path: str | os.PathLike) -> Callable[[], tuple[str, int]]:
    """Start :func:`~ventbench.bench.records.sha256_and_lines` of ``path`` in a thread.

    hashlib releases the GIL while it hashes, so the file's hash takes the second core while
    the first parses and analyses it (~10 ms less per ``analyze`` of a 7.5 MB file). The
    returned function waits for the thread and returns (SHA-256 hex, lines), or raises what
    the thread raised (a file that vanished or cannot be read: ``OSError``).
    """
    outcome: list[tuple[str, int] | BaseException] = []

    def work() -> None:
        try:
            outcome.append(sha256_and_lines(Path(path)))
        except BaseException as error:  # noqa: BLE001 - handed to the caller by result()
            outcome.append(error)

    thread = threading.Thread(target=work, name=f"sha256 {Path(path).name}", daemon=True)
    thread.start()

    def result() -> tuple[str, int]:
        thread.join()
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    return result


def gas_block(
    flow_condition: GasCondition,
    ambient: Ambient,
    analysis_condition: GasCondition | str,
    btps_factor: float,
    *,
    flow_condition_source: str = "file",
) -> dict[str, Any]:
    """The ``gas`` object: the condition the flow was recorded at, the one it was analysed
    at, the ambient values used (and where they came from) and the factor applied.

    Parameters
    ----------
    flow_condition, ambient : GasCondition, Ambient
        The recording's (with any user overrides already applied).
    analysis_condition : GasCondition or str
        Condition the analysis states volumes at (BTPS unless asked otherwise).
    btps_factor : float
        The factor that turned recorded flow into analysis-condition flow. The key keeps
        its contract name even when the analysis condition is not BTPS.
    flow_condition_source : str
        "file" when the condition came from the recording, "user" when from the command
        line, "default" when assumed.
    """
    condition = (
        analysis_condition
        if isinstance(analysis_condition, GasCondition)
        else GasCondition.parse(analysis_condition)
    )
    return {
        "flow_condition": flow_condition.value,
        "flow_condition_source": flow_condition_source,
        "analysis_condition": condition.value,
        "t_amb_degc": ambient.t_amb_degc,
        "p_amb_hpa": ambient.p_amb_hpa,
        "rh_pct": ambient.rh_pct,
        "ambient_source": ambient.source,
        "btps_factor": btps_factor,
    }


def build_results(
    points: Sequence[Mapping[str, Any]],
    *,
    source_files: Sequence[Mapping[str, Any]],
    gas: Mapping[str, Any],
    software: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble a whole ``ventbench.results/1`` document.

    Parameters
    ----------
    points : sequence of dict
        Point objects of the contract, from :func:`analysis.results.point_to_json`.
    source_files : sequence of dict
        Entries from :func:`source_file_entry`.
    gas : dict
        From :func:`gas_block`.
    software : dict, optional
        From :func:`software_block` (computed when omitted).

    Returns
    -------
    dict
        schema, software, source ``{files: [...]}``, gas, points, verdict — the overall
        verdict by :func:`analysis.results.overall_verdict`.
    """
    return results_document(
        points,
        software=software if software is not None else software_block(),
        source={"files": [dict(f) for f in source_files]},
        gas=gas,
    )


def write_results(path: str | os.PathLike, document: Mapping[str, Any]) -> Path:
    """Write the document as JSON (atomic replace, NaN as null); returns the path."""
    return write_json_atomic(Path(path), dict(document))
