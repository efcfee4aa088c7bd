"""How dependencies are fetched and built: cache, indexes, find-links, network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bundler.config.spec import PYPI_SIMPLE


@dataclass(frozen=True)
class FetchOptions:
    """Where wheels may come from and where downloads are kept."""

    find_links: tuple[Path, ...]
    offline: bool
    cache_dir: Path
    index_url: str = PYPI_SIMPLE
