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


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """``1 frame``, ``2 frames``, ``1 dependency``, ``3 dependencies``."""
    if n == 1:
        return f"1 {singular}"
    if plural is None:
        plural = singular[:-1] + "ies" if singular.endswith("y") and singular[-2:-1] not in "aeiou" else singular + "s"
    return f"{n} {plural}"


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
    #: when the build started (stage lines off a terminal carry the time since)
    _start: float = field(default_factory=lambda: time.monotonic())
    #: off a terminal: when the current long step last printed a line
    _last_line: dict[str, float] = field(default_factory=dict)

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
            # off a terminal (a CI log) each line says when it happened: no bar shows the pace there
            when = "" if self.bars else f"  [{time.monotonic() - self._start:.1f} s]"
            self._line(f"  {self._style(f'{stage:<9}', '1;36')} {message}{when}")

    def detail(self, stage: str, message: str) -> None:
        if self.level >= VERBOSE:
            self._line(f"  {self._style(f'{stage:<9}', '2')} {message}")

    #: off a terminal, a step that has run this long prints its progress this often (seconds)
    LOG_EVERY = 15.0

    def progress(self, stage: str, done: int, total: int, unit: str = "") -> None:
        if total <= 0:
            return
        now = time.monotonic()
        count = f"{done / 1e6:.1f}/{total / 1e6:.1f} MB" if unit == "bytes" else f"{done}/{total}"
        if not self.bars:
            # a CI log gets a line now and then during a long step, never a bar
            started = self._last_line.setdefault(stage, now)
            if self.level >= NORMAL and done < total and now - started >= self.LOG_EVERY:
                self._last_line[stage] = now
                self._line(f"  {stage:<9} {count} ({100 * done // total}%)  [{now - self._start:.1f} s]")
            if done >= total:
                self._last_line.pop(stage, None)
            return
        if done < total and now - self._last_draw < 0.05:
            return
        self._last_draw = now
        width = 28
        filled = int(width * done / total)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r  {self._style(f'{stage:<9}', '1;36')} [{bar}] {count}")
        self.stream.flush()
        self._bar_open = done < total
        if done >= total:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def error(self, message: str) -> None:
        self._line(f"{self._style('bundler: error:', '1;31')} {message}")
