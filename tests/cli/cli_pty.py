"""Drive a program in a pseudo-terminal: send keys, wait for text on the screen.

A real pty (not a pipe) so that the program sees a terminal (rich renders live, readline is on)
and Ctrl-C typed as "\\x03" goes through the terminal's line discipline and becomes SIGINT for the
foreground process group, exactly as when a user presses it.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time

_CPR_REQUEST = b"\x1b[6n"  # a program asking the terminal for the cursor position
_PASTE_ON, _PASTE_OFF = "\x1b[?2004h", "\x1b[?2004l"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]|\x1b[=>78]|[\x00-\x08\x0e-\x1f]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text).replace("\r", "")


class PtyProcess:
    """A child process attached to a fresh pty of `rows` x `cols`."""

    def __init__(
        self, argv: list[str], env: dict[str, str], cwd: str | None = None, rows: int = 40, cols: int = 120
    ) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # child
            try:
                if cwd:
                    os.chdir(cwd)
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid = pid
        self.fd = fd
        self.rows = rows
        self.bracketed_paste = False
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.raw = ""
        # Incremental: a multi-byte character may be split across two reads.
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.exit_status: int | None = None

    # -- reading -----------------------------------------------------------------------------
    def _pump(self, timeout: float) -> bool:
        """Read what is available within `timeout`; False at EOF."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not data:
            return False
        if _CPR_REQUEST in data:
            # Answer "where is the cursor?" as a terminal does (prompt_toolkit asks, and warns when
            # no answer comes). The harness keeps no screen: it says the bottom line.
            os.write(self.fd, f"\x1b[{self.rows};1R".encode() * data.count(_CPR_REQUEST))
        self.raw += self._decoder.decode(data)
        # Bracketed paste mode, as the program last set it (a terminal wraps pastes only then).
        on, off = self.raw.rfind(_PASTE_ON), self.raw.rfind(_PASTE_OFF)
        self.bracketed_paste = on > off
        return True

    @property
    def text(self) -> str:
        """Everything printed so far, without escape sequences."""
        return strip_ansi(self.raw)

    def expect(self, pattern: str, timeout: float = 20.0, *, start: int = 0) -> re.Match[str]:
        """Wait until `pattern` (a regex) appears in the output after character `start`."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.text[start:])
            if found:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {pattern!r}; screen so far:\n{self.text[-3000:]}")
            if not self._pump(min(remaining, 0.2)):
                found = re.search(pattern, self.text[start:])
                if found:
                    return found
                raise AssertionError(f"process ended before {pattern!r}; output:\n{self.text[-3000:]}")

    def mark(self) -> int:
        """Current output position, to expect only what comes after it."""
        self._pump(0.05)
        return len(self.text)

    # -- writing -----------------------------------------------------------------------------
    def send(self, data: str) -> None:
        os.write(self.fd, data.encode())

    def paste(self, text: str) -> None:
        """Paste `text` as a terminal does: between the markers only if the program asked for them."""
        self._pump(0.05)
        self.send(f"\x1b[200~{text}\x1b[201~" if self.bracketed_paste else text)

    def sendline(self, line: str) -> None:
        self.send(line + "\r")

    def ctrl_c(self) -> None:
        self.send("\x03")

    # -- ending ------------------------------------------------------------------------------
    def wait(self, timeout: float = 20.0) -> int:
        """Wait for the child to exit (reading its output meanwhile); return its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exit_status = os.waitstatus_to_exitcode(status)
                while self._pump(0.05):
                    if not select.select([self.fd], [], [], 0)[0]:
                        break
                return self.exit_status
            self._pump(0.1)
        raise AssertionError(f"process did not exit; output:\n{self.text[-3000:]}")

    def close(self) -> None:
        if self.exit_status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        try:
            os.close(self.fd)
        except OSError:
            pass
