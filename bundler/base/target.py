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
from bundler.platforms import (
    LINUX,
    PLATFORMS,
    WINDOWS,
    Os,
    Platform,
    os_of_system,
    platform_named,
)


@dataclass(frozen=True)
class Target:
    """Everything wheel selection needs: markers and tags in priority order."""

    platform: Platform
    python_version: tuple[int, int]
    markers: tuple[tuple[str, str], ...]
    tags: tuple[ptags.Tag, ...]
    #: glibc of the target system (Linux only)
    glibc: tuple[int, int] | None = None
    #: the oldest macOS the runtime supports (macOS only)
    macos_minimum: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        return self.platform.name

    @property
    def os(self) -> Os:
        return self.platform.os

    @property
    def arch(self) -> str:
        return self.platform.arch

    @property
    def binary_format(self) -> str:
        return self.platform.binary_format

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


def target_platform(interp: BaseInterpreter) -> Platform:
    """The target (``<os>-<arch>``) of a base interpreter; an error for anything bundler cannot target."""
    system = os_of_system(interp.system)
    arch = system.arch_of(interp.machine) if system is not None else None
    found = platform_named(f"{system.name}-{arch}") if system is not None and arch is not None else None
    if found is None:
        raise InterpreterError(
            f"--python {interp.executable}: is a CPython for {interp.system} {interp.machine}; "
            f"supported targets: {', '.join(p.name for p in PLATFORMS)}"
        )
    return found


def _version(text: str, what: str, interp: BaseInterpreter) -> tuple[int, int]:
    try:
        major, minor = (int(p) for p in text.split(".")[:2])
    except ValueError:
        raise InterpreterError(f"--python {interp.executable}: cannot tell its {what} ({text!r})") from None
    return major, minor


def target_for(interp: BaseInterpreter) -> Target:
    """The target described by a base interpreter (probed or read from its files)."""
    found = target_platform(interp)
    arch = found.arch
    pyver = (interp.version[0], interp.version[1])
    glibc = macos = None
    if found.os is LINUX:
        if not interp.glibc:
            raise InterpreterError(
                f"--python {interp.executable}: is not linked against glibc; musl targets are not supported yet"
            )
        glibc = _version(interp.glibc, "glibc version", interp)
        platform_tags = linux_platforms(arch, glibc)
    elif found.os is WINDOWS:
        platform_tags = ["win_amd64"]
    else:
        macos = _version(interp.macos_minimum or "", "minimum macOS version", interp)
        platform_tags = list(ptags.mac_platforms(macos, arch))
    abi = f"cp{pyver[0]}{pyver[1]}{'t' if interp.gil_disabled else ''}"
    tags = list(ptags.cpython_tags(python_version=pyver, abis=[abi], platforms=platform_tags))
    tags += list(ptags.compatible_tags(python_version=pyver, interpreter=f"cp{pyver[0]}{pyver[1]}", platforms=platform_tags))
    return Target(
        platform=found,
        python_version=pyver,
        markers=interp.markers,
        tags=tuple(tags),
        glibc=glibc,
        macos_minimum=macos,
    )
