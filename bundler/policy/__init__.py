"""The system-library policy, kept as data in ``manylinux.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Policy:
    name: str
    system_libraries: frozenset[str]
    loaders: tuple[tuple[str, str], ...]
    default_library_dirs: tuple[tuple[str, tuple[str, ...]], ...]

    def is_system(self, soname: str) -> bool:
        return soname in self.system_libraries

    def loader(self, arch: str) -> str:
        return dict(self.loaders)[arch]

    def library_dirs(self, arch: str) -> tuple[str, ...]:
        return dict(self.default_library_dirs)[arch]


@lru_cache(maxsize=None)
def load_policy(name: str = "manylinux") -> Policy:
    data = json.loads(resources.files(__name__).joinpath(f"{name}.json").read_text())
    return Policy(
        name=data["name"],
        system_libraries=frozenset(data["system_libraries"]),
        loaders=tuple(sorted(data["loaders"].items())),
        default_library_dirs=tuple(sorted((k, tuple(v)) for k, v in data["default_library_dirs"].items())),
    )
