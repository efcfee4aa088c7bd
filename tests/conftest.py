"""Shared fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bundler.base.probe import probe
from bundler.base.target import Target, target_for


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
    from winetools import wine_env

    return wine_env(tmp_path_factory.mktemp("wine"))
