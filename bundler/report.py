"""What the CLI tells the user while it works: stage lines, progress bars, details.

The pipeline only calls a :class:`Reporter`; how much reaches the terminal is
decided here. Progress bars are drawn only on a terminal and never in CI; colour
only on a terminal and never with ``NO_COLOR`` set.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

QUIET, NORMAL, VERBOSE = 0, 1, 2


def human_size(n: float) -> str:
    """``512 B``, ``3.0 kB``, ``76.4 MB``: decimal units, as the summary prints them."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


class Reporter:
    """Silent base: the pipeline can always call these."""

    def stage(self, stage: str, message: str) -> None:
        """A stage finished (or reached a milestone worth one line)."""

    def detail(self, stage: str, message: str) -> None:
        """Something only ``-v`` shows."""

    def progress(self, stage: str, done: int, total: int, unit: str = "") -> None:
        """*done* of *total* units of a long step (*unit* ``"bytes"``: shown in MB)."""


@dataclass
class TerminalReporter(Reporter):
    level: int = NORMAL
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    bars: bool = False
    color: bool = False
    _bar_open: bool = False
    _last_draw: float = 0.0

    @classmethod
    def for_stream(cls, level: int, stream: TextIO | None = None, env=os.environ) -> "TerminalReporter":
        stream = stream or sys.stderr
        tty = hasattr(stream, "isatty") and stream.isatty()
        return cls(
            level=level,
            stream=stream,
            bars=tty and level >= NORMAL and not env.get("CI"),
            color=tty and "NO_COLOR" not in env,
        )

    def _style(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def _line(self, text: str) -> None:
        if self._bar_open:
            self.stream.write("\r\033[K")
            self._bar_open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def stage(self, stage: str, message: str) -> None:
        if self.level >= NORMAL:
            self._line(f"  {self._style(f'{stage:<9}', '1;36')} {message}")

    def detail(self, stage: str, message: str) -> None:
        if self.level >= VERBOSE:
            self._line(f"  {self._style(f'{stage:<9}', '2')} {message}")

    def progress(self, stage: str, done: int, total: int, unit: str = "") -> None:
        if not self.bars or total <= 0:
            return
        now = time.monotonic()
        if done < total and now - self._last_draw < 0.05:
            return
        self._last_draw = now
        width = 28
        filled = int(width * done / total)
        bar = "#" * filled + "-" * (width - filled)
        count = f"{done / 1e6:.1f}/{total / 1e6:.1f} MB" if unit == "bytes" else f"{done}/{total}"
        self.stream.write(f"\r  {self._style(f'{stage:<9}', '1;36')} [{bar}] {count}")
        self.stream.flush()
        self._bar_open = done < total
        if done >= total:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def error(self, message: str) -> None:
        self._line(f"{self._style('bundler: error:', '1;31')} {message}")
