"""Closed ``.vbcap`` parts compressed losslessly with zstd: ``capture.vbcap`` → ``capture.vbcap.zst``.

A ``.vbcap.zst`` file is one standard zstd frame (readable by the ``zstd`` command line tool)
with the frame's content size and content checksum (XXH64) set, so a damaged file is detected
on decompression instead of yielding other bytes. Its content is a 10-byte head
(``b"VBZ1"``, u16 stride, u32 rows; little-endian) and the capture's bytes in blocks of
``stride × rows`` bytes, each full block stored transposed (byte ``i`` of every
``stride``-byte row together) and the last, partial block as is. The transposition is exactly
reversible for any bytes; with the stride of a VBR/1 SAMPLE frame (29 bytes) it puts the slowly
changing bytes of successive samples (sequence, time, flow, pressure) side by side, which
zstd then compresses ~3× better than the raw stream (~2–5 instead of ~10 bytes a sample). :func:`compress_part` streams the raw part through the compressor, fsyncs and
renames the result, then decompresses it again and compares the SHA-256 of what comes out
with the SHA-256 of the raw file before the raw file is removed: the raw bytes are never lost.

The reader (:class:`drivers.capture.CaptureReader`) accepts both: a ``.zst`` part is
decompressed to a temporary file (:func:`raw_copy`) and read by the same code, with the
same reports of corrupt records. Sizes per sample: ``benchmarks/capture_size.py``.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from pathlib import Path
from typing import IO

from ventbench.errors import FrameError

#: Suffix of a compressed part (after ``.vbcap``).
ZST_SUFFIX = ".zst"
#: zstd level: 3 (the library default) compresses the rig's stream ~7× at ~200 MB/s.
LEVEL = 3
_BLOCK = 1 << 20
#: Transposition stride: the size of a VBR/1 SAMPLE frame (docs: rig-protocol.md), bytes.
STRIDE = 29
ROWS = 65536
_HEAD = struct.Struct("<4sHI")
_MAGIC = b"VBZ1"


def _transposed(block: bytes, stride: int, rows: int, inverse: bool = False) -> bytes:
    import numpy as np

    if len(block) != stride * rows:  # the last, partial block is stored as is
        return block
    shape = (stride, rows) if inverse else (rows, stride)
    return np.frombuffer(block, dtype=np.uint8).reshape(shape).T.tobytes()


def _read_exactly(reader, size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        part = reader.read(size - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def is_compressed(path: str | os.PathLike) -> bool:
    """True for a ``….zst`` path."""
    return str(path).endswith(ZST_SUFFIX)


def compress_part(path: str | os.PathLike, *, level: int = LEVEL) -> tuple[Path, str]:
    """Compress a closed capture part next to itself and remove the raw file.

    Parameters
    ----------
    path : path-like
        A closed ``.vbcap`` file (nothing may still append to it).
    level : int
        zstd compression level.

    Returns
    -------
    (Path, str)
        The ``.vbcap.zst`` path and the SHA-256 (hex) of the raw bytes it holds.

    Raises
    ------
    OSError
        Reading or writing failed (the raw file is then left in place, no partial ``.zst``).
    FrameError
        The compressed file does not give back the raw bytes (the raw file is kept).
    """
    import zstandard

    raw = Path(path)
    out = raw.with_name(raw.name + ZST_SUFFIX)
    tmp = raw.with_name(f".{out.name}.tmp")
    digest = hashlib.sha256()
    size = raw.stat().st_size
    compressor = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
    block_bytes = STRIDE * ROWS
    try:
        with open(raw, "rb") as src, open(tmp, "wb") as dst:
            with compressor.stream_writer(dst, size=_HEAD.size + size, closefd=False) as writer:
                writer.write(_HEAD.pack(_MAGIC, STRIDE, ROWS))
                for block in iter(lambda: _read_exactly(src, block_bytes), b""):
                    digest.update(block)
                    writer.write(_transposed(block, STRIDE, ROWS))
            dst.flush()
            os.fsync(dst.fileno())
        if _sha256_of_frame(tmp) != digest.hexdigest():
            raise FrameError(f"{out}: decompressed bytes differ from {raw}; raw file kept")
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    raw.unlink()
    return out, digest.hexdigest()


def _decompressed_blocks(path: Path):
    import zstandard

    try:
        with open(path, "rb") as src, zstandard.ZstdDecompressor().stream_reader(src) as reader:
            head = _read_exactly(reader, _HEAD.size)
            if len(head) < _HEAD.size or head[:4] != _MAGIC:
                raise FrameError(f"{path}: not a compressed capture (no {_MAGIC!r} head)")
            _, stride, rows = _HEAD.unpack(head)
            if not (stride and rows):
                raise FrameError(f"{path}: compressed capture head names stride {stride}, rows {rows}")
            for block in iter(lambda: _read_exactly(reader, stride * rows), b""):
                yield _transposed(block, stride, rows, inverse=True)
    except zstandard.ZstdError as error:
        raise FrameError(f"{path}: damaged zstd capture ({error})") from None


def _sha256_of_frame(path: Path) -> str:
    digest = hashlib.sha256()
    for block in _decompressed_blocks(path):
        digest.update(block)
    return digest.hexdigest()


def raw_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of the raw capture bytes a ``.zst`` part holds (of the file itself
    for an uncompressed part): the hash the capture had when it was recorded."""
    path = Path(path)
    if is_compressed(path):
        return _sha256_of_frame(path)
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        for block in iter(lambda: src.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def raw_copy(path: str | os.PathLike) -> IO[bytes]:
    """The raw bytes of a ``.zst`` part in an anonymous temporary file (deleted when closed).

    The copy is on disk, not in memory, so a 256 MiB part costs no resident memory beyond
    the page cache the reader maps and releases.

    Raises
    ------
    FrameError
        The file is not a valid zstd frame or its checksum does not match.
    """
    path = Path(path)
    copy = tempfile.TemporaryFile(prefix="vbcap-")
    try:
        for block in _decompressed_blocks(path):
            copy.write(block)
        copy.flush()
        copy.seek(0)
    except BaseException:
        copy.close()
        raise
    return copy


def decompress_to(path: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Write the raw bytes of a ``.zst`` part to the file ``dest`` (streamed); returns it.

    Raises
    ------
    FrameError
        The file is not a valid zstd frame or its checksum does not match.
    """
    dest = Path(dest)
    with open(dest, "wb") as out:
        for block in _decompressed_blocks(Path(path)):
            out.write(block)
    return dest
