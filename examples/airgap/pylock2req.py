#!/usr/bin/env python3
"""Print a pylock.toml as hashed requirements, for `pip download --require-hashes`.

    python3 pylock2req.py pylock.toml > wheelhouse.txt
    pip download --no-deps --require-hashes --only-binary :all: -r wheelhouse.txt -d wheelhouse

Every wheel's sha256 in the lock is allowed, so pip picks the one for its own
interpreter and platform (or for --python-version/--platform when given) and
refuses anything the lock does not name. Packages without a version or without
wheels (`directory`, `vcs`, sdist-only entries) cannot be downloaded this way;
they are reported on stderr and the script exits with 1.
Needs Python 3.11+ (tomllib); no third-party packages.
"""

from __future__ import annotations

import sys
import tomllib


def requirements(lock: dict) -> tuple[list[str], list[str]]:
    lines, skipped = [], []
    for package in lock.get("packages", []):
        name, version = package.get("name"), package.get("version")
        hashes = sorted({w["hashes"]["sha256"] for w in package.get("wheels", []) if "sha256" in w.get("hashes", {})})
        if not version or not hashes:
            skipped.append(name or "?")
            continue
        marker = package.get("marker")
        line = f"{name}=={version}" + (f" ; {marker}" if marker else "")
        lines.append(" \\\n    ".join([line, *(f"--hash=sha256:{h}" for h in hashes)]))
    return lines, skipped


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} pylock.toml > requirements.txt", file=sys.stderr)
        return 2
    with open(argv[1], "rb") as f:
        lines, skipped = requirements(tomllib.load(f))
    for line in lines:
        print(line)
    for name in skipped:
        print(f"{argv[1]}: {name} has no version or no wheel with a sha256; fetch it by other means", file=sys.stderr)
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
