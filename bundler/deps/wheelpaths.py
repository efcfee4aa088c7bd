"""Where a wheel's members land once installed.
"""

from __future__ import annotations

import re

_DATA_LIB = re.compile(r"^[^/]+\.data/(?:purelib|platlib)/")


def installed_path(member: str) -> str | None:
    """Where a wheel member lands relative to site-packages, or None (metadata, scripts, headers, data)."""
    first = member.split("/", 1)[0]
    if first.endswith(".dist-info"):
        return None
    if first.endswith(".data"):
        m = _DATA_LIB.match(member)
        return member[m.end():] if m else None
    return member
