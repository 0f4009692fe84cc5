"""Capture files of a days-long run: one ``.vbcap`` per segment part, rotated by size.

A reliability run writes ``SESSION/points/reliability/capture-SS-PPPP.vbcap``: ``SS`` the
segment (0, then one more per ``--resume``), ``PPPP`` the part within the segment. When a
part reaches ``capture_rotate_mib`` the next one is opened *from the reader thread, between
two reads* (:func:`rotate`), so no byte is written twice or lost; a frame may straddle two
parts, which is why a replay feeds all the parts of a segment, in order, to one driver. At
1 kHz the rig sends ~17 B/sample, ~1.5 GB a day: a 256 MiB part is about 4 h.
"""

from __future__ import annotations

import re
from pathlib import Path

from ventbench.drivers.capture import CaptureWriter

PART_RE = re.compile(r"capture-(\d+)-(\d+)\.vbcap$")


def part_path(directory: Path, segment: int, part: int) -> Path:
    """``directory/capture-SS-PPPP.vbcap``."""
    return Path(directory) / f"capture-{segment:02d}-{part:04d}.vbcap"


def segment_parts(directory: Path) -> dict[int, list[Path]]:
    """Capture parts by segment, each list in part order."""
    out: dict[int, list[tuple[int, Path]]] = {}
    for path in Path(directory).glob("capture-*.vbcap"):
        m = PART_RE.search(path.name)
        if m:
            out.setdefault(int(m.group(1)), []).append((int(m.group(2)), path))
    return {seg: [p for _, p in sorted(parts)] for seg, parts in sorted(out.items())}


def rotate(acquisition, directory: Path, segment: int, part: int) -> CaptureWriter:
    """Switch ``acquisition`` (and its captured port) to part ``part``; close the old one.

    Must be called from the acquisition's reader thread (its ``on_block`` callback), where
    no read or write is in progress.
    """
    old = acquisition.capture
    header = {k: v for k, v in old.header.items()
              if k not in ("start_utc", "start_monotonic_ns", "host", "format")}
    header["metadata"] = {**dict(header.get("metadata") or {}), "segment": segment, "part": part,
                          "continues": old.path.name}
    new = CaptureWriter(part_path(directory, segment, part), header)
    acquisition.capture = new
    if acquisition.port is not None:
        acquisition.port.capture = new
    old.event("rotate", next=new.path.name)
    old.close()
    return new
