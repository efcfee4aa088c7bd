"""What bundler knows about a base CPython: the values every later stage reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bundler.errors import InterpreterError
from bundler.platforms import Os, os_of_system

MIN_VERSION = (3, 9)


def check_version(where: object, version: tuple[int, ...], full: str) -> None:
    """Refuse a base older than :data:`MIN_VERSION` (*where*: what ``--python`` named)."""
    if version[:2] < MIN_VERSION:
        oldest = ".".join(map(str, MIN_VERSION))
        raise InterpreterError(f"--python {where}: is Python {full}; bundler needs CPython {oldest} or newer")


@dataclass(frozen=True)
class TclTk:
    """Where the base interpreter's Tcl and Tk find their script libraries."""

    tcl_library: Path  # holds init.tcl, e.g. /usr/share/tcltk/tcl8.6
    tcl_version: str  # "8.6": Tcl looks for <exe dir>/../lib/tcl<version>
    tcl_patchlevel: str
    #: Tcl's own module directories (``::tcl::tm::path`` entries holding msgcat, http, ...)
    tcl_modules: tuple[Path, ...]
    tk_library: Path | None  # holds tk.tcl, e.g. /usr/share/tcltk/tk8.6
    tk_version: str


@dataclass(frozen=True)
class BaseInterpreter:
    """What bundler needs to know about the CPython it copies."""

    executable: Path
    version: tuple[int, int, int]
    full_version: str
    abiflags: str
    gil_disabled: bool
    prefix: Path
    stdlib: Path
    platstdlib: Path
    dynload: Path
    libdir: Path
    ldlibrary: str
    shared: bool
    multiarch: str
    ext_suffix: str
    sitepackages: tuple[str, ...]
    machine: str
    system: str
    glibc: str
    markers: tuple[tuple[str, str], ...]
    openssl_cafile: str | None
    openssl_capath: str | None
    #: Tcl/Tk script libraries of the base's ``_tkinter`` (None: no tkinter or no Tcl library)
    tcltk: TclTk | None = None
    #: False for a base read from its files (another platform's CPython): nothing may run it
    runnable: bool = True
    #: the root of the system image the base came with (Debian packages unpacked for another
    #: architecture, say): its libraries are where relocation looks for what binaries need
    sysroot: Path | None = None
    #: oldest macOS the base runs on (macOS bases only)
    macos_minimum: str | None = None

    @property
    def os(self) -> Os | None:
        """The OS this CPython is for (None: one bundler does not target)."""
        return os_of_system(self.system)

    @property
    def short_version(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"
