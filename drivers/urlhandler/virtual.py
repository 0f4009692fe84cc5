"""What our in-process ports (``sim://``, ``replay://``) share: a serial line with no wires.

They have no modem lines, no output buffer and nothing that blocks for long, so those parts
of pyserial's :class:`~serial.serialutil.SerialBase` are answered here once.
"""

from __future__ import annotations

from serial.serialutil import PortNotOpenError, SerialBase, SerialException


class VirtualSerial(SerialBase):
    """Base of an in-process port: constant modem lines, writes delivered at once."""

    def _check_openable(self) -> None:
        """pyserial's preconditions of ``open``: not open yet, and a port URL given."""
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")

    def _reconfigure_port(self) -> None:
        """Serial settings mean nothing to an in-process port."""

    def reset_output_buffer(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()

    @property
    def out_waiting(self) -> int:
        return 0

    def cancel_read(self) -> None:
        """Reads poll every millisecond; nothing to cancel."""

    def _update_break_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True
