"""Write tiny but valid wheels for tests (METADATA, WHEEL, RECORD, entry points)."""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path


def _dist_name(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def make_wheel(
    dir: Path,
    name: str,
    version: str,
    tag: str = "py3-none-any",
    files: Mapping[str, str | bytes] | None = None,
    entry_points: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """Write ``<name>-<version>-<tag>.whl`` into *dir* and return its path.

    *files* maps archive paths (e.g. ``"pkg/__init__.py"``) to contents; by
    default the wheel holds one module named after the distribution.
    *entry_points* maps a group (``"console_scripts"``) to ``{name: "mod:func"}``.
    """
    dist = _dist_name(name)
    distinfo = f"{dist}-{version}.dist-info"
    if files is None:
        files = {f"{dist}/__init__.py": f"__version__ = {version!r}\n"}
    purelib = tag.split("-")[-1] == "any"
    members: dict[str, bytes] = {
        path: content.encode() if isinstance(content, str) else content for path, content in files.items()
    }
    members[f"{distinfo}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    wheel_tags = "".join(f"Tag: {t}\n" for t in _expand(tag))
    members[f"{distinfo}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: wheelfactory\nRoot-Is-Purelib: {str(purelib).lower()}\n{wheel_tags}"
    ).encode()
    if entry_points:
        text = "".join(
            f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items()) + "\n"
            for group, entries in entry_points.items()
        )
        members[f"{distinfo}/entry_points.txt"] = text.encode()
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in members.items())
    record += f"{distinfo}/RECORD,,\n"
    members[f"{distinfo}/RECORD"] = record.encode()

    dir.mkdir(parents=True, exist_ok=True)
    out = dir / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, data in members.items():
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return out


def _expand(tag: str) -> list[str]:
    interpreters, abis, platforms = tag.split("-")
    return [f"{i}-{a}-{p}" for i in interpreters.split(".") for a in abis.split(".") for p in platforms.split(".")]


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, as lock files write it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_pylock(path: Path, wheels: Iterable[Path | tuple[str, str]]) -> Path:
    """Write a PEP 751 ``pylock.toml`` at *path* locking *wheels*: local files (by path), or ``(url, sha256)``.

    Name and version come from each wheel's file name.
    """
    lines = ['lock-version = "1.0"', 'created-by = "bundler-tests"', ""]
    for wheel in wheels:
        if isinstance(wheel, tuple):
            url, sha256 = wheel
            filename, where = url.rsplit("/", 1)[-1], f'url = "{url}"'
        else:
            filename, where, sha256 = wheel.name, f'path = "{wheel}"', sha256_of(wheel)
        name, version = filename.split("-")[:2]
        lines += ["[[packages]]", f'name = "{name}"', f'version = "{version}"', "[[packages.wheels]]",
                  f'name = "{filename}"', where, f'hashes = {{ sha256 = "{sha256}" }}', ""]
    path.write_text("\n".join(lines))
    return path
