"""Read a lock file (PEP 751 ``pylock.toml`` or hashed ``requirements.txt``) for one target.

The result says, per package, where its wheel comes from; nothing is downloaded here.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from packaging.markers import (
    InvalidMarker,
    Marker,
    UndefinedComparison,
    UndefinedEnvironmentName,
)
from packaging.pylock import (
    Package,
    PackageArchive,
    PackageDirectory,
    PackageSdist,
    PackageVcs,
    PackageWheel,
    Pylock,
    PylockSelectError,
    PylockUnsupportedVersionError,
    PylockValidationError,
    is_valid_pylock_path,
)
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)

from bundler.base.target import Target
from bundler.config.project import read_project
from bundler.errors import ConfigError, LockError


@dataclass(frozen=True)
class WheelRef:
    """A locked wheel file: where to get it and its hash."""

    name: str
    version: str | None
    filename: str
    url: str | None
    path: Path | None
    sha256: str | None
    #: the file's size in bytes, when the lock gives it (pylock ``size``)
    size: int | None = None


@dataclass(frozen=True)
class HashedRequirement:
    """A pinned requirement with its allowed hashes; the wheel file is chosen when fetching."""

    name: str
    version: str
    sha256s: frozenset[str]


@dataclass(frozen=True)
class DirectoryRef:
    """A local project to build into a wheel."""

    name: str
    path: Path


LockedItem = WheelRef | HashedRequirement | DirectoryRef


def read_lock(path: Path, target: Target) -> tuple[LockedItem, ...]:
    """The packages *path* locks for *target*, sorted by name."""
    if not path.is_file():  # a configuration error (exit 3), as when no lock is found in the project
        raise ConfigError(f"{path}: no such lock file; pass the path of a pylock.toml or a hashed requirements.txt")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LockError(f"{path}: cannot read it ({exc}); pass a readable UTF-8 lock file") from exc
    try:
        if is_valid_pylock_path(path):
            items = _read_pylock(path, text, target)
        else:
            items = _read_requirements(path, text, target)
    except _BadPath as exc:
        raise LockError(f"{path}: the path {exc.args[0]!r} holds a NUL byte; fix that entry or re-lock") from exc
    except RecursionError as exc:  # e.g. TOML arrays nested 100,000 deep
        raise LockError(f"{path}: nested too deeply to be a lock file; fix the file or re-lock") from exc
    return tuple(sorted(items, key=lambda item: item.name))


class _BadPath(ValueError):
    """A lock entry's path that no file system can hold (read_lock names the lock file)."""


def _one_line(exc: Exception) -> str:
    """packaging's parse errors span three lines (message, the text, a caret): keep the message."""
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


# --- pylock.toml --------------------------------------------------------------------------


def _read_pylock(path: Path, text: str, target: Target) -> list[LockedItem]:
    lock = _parse_pylock(path, text)
    base = path.parent.absolute()
    items: list[LockedItem] = []
    try:
        for package, source in lock.select(environment=target.environment, tags=target.tags):
            items.append(_pylock_item(path, base, package, source, target))
    except PylockSelectError as exc:
        package = _failed_package(lock, str(exc))
        if package is not None and package.wheels:
            raise _no_matching_wheel(path, package, target) from exc
        raise LockError(f"{path}: {exc} (target {target.name}); re-lock for this target") from exc
    return items


def _parse_pylock(path: Path, text: str) -> Pylock:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LockError(f"{path}: is not valid TOML ({_one_line(exc)}); fix the syntax or re-lock") from exc
    try:
        return Pylock.from_dict(data)
    except PylockUnsupportedVersionError as exc:
        raise LockError(f"{path}: {exc}; re-lock with a tool that writes lock-version 1.0") from exc
    except PylockValidationError as exc:
        raise LockError(f"{path}: is not a valid pylock file ({_one_line(exc)}); fix that entry or re-lock") from exc


def _failed_package(lock: Pylock, message: str) -> Package | None:
    """The package a ``select`` error message points at (``packages[i]``), if any."""
    match = re.search(r"packages\[(\d+)\]", message)
    if not match or int(match.group(1)) >= len(lock.packages):
        return None
    return lock.packages[int(match.group(1))]


