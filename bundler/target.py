"""The target a runtime is built for: its marker environment and wheel tags."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from packaging import tags as ptags

from .errors import InterpreterError
from .interpreter import BaseInterpreter

#: Targets bundler can build for from this host today.
SUPPORTED = {"linux-x86_64": "x86_64"}


@dataclass(frozen=True)
class Target:
    """Everything wheel selection needs: markers and tags in priority order."""

    name: str
    python_version: tuple[int, int]
    markers: tuple[tuple[str, str], ...]
    tags: tuple[ptags.Tag, ...]
    glibc: tuple[int, int]

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


def target_for(interp: BaseInterpreter) -> Target:
    """The target described by a probed base interpreter."""
    arch = interp.machine
    name = f"linux-{arch}"
    if name not in SUPPORTED:
        raise InterpreterError(
            f"--python {interp.executable}: is a {name} interpreter; supported targets: {', '.join(SUPPORTED)}"
        )
    if not interp.glibc:
        raise InterpreterError(f"--python {interp.executable}: is not linked against glibc; musl targets are not supported yet")
    glibc = tuple(int(p) for p in interp.glibc.split(".")[:2])
    platforms = linux_platforms(arch, glibc)  # type: ignore[arg-type]
    pyver = interp.version[:2]
    abi = f"cp{pyver[0]}{pyver[1]}{'t' if interp.gil_disabled else ''}"
    tags = list(ptags.cpython_tags(python_version=pyver, abis=[abi], platforms=platforms))
    tags += list(ptags.compatible_tags(python_version=pyver, interpreter=f"cp{pyver[0]}{pyver[1]}", platforms=platforms))
    return Target(
        name=name,
        python_version=pyver,  # type: ignore[arg-type]
        markers=interp.markers,
        tags=tuple(tags),
        glibc=glibc,  # type: ignore[arg-type]
    )
