"""The target a runtime is built for: its marker environment and wheel tags.

A target is ``<os>-<arch>``: ``linux-x86_64``, ``linux-aarch64``,
``windows-x86_64``, ``macos-arm64``, ``macos-x86_64``. Its markers and tags come
from the base interpreter (probed when the host can run it, else read from its
files), never from the machine bundler runs on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from packaging import tags as ptags

from bundler.base.model import BaseInterpreter
from bundler.errors import InterpreterError

#: Every target bundler builds for, with the binary format of its executables.
TARGETS = {
    "linux-x86_64": "elf",
    "linux-aarch64": "elf",
    "windows-x86_64": "pe",
    "macos-arm64": "macho",
    "macos-x86_64": "macho",
}
#: platform.system() → the target's OS part
_OS = {"Linux": "linux", "Windows": "windows", "Darwin": "macos"}
#: (os, platform.machine()) → the target's arch part
_ARCH = {
    ("linux", "x86_64"): "x86_64", ("linux", "aarch64"): "aarch64", ("linux", "arm64"): "aarch64",
    ("windows", "AMD64"): "x86_64", ("windows", "x86_64"): "x86_64",
    ("macos", "arm64"): "arm64", ("macos", "x86_64"): "x86_64",
}


@dataclass(frozen=True)
class Target:
    """Everything wheel selection needs: markers and tags in priority order."""

    name: str
    python_version: tuple[int, int]
    markers: tuple[tuple[str, str], ...]
    tags: tuple[ptags.Tag, ...]
    #: glibc of the target system (Linux only)
    glibc: tuple[int, int] | None = None
    #: the oldest macOS the runtime supports (macOS only)
    macos_minimum: tuple[int, int] | None = None

    @property
    def os(self) -> str:
        return self.name.split("-", 1)[0]

    @property
    def arch(self) -> str:
        return self.name.split("-", 1)[1]

    @property
    def binary_format(self) -> str:
        return TARGETS[self.name]

    @property
    def environment(self) -> dict[str, str]:
        return dict(self.markers)

    @cached_property
    def _ranks(self) -> dict[ptags.Tag, int]:
        return {tag: i for i, tag in reversed(list(enumerate(self.tags)))}

    def tag_rank(self, tag: ptags.Tag) -> int | None:
        """Priority of *tag* for this target (lower is better); None if unsupported."""
        return self._ranks.get(tag)


def linux_platforms(arch: str, glibc: tuple[int, int]) -> list[str]:
    """manylinux platform tags a glibc *glibc* machine accepts, best first."""
    platforms: list[str] = []
    major, minor = glibc
    for m in range(minor, 4, -1):
        platforms.append(f"manylinux_{major}_{m}_{arch}")
        legacy = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}.get((major, m))
        if legacy:
            platforms.append(f"{legacy}_{arch}")
    platforms.append(f"linux_{arch}")
    return platforms


def target_name(interp: BaseInterpreter) -> str:
    """``<os>-<arch>`` of a base interpreter; an error for anything bundler cannot target."""
    os_part = _OS.get(interp.system)
    arch = _ARCH.get((os_part or "", interp.machine))
    name = f"{os_part}-{arch}"
    if os_part is None or arch is None or name not in TARGETS:
        raise InterpreterError(
            f"--python {interp.executable}: is a CPython for {interp.system} {interp.machine}; "
            f"supported targets: {', '.join(TARGETS)}"
        )
    return name


def _version(text: str, what: str, interp: BaseInterpreter) -> tuple[int, int]:
    try:
        major, minor = (int(p) for p in text.split(".")[:2])
    except ValueError:
        raise InterpreterError(f"--python {interp.executable}: cannot tell its {what} ({text!r})") from None
    return major, minor


def target_for(interp: BaseInterpreter) -> Target:
    """The target described by a base interpreter (probed or read from its files)."""
    name = target_name(interp)
    os_part, arch = name.split("-", 1)
    pyver = interp.version[:2]
    glibc = macos = None
    if os_part == "linux":
        if not interp.glibc:
            raise InterpreterError(
                f"--python {interp.executable}: is not linked against glibc; musl targets are not supported yet"
            )
        glibc = _version(interp.glibc, "glibc version", interp)
        platforms = linux_platforms(arch, glibc)
    elif os_part == "windows":
        platforms = ["win_amd64"]
    else:
        macos = _version(interp.macos_minimum or "", "minimum macOS version", interp)
        platforms = list(ptags.mac_platforms(macos, arch))
    abi = f"cp{pyver[0]}{pyver[1]}{'t' if interp.gil_disabled else ''}"
    tags = list(ptags.cpython_tags(python_version=pyver, abis=[abi], platforms=platforms))
    tags += list(ptags.compatible_tags(python_version=pyver, interpreter=f"cp{pyver[0]}{pyver[1]}", platforms=platforms))
    return Target(
        name=name,
        python_version=pyver,  # type: ignore[arg-type]
        markers=interp.markers,
        tags=tuple(tags),
        glibc=glibc,
        macos_minimum=macos,
    )
