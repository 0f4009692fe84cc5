"""An in-memory port joining a driver to a SimulatedDevice (no threads, no pty).

Host writes go to ``device.receive``; host reads come from ``device.produce``. Device time
advances by ``step_s`` on every read that finds nothing buffered, so request/answer
exchanges complete at once and streams flow as the host reads.
"""

from __future__ import annotations

from ventbench.drivers.base import SimulatedDevice


class LoopPort:
    """pyserial-like port backed by a simulated device."""

    def __init__(self, device: SimulatedDevice, step_s: float = 0.005, timeout: float = 0.05,
                 name: str = "loop://test") -> None:
        self.device = device
        self.step_s = step_s
        self.timeout = timeout
        self.port = name
        self.t_s = 0.0
        self._buf = bytearray()

    def write(self, data: bytes) -> int:
        self.device.receive(bytes(data))
        self._buf += self.device.produce(self.t_s)
        return len(data)

    def read(self, size: int = 1) -> bytes:
        if not self._buf:
            self.t_s += self.step_s
            self._buf += self.device.produce(self.t_s)
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out

    def run(self, duration_s: float) -> bytes:
        """Advance device time by ``duration_s`` and return everything sent meanwhile."""
        self.t_s += duration_s
        self._buf += self.device.produce(self.t_s)
        out = bytes(self._buf)
        self._buf.clear()
        return out

    @property
    def in_waiting(self) -> int:
        return len(self._buf)

    def reset_input_buffer(self) -> None:
        self._buf.clear()