def _pylock_item(
    path: Path,
    base: Path,
    package: Package,
    source: PackageVcs | PackageDirectory | PackageArchive | PackageWheel | PackageSdist,
    target: Target,
) -> LockedItem:
    name = str(package.name)
    if isinstance(source, PackageWheel):
        return _wheel_ref(path, base, package, source.filename, source.url, source.path, source.hashes, source.size)
    if isinstance(source, PackageDirectory):
        directory = _resolve(base, source.path)
        if source.subdirectory:
            directory = directory / source.subdirectory
        return DirectoryRef(name=name, path=directory)
    if isinstance(source, PackageArchive):
        filename = _filename(source.path, source.url)
        if filename.endswith(".whl"):
            return _wheel_ref(path, base, package, filename, source.url, source.path, source.hashes, source.size)
        raise LockError(
            f"{path}: package {_label(package)} is locked as the source archive {filename}, "
            f"which has no wheel for target {target.name}; build a wheel and lock it instead"
        )
    if isinstance(source, PackageSdist) and package.wheels:
        # select() falls back to the sdist when no locked wheel matches the target tags.
        raise _no_matching_wheel(path, package, target)
    kind = "an sdist" if isinstance(source, PackageSdist) else "a VCS source"
    pin = f"{package.name}=={package.version}" if package.version else str(package.name)
    raise LockError(
        f"{path}: package {_label(package)} has no wheel for target {target.name} (only {kind} is locked); "
        f"build one with `pip wheel --no-deps {pin} -w wheelhouse` and re-lock with `--find-links wheelhouse`, "
        "or pick a version with wheels"
    )


def _wheel_ref(
    path: Path,
    base: Path,
    package: Package,
    filename: str,
    url: str | None,
    file_path: str | None,
    hashes: Mapping[str, str],
    size: int | None = None,
) -> WheelRef:
    try:
        name, version, _, _ = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise LockError(f"{path}: package {_label(package)} has an invalid wheel filename {filename!r}; re-lock") from exc
    if name != canonicalize_name(str(package.name)):
        raise LockError(f"{path}: package {_label(package)} locks {filename}, a wheel of {name}; fix the entry or re-lock")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise LockError(f"{path}: package {_label(package)} gives {filename} the size {size!r}; fix the entry or re-lock")
    sha256 = hashes.get("sha256")
    return WheelRef(
        name=str(name),
        version=str(package.version or version),
        filename=filename,
        url=url,
        path=_resolve(base, file_path) if file_path else None,
        sha256=sha256.lower() if sha256 else None,
        size=size,
    )


def _no_matching_wheel(path: Path, package: Package, target: Target) -> LockError:
    tags = sorted({_wheel_tag(wheel.filename) for wheel in package.wheels or ()})
    other = _other_python(tags, target)
    if other is not None:
        have = "{}.{}".format(*target.python_version)
        return LockError(
            f"{path}: package {_label(package)} is locked for Python {other} only (wheels {', '.join(tags)}), "
            f"but the base interpreter is Python {have}; build with --python python{other}, "
            f"or re-lock with Python {have}"
        )
    return LockError(
        f"{path}: package {_label(package)} has no wheel for target {target.name} "
        f"(locked wheels are for {', '.join(tags)}); re-lock including this target or add a wheel built for it"
    )


def _other_python(tags: list[str], target: Target) -> str | None:
    """The one other CPython version (``3.12``) that every locked wheel is built for, if that is the mismatch."""
    versions = set()
    for tag in tags:
        m = re.fullmatch(r"cp(\d)(\d+)-.*", tag)
        if m is None:
            return None  # a pure or abi3 wheel: the Python version is not what failed
        versions.add(f"{m.group(1)}.{m.group(2)}")
    mine = "{}.{}".format(*target.python_version)
    return versions.pop() if len(versions) == 1 and mine not in versions else None


def _wheel_tag(filename: str) -> str:
    return "-".join(filename[: -len(".whl")].split("-")[-3:])


