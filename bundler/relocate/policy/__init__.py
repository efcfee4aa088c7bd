"""The system-library policies, kept as data: ``manylinux.json``, ``windows.json``, ``macos.json``."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Policy:
    name: str
    system_libraries: frozenset[str]
    loaders: tuple[tuple[str, str], ...]
    default_library_dirs: tuple[tuple[str, tuple[str, ...]], ...]
    #: fnmatch patterns of further system names (``api-ms-win-*.dll``, ``/usr/lib/*``)
    system_patterns: tuple[str, ...] = field(default=())
    #: Windows compares DLL names without regard to case
    case_insensitive: bool = False

    def is_system(self, soname: str) -> bool:
        name = soname.lower() if self.case_insensitive else soname
        if name in self.system_libraries:
            return True
        return any(fnmatch.fnmatchcase(name, pat) for pat in self.system_patterns)

    def loader(self, arch: str) -> str:
        return dict(self.loaders)[arch]

    def library_dirs(self, arch: str) -> tuple[str, ...]:
        return dict(self.default_library_dirs)[arch]


@lru_cache(maxsize=None)
def load_policy(name: str = "manylinux") -> Policy:
    data = json.loads(resources.files(__name__).joinpath(f"{name}.json").read_text())
    insensitive = bool(data.get("case_insensitive", False))
    fold = (lambda s: s.lower()) if insensitive else (lambda s: s)
    return Policy(
        name=data["name"],
        system_libraries=frozenset(fold(n) for n in data["system_libraries"]),
        system_patterns=tuple(fold(p) for p in data.get("system_patterns", ())),
        case_insensitive=insensitive,
        loaders=tuple(sorted(data.get("loaders", {}).items())),
        default_library_dirs=tuple(sorted((k, tuple(v)) for k, v in data.get("default_library_dirs", {}).items())),
    )
