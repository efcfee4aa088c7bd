"""A fetched wheel, checked before anything installs it: a zip of safe member names whose metadata
names the project the lock asked for.

The hash proves the file is the one the lock names; it does not prove the lock
names a sane wheel. ``installer`` refuses paths that leave site-packages, but a
backslash is a plain character to it (a file literally called ``pkg\\mod.py``
on Linux, a subdirectory on Windows) and it trusts the metadata's name.
"""

from __future__ import annotations

import email.parser
import posixpath
import zipfile
from pathlib import Path

from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from bundler.errors import FetchError


def check_wheel(path: Path, project: str) -> None:
    """Refuse *path* unless it is a wheel of *project*: one ``.dist-info`` for its name and version,
    METADATA naming *project*, member names that are relative POSIX paths."""
    label = path.name
    try:
        name, version, _build, _tags = parse_wheel_filename(path.name)
    except InvalidWheelFilename as exc:
        raise FetchError(f"{label}: not a wheel file name ({exc}); re-lock") from exc
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.namelist()
            for member in members:
                _check_member(label, member)
            metadata = _metadata(label, zf, members, str(name), str(version))
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{label}: not a valid wheel ({exc}); re-download it or rebuild it") from exc
    named = metadata.get("Name")
    if named is None or canonicalize_name(named) != canonicalize_name(project):
        raise FetchError(f"{label}: its metadata names the project {named!r}, the lock asks for {project}; "
                         "the file is not what the lock says, re-lock")


def _check_member(label: str, member: str) -> None:
    if "\\" in member or "\0" in member:
        raise FetchError(f"{label}: member {member!r} has a backslash or NUL in its name; not a valid wheel, rebuild it")
    norm = posixpath.normpath(member)
    if member.startswith("/") or norm == ".." or norm.startswith("../") or (len(member) > 1 and member[1] == ":"):
        raise FetchError(f"{label}: member {member!r} would land outside site-packages; not a valid wheel, rebuild it")


def _metadata(label: str, zf: zipfile.ZipFile, members: list[str], name: str, version: str):
    dist_infos = {m.split("/", 1)[0] for m in members if m.split("/", 1)[0].endswith(".dist-info")}
    wanted = [d for d in dist_infos if _dist_info_matches(d, name, version)]
    if len(wanted) != 1:
        raise FetchError(f"{label}: holds {len(dist_infos)} .dist-info directories, none for {name} {version}; "
                         "not a valid wheel, rebuild it")
    try:
        raw = zf.read(f"{wanted[0]}/METADATA")
    except KeyError:
        raise FetchError(f"{label}: {wanted[0]} has no METADATA; not a valid wheel, rebuild it") from None
    return email.parser.BytesHeaderParser().parsebytes(raw)


def _dist_info_matches(dist_info: str, name: str, version: str) -> bool:
    dist, _, ver = dist_info[: -len(".dist-info")].rpartition("-")
    try:
        same_version = Version(ver) == Version(version)  # 1.0 and 1.0.0, 1.0-post1 and 1.0.post1
    except InvalidVersion:
        return False
    return canonicalize_name(dist) == canonicalize_name(name) and same_version
