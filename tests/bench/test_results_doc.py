"""docs/results.md names every key ventbench writes in a results document.

Real documents are made through the command line — a VC demo point with its alarm tests,
inspection, instruments and environment; two CPAP steady points; a short reliability run; an
``analyze`` of a trace with patient-triggered breaths — and every key found at the levels the
page documents must appear on it as ```key```. A key added to the results without a word
in the reference fails here, naming where it was found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ventbench.bench.cli import main
from ventbench.drivers.importers.trace_csv_write import write_trace_csv
from ventbench.drivers.sim.effort import PatientEffort, simulate_efforts
from ventbench.drivers.sim.lung import Lung
from ventbench.drivers.sim.ventilator import VentilatorSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "results.md"
#: Top-level objects whose own keys the page lists.
TOP_OBJECTS = ("software", "source", "gas", "environment", "instruments", "inspection",
               "device_identity", "reliability")
#: Objects of a point whose own keys the page lists.
POINT_OBJECTS = ("rule", "gas", "segmentation")


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> list[dict]:
    root = tmp_path_factory.mktemp("results-doc")
    common = ["--no-report", "--no-history"]
    main(["demo", "--point", "vc-01", "--no-sign", *common, "--out", str(root / "vc")])
    main(["demo", "--cpap", "--point", "o2-min", "--point", "flow-vs-pressure-peep05", "--no-sign",
          *common, "--out", str(root / "cpap")])
    main(["run", "reliability", "--port", "sim://rig?speed=max&rate_hz=200", "--driver", "rig",
          "--duration", "3m", *common, "--out", str(root / "reliability")])
    effort = simulate_efforts(VentilatorSettings(rate_bpm=12.0), Lung(), PatientEffort(), duration_s=120.0,
                              fs_hz=100.0, seed=3)
    write_trace_csv(root / "effort.csv", effort.trace)
    main(["analyze", str(root / "effort.csv"), "--json", str(root / "analyze" / "results.json")])
    found = sorted(root.rglob("results.json"))
    assert len(found) == 4, found
    return [json.loads(path.read_text(encoding="utf-8")) for path in found]


def _objects(document: dict) -> Iterator[tuple[str, dict]]:
    """(where, object) for every object whose keys the page documents."""
    yield "top level", document
    for name in TOP_OBJECTS:
        if isinstance(document.get(name), dict):
            yield name, document[name]
    for entry in (document.get("source") or {}).get("files") or []:
        yield "source.files[]", entry
    for alarm in document.get("alarms") or []:
        yield "alarms[]", alarm
    for point in document.get("points") or []:
        yield "points[]", point
        for name in POINT_OBJECTS:
            if isinstance(point.get(name), dict):
                yield f"points[].{name}", point[name]
        for field, stats in (point.get("summary") or {}).items():
            yield "points[].summary", {field: None}
            yield "points[].summary.*", stats
        for breath in point.get("breaths") or []:
            yield "points[].breaths[]", breath
        for check in point.get("checks") or []:
            yield "points[].checks[]", check
            if isinstance(check.get("limit"), dict):
                yield "points[].checks[].limit", check["limit"]
            budget = check.get("uncertainty")
            if isinstance(budget, dict):
                yield "points[].checks[].uncertainty", budget
                for component in budget.get("components") or []:
                    yield "points[].checks[].uncertainty.components[]", component


def test_the_documents_have_what_the_page_is_about(documents):
    kinds = {where for document in documents for where, _ in _objects(document)}
    assert {"alarms[]", "inspection", "reliability", "points[].breaths[]", "points[].segmentation",
            "points[].checks[].uncertainty.components[]"} <= kinds
    assert any("t_effort_s" in b for d in documents for p in d["points"] for b in p.get("breaths") or [])
    assert any(p.get("windows") for d in documents for p in d["points"])  # a steady point


def test_every_key_written_is_documented(documents):
    documented = set(re.findall(r"`([^`\n]+)`", DOC.read_text(encoding="utf-8")))
    missing = sorted({f"{where}: {key}" for document in documents for where, obj in _objects(document)
                      for key in obj if key not in documented})
    assert not missing, "keys written but not in docs/results.md:\n" + "\n".join(missing)


def test_source_entry_with_the_hash_from_its_thread_is_the_same(tmp_path):
    """The file's hash taken on the second core gives the entry hashed in line."""
    import hashlib

    from ventbench.bench.results_doc import digest_in_background, source_file_entry

    path = tmp_path / "trace.txt"
    path.write_bytes(b"0.87, 7.04\n" * 300_000 + b"no final newline")
    entry = source_file_entry(path, "ventmap", digest=digest_in_background(path))
    assert entry == source_file_entry(path, "ventmap")
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entry["lines"] == 300_000 and entry["bytes"] == path.stat().st_size


def test_a_file_the_hash_cannot_read_raises_where_its_result_is_asked_for(tmp_path):
    from ventbench.bench.results_doc import digest_in_background

    result = digest_in_background(tmp_path / "gone.csv")
    with pytest.raises(OSError, match="gone.csv"):
        result()
