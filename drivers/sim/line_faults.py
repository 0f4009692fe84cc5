"""Line faults of the simulated rig: bit flips, lost bytes and random-byte bursts.

Each is drawn from its own seeded generator over absolute stream positions or device time,
so what is injected does not depend on how the device is read, and a test can recompute
exactly what was injected (:func:`garbage_schedule`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class ByteFaults:
    """Stream positions (bits or bytes) hit with probability ``p`` each, drawn in order
    over an endless stream: the same positions however the stream is cut."""

    def __init__(self, p: float, seed: list[int]) -> None:
        self.p = p
        self.rng = np.random.default_rng(seed)
        self.next = int(self.rng.geometric(p)) - 1 if p > 0 else -1

    def take(self, stop: int) -> list[int]:
        """Positions below ``stop`` not yet taken."""
        out: list[int] = []
        if self.p <= 0:
            return out
        while self.next < stop:
            out.append(self.next)
            self.next += int(self.rng.geometric(self.p))
        return out


def garbage_schedule(seed: int, bursts_per_s: float) -> Iterator[tuple[int, bytes]]:
    """The random-byte bursts of ``garbage=``: ``(device time µs, bytes)`` in time order.

    Bursts are a Poisson process of ``bursts_per_s``; each is 1–32 random bytes, 30 % of
    them after a false sync word. Each goes on the line just before the first sample due at
    or after its time. Deterministic for a seed, so a test can know every burst it injected.
    """
    if bursts_per_s <= 0:
        return
    rng = np.random.default_rng([seed, 103])
    t_us = 0
    while True:
        t_us += max(1, int(rng.exponential(1e6 / bursts_per_s)))
        junk = rng.integers(0, 256, int(rng.integers(1, 33)), dtype=np.uint8).tobytes()
        if rng.random() < 0.3:
            junk = b"\xa5\x5a" + junk
        yield t_us, junk
