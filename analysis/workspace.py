"""Work arrays reused across the calls of a stream.

A fresh large temporary (hundreds of kB: one chunk of samples) is handed out by the
allocator as new pages, and touching them for the first time costs more than the
arithmetic done on them. Streams therefore keep their per-chunk scratch arrays.
"""

from __future__ import annotations

import numpy as np


class WorkArray:
    """A float64 scratch array, grown by half when too small, reused otherwise."""

    def __init__(self) -> None:
        self._data = np.empty(0)

    def take(self, n: int) -> np.ndarray:
        """``n`` elements of the array (contents undefined; valid until the next call)."""
        if self._data.shape[0] < n:
            self._data = np.empty(n + n // 2)
        return self._data[:n]
