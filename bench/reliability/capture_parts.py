"""Capture files of a days-long run: one ``.vbcap`` per segment part, rotated by size.

A reliability run writes ``SESSION/points/reliability/capture-SS-PPPP.vbcap``: ``SS`` the
segment (0, then one more per ``--resume``), ``PPPP`` the part within the segment. When a
part reaches ``capture_rotate_mib`` the next one is opened *from the reader thread, between
two reads* (:func:`rotate`), so no byte is written twice or lost; a frame may straddle two
parts, which is why a replay feeds all the parts of a segment, in order, to one driver. At
1 kHz the rig sends ~17 B/sample, ~1.5 GB a day: a 256 MiB part is about 4 h.

A closed part is compressed (``capture-SS-PPPP.vbcap.zst``, :mod:`drivers.capture_zstd`) in
a background thread at rotation, and the parts still raw when the run ends by
:func:`finish_compression`, before results.json and the manifest hash them.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from ventbench.drivers.capture import CaptureWriter
from ventbench.drivers.capture_zstd import compress_part
from ventbench.errors import BenchError

PART_RE = re.compile(r"capture-(\d+)-(\d+)\.vbcap(?:\.zst)?$")


def part_path(directory: Path, segment: int, part: int) -> Path:
    """``directory/capture-SS-PPPP.vbcap``."""
    return Path(directory) / f"capture-{segment:02d}-{part:04d}.vbcap"


def segment_parts(directory: Path) -> dict[int, list[Path]]:
    """Capture parts by segment, each list in part order."""
    out: dict[int, dict[int, Path]] = {}
    for path in sorted(Path(directory).glob("capture-*.vbcap*"), key=lambda p: p.name, reverse=True):
        m = PART_RE.search(path.name)
        if m:  # raw and .zst both present (compression just finished): the raw one wins
            out.setdefault(int(m.group(1)), {})[int(m.group(2))] = path
    return {seg: [parts[k] for k in sorted(parts)] for seg, parts in sorted(out.items())}


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
    _compress_later(old.path)
    return new


#: Compressions of closed parts still running (one thread per rotation, ~1 s per 256 MiB).
_pending: list[threading.Thread] = []


def _compress_quietly(path: Path) -> None:
    try:
        compress_part(path)
    except (OSError, BenchError):  # the raw part stays; finish_compression retries it
        pass


def _compress_later(path: Path) -> None:
    thread = threading.Thread(target=_compress_quietly, args=(path,), name=f"zstd {path.name}")
    thread.start()
    _pending.append(thread)


def finish_compression(directory: Path) -> list[str]:
    """Wait for the background compressions, then compress every raw part left (all are
    closed when the run ends); returns one line per part that could not be compressed
    (it stays raw, still readable)."""
    while _pending:
        _pending.pop().join()
    problems = []
    for parts in segment_parts(directory).values():
        for path in parts:
            if path.suffix == ".vbcap":
                try:
                    compress_part(path)
                except (OSError, BenchError) as error:
                    problems.append(f"{path.name}: not compressed: {error}")
    return problems
