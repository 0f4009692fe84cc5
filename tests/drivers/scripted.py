"""A scripted port: the exact byte exchange of an instrument (PyMeasure's expected_protocol).

Use it to test a driver without hardware::

    port = ScriptedPort([(b"%RM#3\\r", b"%RM#3$1273\\r")])
    assert driver.read_measurement(port, 3) == 12.73
    port.assert_done()
"""

from __future__ import annotations


class ScriptedPort:
    """A fake port that checks every write against a script and answers with its replies.

    Parameters
    ----------
    script : list of (bytes or None, bytes or None)
        Pairs ``(expected_write, reply)``. ``expected_write=None`` means the device sends
        ``reply`` unprompted (streaming data) once the previous step is done.
    """

    def __init__(self, script: list[tuple[bytes | None, bytes | None]], timeout: float = 0.1):
        self.script = list(script)
        self.timeout = timeout
        self.written = bytearray()
        self._pending = bytearray()
        self._advance_unprompted()

    def _advance_unprompted(self) -> None:
        while self.script and self.script[0][0] is None:
            self._pending += self.script.pop(0)[1] or b""

    def write(self, data: bytes) -> int:
        self.written += data
        if not self.script:
            raise AssertionError(f"unexpected write {bytes(data)!r}: the script is finished")
        expected, reply = self.script[0]
        if not bytes(self.written).startswith(expected[: len(self.written)]):
            raise AssertionError(f"wrote {bytes(self.written)!r}, script expects {expected!r}")
        if len(self.written) >= len(expected):
            if bytes(self.written) != expected:
                raise AssertionError(f"wrote {bytes(self.written)!r}, script expects {expected!r}")
            self.script.pop(0)
            self.written.clear()
            self._pending += reply or b""
            self._advance_unprompted()
        return len(data)

    def read(self, size: int = 1) -> bytes:
        out = bytes(self._pending[:size])
        del self._pending[:size]
        return out

    @property
    def in_waiting(self) -> int:
        return len(self._pending)

    def reset_input_buffer(self) -> None:
        self._pending.clear()

    def assert_done(self) -> None:
        """Fail unless every scripted write happened and every reply was read."""
        assert not self.script, f"script not finished: next expected write {self.script[0][0]!r}"
        assert not self._pending, f"{len(self._pending)} reply bytes were never read"
