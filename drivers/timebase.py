"""One device time base that keeps increasing across device resets and reconnects.

A trace's time must increase strictly, but a device clock restarts when the device resets
(VBR/1 EVENT 7, a PIRDS ``R`` event) and another device may answer after a reconnect.
:class:`ContinuousTime` is the **one** place that decides what happens then; it is used by
``ventbench record`` (live blocks from :class:`~drivers.transport.Acquisition`) and by the
``.vbcap`` importer (:func:`drivers.importers.vbcap.read_vbcap`), so a recording and the
re-import of its capture can never disagree:

- a sample whose (already shifted) time does not increase starts a new segment: it and all
  later samples are shifted to follow the previous sample by one sample interval — the
  median of the last :data:`HISTORY` intervals, or :data:`DEFAULT_STEP_S` before two
  samples were seen — and the sample is flagged ``GAP | RESET``, so no breath is measured
  across the break;
- each shift is listed in :attr:`ContinuousTime.shifts` as ``{"at_row", "shift_s"}``
  (``at_row``: index of the shifted sample in the whole trace; ``shift_s``: the time added).

The result does not depend on how the samples were split into blocks: the interval
history runs across blocks.
"""

from __future__ import annotations

import numpy as np

from ventbench.analysis.trace import SampleFlag
from ventbench.drivers.base import SampleBlock

#: Number of recent sample intervals whose median is the step across a break.
HISTORY = 64
#: Step across a break before two samples were seen, s.
DEFAULT_STEP_S = 1e-3
_BREAK_FLAGS = np.uint8(SampleFlag.GAP | SampleFlag.RESET)


class ContinuousTime:
    """Shift device times so they keep increasing; flag the breaks (see module docstring).

    Attributes
    ----------
    offset_s : float
        The shift currently added to device times, s.
    rows : int
        Samples seen so far.
    shifts : list of dict
        ``{"at_row": int, "shift_s": float}`` for every break, in order.
    """

    def __init__(self) -> None:
        self.offset_s = 0.0
        self.rows = 0
        self.shifts: list[dict[str, float]] = []
        self._recent = np.empty(0, dtype=np.float64)  # last HISTORY + 1 output times

    @property
    def resets(self) -> int:
        """Number of breaks seen (shifts made)."""
        return len(self.shifts)

    def __call__(self, t_s: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shifted times and flags of the next samples, in order.

        Parameters
        ----------
        t_s : ndarray
            Device times of the next samples, s.
        flags : ndarray of uint8
            Their :class:`~analysis.trace.SampleFlag` masks.

        Returns
        -------
        t_s, flags : ndarray
            New arrays (the inputs are not modified): times strictly increasing after
            every time returned before, flags with ``GAP | RESET`` at each break.
        """
        device = np.asarray(t_s, dtype=np.float64)
        t = device + self.offset_s
        out_flags = np.array(flags, dtype=np.uint8)
        if t.size == 0:
            return t, out_flags
        last = self._recent[-1] if self._recent.size else -np.inf
        prev = np.concatenate(([last], t[:-1]))
        for i in np.flatnonzero(~(t > prev)).tolist():  # few: resets and reconnects only
            before = self._recent if i == 0 else np.concatenate((self._recent, t[:i]))
            step = (float(np.median(np.diff(before[-(HISTORY + 1):])))
                    if before.size >= 2 else DEFAULT_STEP_S)
            # the new offset from the device time itself, so any chunking gives equal bits
            offset = float(before[-1]) + step - float(device[i])
            t[i:] = device[i:] + offset
            self.shifts.append({"at_row": self.rows + i, "shift_s": offset - self.offset_s})
            self.offset_s = offset
            out_flags[i] |= _BREAK_FLAGS
        self._recent = np.concatenate((self._recent, t[-(HISTORY + 1):]))[-(HISTORY + 1):]
        self.rows += int(t.size)
        return t, out_flags

    def apply(self, block: SampleBlock) -> SampleBlock:
        """``block`` with its times made continuous (a new block; values are shared)."""
        t, flags = self(block.t_s, block.flags)
        return SampleBlock(t, block.flow_lpm, block.paw_cmh2o, flags, dict(block.channels),
                           block.seq)


def flag_first(block: SampleBlock, flag: SampleFlag) -> SampleBlock:
    """``block`` with ``flag`` set on its first sample (a copy of the flags; no-op if empty).

    Used for the first sample after a reconnect (``GAP``: data are missing before it).
    """
    if not len(block):
        return block
    flags = np.array(block.flags, dtype=np.uint8)
    flags[0] |= np.uint8(flag)
    return SampleBlock(block.t_s, block.flow_lpm, block.paw_cmh2o, flags,
                       dict(block.channels), block.seq)
