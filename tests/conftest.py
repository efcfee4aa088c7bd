"""Shared fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bundler.base.probe import probe
from bundler.base.target import Target, target_for

#: unit modules that are slow by nature: wine starts, qemu and Debian's arm64 packages, the clean room
SLOW_MODULES = frozenset({"test_stub_windows", "test_foreign_aarch64", "test_cleanroom"})


def pytest_collection_modifyitems(config, items) -> None:
    """``slow``: every end-to-end test (tests/integration/) and the modules above, so that
    ``make test PYTEST_ARGS="-m 'not slow'"`` is the quick loop; ``make test`` runs everything."""
    for item in items:
        if "integration" in item.path.parts or item.path.stem in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def host_target() -> Target:
    """The target of the interpreter running the tests."""
    return target_for(probe(Path(sys.executable)))


@pytest.fixture(scope="session")
def build_cache(tmp_path_factory) -> Path:
    """One bundler cache (downloads, built stub, compressed frames) for the whole session."""
    return tmp_path_factory.mktemp("bundler-cache")


@pytest.fixture(scope="session")
def wine(tmp_path_factory) -> dict[str, str]:
    """The environment for running programs under wine, with one prefix per session."""
    from support.winetools import wine_env

    return wine_env(tmp_path_factory.mktemp("wine"))