def _label(package: Package) -> str:
    return f"{package.name} {package.version}" if package.version else str(package.name)


def _filename(file_path: str | None, url: str | None) -> str:
    if file_path:
        return file_path.replace("\\", "/").rsplit("/", 1)[-1]
    return unquote(urlparse(url or "").path.rsplit("/", 1)[-1])


def _resolve(base: Path, file_path: str) -> Path:
    """An absolute path for *file_path*, relative paths taken from the lock file's directory."""
    if "\0" in file_path:
        raise _BadPath(file_path)
    return (base / Path(file_path).expanduser()).resolve()


# --- requirements.txt ---------------------------------------------------------------------

_REJECTED_OPTIONS = {
    "-r": "-r",
    "--requirement": "-r",
    "-e": "-e",
    "--editable": "-e",
    "-c": "-c",
    "--constraint": "-c",
}
_COMMENT = re.compile(r"(^|\s+)#.*$")


def _read_requirements(path: Path, text: str, target: Target) -> list[LockedItem]:
    base = path.parent.absolute()
    items: dict[str, LockedItem] = {}
    for lineno, line in _logical_lines(text):
        if line.startswith("-"):
            _check_option(path, lineno, line)
            continue
        item = _requirement_item(path, base, lineno, line, target)
        if item is None:
            continue
        if item.name in items:
            raise LockError(
                f"{path}, line {lineno}: {item.name} is listed twice for target {target.name}; "
                "keep one pinned entry per package"
            )
        items[item.name] = item
    return list(items.values())


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each non-empty line, comments removed, continuations joined."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        line = _COMMENT.sub("", raw)
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        joined = " ".join(part.strip() for part in pending).strip()
        pending = []
        if joined:
            lines.append((start, joined))
    if pending:
        joined = " ".join(part.strip() for part in pending).strip()
        if joined:
            lines.append((start, joined))
    return lines


def _check_option(path: Path, lineno: int, line: str) -> None:
    option = re.split(r"[\s=]", line, maxsplit=1)[0]
    if option in _REJECTED_OPTIONS or re.match(r"-[rec]\S", option):
        flag = _REJECTED_OPTIONS.get(option, option[:2])
        raise LockError(
            f"{path}, line {lineno}: `{flag}` is not supported, flatten it into one fully pinned, "
            "hashed requirements file (pip-compile --generate-hashes or uv pip compile --generate-hashes)"
        )
    # Index and build options (--index-url, --find-links, --no-binary, ...) do not apply: ignore them.


def _split_options(line: str) -> tuple[str, list[str]]:
    """Split like pip: the requirement is every token before the first one starting with '-'."""
    tokens = line.split(" ")
    for i, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:i]).strip(), shlex.split(" ".join(tokens[i:]))
    return line.strip(), []


def _hashes(path: Path, lineno: int, requirement: str, options: list[str]) -> frozenset[str]:
    values: list[str] = []
    i = 0
    while i < len(options):
        option = options[i]
        if option.startswith("--hash="):
            values.append(option[len("--hash=") :])
        elif option == "--hash" and i + 1 < len(options):
            values.append(options[i + 1])
            i += 1
        i += 1
    sha256s: set[str] = set()
    for value in values:
        algorithm, _, digest = value.partition(":")
        if algorithm == "sha256":
            if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
                raise LockError(f"{path}, line {lineno}: {requirement} has a malformed sha256 hash {digest!r}; re-lock")
            sha256s.add(digest.lower())
    if not sha256s:
        raise LockError(
            f"{path}, line {lineno}: {requirement} has no --hash=sha256:...; "
            "re-lock with pip-compile --generate-hashes or uv pip compile --generate-hashes"
        )
    return frozenset(sha256s)


