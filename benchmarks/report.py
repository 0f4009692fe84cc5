"""Render time of the PDF report for a full 21-point session (issue 16: ≤ 6 s).

Builds an ISO 80601-2-12 volume-control session of all 21 rows (simulated traces at 200 Hz,
settle 10 + measure 30 breaths, analysed by the runner's analysis code), or takes an existing
session with ``--session``;
then renders the report ``--repeat`` times and prints wall and CPU time of each render, the
page count and whether the renders are byte-identical.

Usage: ``python benchmarks/report.py [--session DIR] [--repeat 3] [--lang en]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

from pypdf import PdfReader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_S = 6.0  #: issue 16 item 4, the 21-point report


def record_session(root: Path) -> Path:
    """A 21-point VC session (ISO 80601-2-12 rows 1–21, settle 10, measure 30, 200 Hz),
    simulated and analysed with the runner's analysis (tests/bench/report_fixtures.py)."""
    from tests.bench.report_fixtures import build_session

    ids = tuple(f"vc-{n:02d}" for n in range(1, 22))
    return build_session(root, ids=ids, settle=10, measure=30, fs_hz=200.0, defect=("vc-06", "vc-07"),
                         label="bench21")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--session", type=Path, help="an existing session directory")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lang", default="en")
    args = parser.parse_args()
    from ventbench.bench.report import render

    with tempfile.TemporaryDirectory(prefix="ventbench-bench-report-") as tmp:
        session = args.session or record_session(Path(tmp))
        import json

        n_points = len(json.loads((session / "results.json").read_text())["points"])
        print(f"session {session} ({n_points} points); {os.cpu_count()} CPUs; "
              f"load average {os.getloadavg()[0]:.2f}")
        digests, walls = set(), []
        for k in range(args.repeat):
            out = Path(tmp) / f"report-{k}.pdf"
            wall0, cpu0 = time.perf_counter(), time.process_time()
            render(session, lang=args.lang, out=out)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            digests.add(hashlib.sha256(out.read_bytes()).hexdigest())
            walls.append(wall)
            pages = len(PdfReader(out).pages)
            print(f"render {k + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, {out.stat().st_size / 1e6:.2f} MB, "
                  f"{pages} pages")
        print("byte-identical renders:", len(digests) == 1)
        print(f"best {min(walls):.2f} s wall: {'meets' if min(walls) <= TARGET_S else 'MISSES'} "
              f"the ≤ {TARGET_S:g} s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
