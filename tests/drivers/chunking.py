"""Feed a byte stream to a driver in given pieces: the harness of every chunking property."""

from __future__ import annotations

from ventbench.drivers.base import Driver, SampleBlock


def feed_chunks(driver: Driver, data: bytes, cuts: list[int]) -> SampleBlock:
    """Feed ``data`` in pieces of the sizes in ``cuts`` (the rest in one last piece)."""
    blocks, i = [], 0
    for size in cuts:
        blocks.append(driver.feed(data[i : i + size]))
        i += size
    blocks.append(driver.feed(data[i:]))
    return SampleBlock.concatenate(blocks)