def _requirement_item(path: Path, base: Path, lineno: int, line: str, target: Target) -> LockedItem | None:
    text, options = _split_options(line)
    if _looks_like_location(text):
        return _location_item(path, base, lineno, text, options, target, name=None)
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise LockError(f"{path}, line {lineno}: cannot parse {text!r} ({_one_line(exc)}); fix the line or re-lock") from exc
    if req.url:
        return _location_item(path, base, lineno, req.url, options, target, name=req.name, marker=req.marker)
    specs = list(req.specifier)
    pinned = len(specs) == 1 and specs[0].operator in ("==", "===") and not specs[0].version.endswith("*")
    if not pinned:
        raise LockError(
            f"{path}, line {lineno}: {text} is not pinned to one version with ==; "
            "re-lock with pip-compile --generate-hashes or uv pip compile --generate-hashes"
        )
    sha256s = _hashes(path, lineno, text, options)
    if not _marker_matches(path, lineno, req.marker, target):
        return None
    return HashedRequirement(name=str(canonicalize_name(req.name)), version=specs[0].version, sha256s=sha256s)


def _looks_like_location(text: str) -> bool:
    head = text.split(";", 1)[0].strip()
    if re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@", head):
        return False  # `name @ url`: a PEP 508 requirement
    return (
        head.startswith(("file:", "http://", "https://", ".", "/", "~"))
        or head.endswith((".whl", ".zip", ".tar.gz", ".tar.bz2", ".tgz"))
    )


def _location_item(
    path: Path,
    base: Path,
    lineno: int,
    text: str,
    options: list[str],
    target: Target,
    *,
    name: str | None,
    marker: Marker | None = None,
) -> LockedItem | None:
    """A wheel or directory given by URL or path (``name @ url`` or a bare location)."""
    location, _, marker_text = text.partition(";")
    location = location.strip()
    if marker is None and marker_text.strip():
        try:
            marker = Marker(marker_text.strip())
        except InvalidMarker as exc:
            raise LockError(f"{path}, line {lineno}: invalid marker ({_one_line(exc)}); fix the line or re-lock") from exc
    url: str | None = None
    local: Path | None = None
    if location.startswith(("http://", "https://")):
        url = location
    elif location.startswith("file:"):
        local = _resolve(base, url2pathname(urlparse(location).path))
    else:
        local = _resolve(base, location)
    filename = _filename(None, url) if url else (local.name if local else "")

    if local is not None and local.is_dir():
        if name is None:  # a bare `.` (uv pip compile --generate-hashes writes one for the project itself)
            name = read_project(local).name
        if name is None:
            raise LockError(
                f"{path}, line {lineno}: the directory {location} has no package name in its pyproject.toml, "
                "setup.cfg or setup.py; write it as `name @ file:///...`"
            )
        if not _marker_matches(path, lineno, marker, target):
            return None
        return DirectoryRef(name=str(canonicalize_name(name)), path=local)
    if not filename.endswith(".whl"):
        raise LockError(
            f"{path}, line {lineno}: {location} is not a wheel; build a wheel and lock that instead"
        )
    try:
        wheel_name, version, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise LockError(f"{path}, line {lineno}: {filename!r} is not a valid wheel filename; fix the line or re-lock") from exc
    if name is not None and canonicalize_name(name) != wheel_name:
        raise LockError(f"{path}, line {lineno}: {filename} is not a wheel of {name}; fix the line or re-lock")
    sha256s = _hashes(path, lineno, location, options)
    if not _marker_matches(path, lineno, marker, target):
        return None
    if all(target.tag_rank(tag) is None for tag in tags):
        raise LockError(
            f"{path}, line {lineno}: {filename} does not run on target {target.name}; lock a wheel built for it"
        )
    if len(sha256s) != 1:
        raise LockError(f"{path}, line {lineno}: {filename} has {len(sha256s)} sha256 hashes; a single file needs exactly one")
    return WheelRef(
        name=str(wheel_name),
        version=str(version),
        filename=filename,
        url=url,
        path=local,
        sha256=next(iter(sha256s)),
    )


def _marker_matches(path: Path, lineno: int, marker: Marker | None, target: Target) -> bool:
    if marker is None:
        return True
    try:
        return marker.evaluate({**target.environment, "extra": ""})
    except (UndefinedComparison, UndefinedEnvironmentName) as exc:
        raise LockError(f"{path}, line {lineno}: cannot evaluate marker {marker} ({_one_line(exc)}); fix the line or re-lock") from exc
