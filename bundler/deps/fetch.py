"""Get every locked wheel onto disk, verified against the lock's sha256.

Sources, in order: ``--find-links`` directories, local paths, the download cache,
then the network. All network access goes through :func:`_http_chunks`, and every
caller of it checks ``options.offline`` first, so ``--offline`` never opens a socket.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

from packaging.tags import Tag
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from bundler import cachefs
from bundler.base.target import Target
from bundler.deps.localbuild import build_wheel, source_digest
from bundler.deps.lock import DirectoryRef, HashedRequirement, LockedItem, WheelRef
from bundler.deps.options import FetchOptions
from bundler.deps.wheelcheck import check_wheel
from bundler.digest import sha256_file
from bundler.errors import BuildError, FetchError

#: ``progress(event, detail)``; events: "cached", "download", "build", "local", "warning" (a build's).
Progress = Callable[[str, str], None]

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
TIMEOUT = 60.0
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FetchedWheel:
    """A verified wheel file on disk."""

    name: str
    version: str
    path: Path


def fetch_all(
    items: Iterable[LockedItem],
    target: Target,
    options: FetchOptions,
    progress: Progress | None = None,
) -> tuple[FetchedWheel, ...]:
    """A verified wheel for every locked item, in the order given."""
    for directory in options.find_links:
        if not directory.is_dir():
            raise FetchError(f"--find-links {directory}: no such directory; pass a directory of wheels")
    report = progress or _silent
    return tuple(_fetch(item, target, options, report) for item in items)


def _silent(event: str, detail: str) -> None:
    pass


def _fetch(item: LockedItem, target: Target, options: FetchOptions, report: Progress) -> FetchedWheel:
    if isinstance(item, WheelRef):
        fetched = _fetch_wheel(item, options, report)
    elif isinstance(item, HashedRequirement):
        fetched = _fetch_requirement(item, target, options, report)
    else:
        return _fetch_directory(item, options, report)  # its name is checked against the lock there
    check_wheel(fetched.path, item.name)
    return fetched


# --- a pinned file of a project (not from the lock: e.g. the stub's zstd sources) ---------


# --- locked wheel files -------------------------------------------------------------------


def _fetch_wheel(ref: WheelRef, options: FetchOptions, report: Progress) -> FetchedWheel:
    found = _in_find_links(ref.filename, options.find_links)
    if found is not None:
        return _use_local(found, ref, f"--find-links {found.parent}", report)
    if ref.path is not None and ref.path.is_file():
        return _use_local(ref.path, ref, str(ref.path), report)
    if ref.url is not None and ref.url.startswith("file:"):
        local = Path(urllib.request.url2pathname(urlparse(ref.url).path))
        if local.is_file():
            return _use_local(local, ref, ref.url, report)
    label = f"{ref.filename} ({_label(ref.name, ref.version)})"
    if ref.url is None or ref.url.startswith("file:"):
        where = ref.url or ref.path
        raise FetchError(
            f"{label} is not at {where} or in any --find-links directory; put it in a --find-links directory or re-lock"
        )
    if ref.sha256 is None:
        raise FetchError(
            f"{label} from {ref.url}: the lock has no sha256 for it, so it cannot be downloaded safely; "
            "re-lock with hashes or put the file in a --find-links directory"
        )
    dest = _cache_path(options.cache_dir, ref.sha256, ref.filename)
    if _cached(dest, ref.sha256):
        report("cached", ref.filename)
        _check_size(dest, ref, ref.url)
        return _fetched(dest)
    if options.offline:
        raise _offline_error(label)
    _download(ref.url, dest, ref.sha256, options, report, size=ref.size)
    return _fetched(dest)


def _in_find_links(filename: str, find_links: tuple[Path, ...]) -> Path | None:
    for directory in find_links:
        candidate = directory / filename
        if candidate.is_file():
            return candidate
    return None


def _use_local(path: Path, ref: WheelRef, where: str, report: Progress) -> FetchedWheel:
    """Verify a local wheel in place (a lock without a hash is trusted for local files)."""
    _check_size(path, ref, where)
    if ref.sha256 is not None:
        actual = sha256_file(path)
        if actual != ref.sha256:
            raise _mismatch(ref.filename, where, actual, ref.sha256)
    report("local", str(path))
    return _fetched(path)


def _check_size(path: Path, ref: WheelRef, where: str | None) -> None:
    if ref.size is not None and path.stat().st_size != ref.size:
        raise _size_mismatch(ref.filename, where or str(path), path.stat().st_size, ref.size)


def _size_mismatch(filename: str, where: str, actual: int, expected: int) -> FetchError:
    return FetchError(f"{filename} from {where}: {actual} bytes, the lock says {expected}; "
                      "the file changed or the lock is stale — re-lock or replace the file")


def _fetched(path: Path) -> FetchedWheel:
    name, version, _, _ = parse_wheel_filename(path.name)
    return FetchedWheel(name=str(name), version=str(version), path=path)


def _mismatch(filename: str, where: str, actual: str, expected: str) -> FetchError:
    return FetchError(
        f"{filename} from {where}: sha256 is {actual}, the lock says {expected}; "
        "the file changed or the lock is stale — re-lock or replace the file"
    )


def _offline_error(label: str) -> FetchError:
    return FetchError(
        f"{label} is not in the download cache or any --find-links directory, and --offline forbids "
        "downloading it; put it in a --find-links directory"
    )


def _label(name: str, version: str | None) -> str:
    return f"{name} {version}" if version else name


# --- the download cache -------------------------------------------------------------------


def _cache_path(cache_dir: Path, sha256: str, filename: str) -> Path:
    """Content-addressed: ``cache_dir/sha256/<hex[:2]>/<hex>/<filename>``."""
    return cache_dir / "sha256" / sha256[:2] / sha256 / filename


def _cached(path: Path, sha256: str) -> bool:
    """Whether the cache holds *path* whole: its sha256 is checked on every use, and a damaged
    copy (a truncated write, a full disk, a bad sector) is removed so that it is fetched again."""
    if not path.is_file():
        return False
    if sha256_file(path) == sha256:
        cachefs.mark_used(path.parent)
        return True
    path.unlink(missing_ok=True)
    return False


def _download(url: str, dest: Path, expected: str, options: FetchOptions, report: Progress,
              size: int | None = None) -> None:
    """Stream *url* into the cache at *dest*, verifying the sha256; nothing is left behind on failure.

    One build downloads a file at a time (the entry's lock): a second build that
    needs it waits, then uses the verified copy.
    """
    with cachefs.locked(options.cache_dir, dest, f"download of {dest.name}"):
        if _cached(dest, expected):  # another build downloaded it while we waited
            report("cached", dest.name)
            return
        cachefs.remove_leftovers(dest)
        report("download", url)
        with cachefs.new_file(dest) as out:
            digest = hashlib.sha256()
            written = 0
            for chunk in _http_chunks(url, options):
                written += len(chunk)
                if size is not None and written > size:  # never more than the lock says
                    raise _size_mismatch(dest.name, url, written, size)
                digest.update(chunk)
                out.write(chunk)
            if size is not None and written != size:
                raise _size_mismatch(dest.name, url, written, size)
            if digest.hexdigest() != expected:
                raise _mismatch(dest.name, url, digest.hexdigest(), expected)


# --- the network (only reached when not offline) ------------------------------------------


def _http_chunks(url: str, options: FetchOptions, accept: str | None = None) -> Iterator[bytes]:
    """The body of *url* in chunks; the only code that opens connections."""
    if options.offline:  # every caller checks first; this is the backstop
        raise FetchError(f"{url}: --offline forbids downloading it; put the file in a --find-links directory")
    headers = {"User-Agent": "bundler"}
    if accept:
        headers["Accept"] = accept
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            while chunk := response.read(_CHUNK):
                yield chunk
    except urllib.error.HTTPError as exc:
        raise FetchError(
            f"{url}: the server answered HTTP {exc.code} {exc.reason}; check the lock or --index-url, or use --find-links"
        ) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise FetchError(
            f"cannot download {url} ({reason}); check the network or use --find-links with a directory holding the file"
        ) from exc


def _index_page(name: str, options: FetchOptions) -> tuple[str, dict[str, Any]]:
    """The PEP 691 JSON project page for *name* and its URL."""
    url = f"{options.index_url.rstrip('/')}/{name}/"
    body = b"".join(_http_chunks(url, options, accept=SIMPLE_JSON))
    try:
        page = json.loads(body)
    except ValueError as exc:
        raise FetchError(f"{url}: is not a PEP 691 JSON simple page; point --index-url at a PEP 691 index") from exc
    if not isinstance(page, dict) or not isinstance(page.get("files"), list):
        raise FetchError(f"{url}: is not a PEP 691 JSON simple page (no files list); point --index-url at a PEP 691 index")
    return url, page


# --- pinned requirements with hashes ------------------------------------------------------


def _fetch_requirement(
    req: HashedRequirement, target: Target, options: FetchOptions, report: Progress
) -> FetchedWheel:
    local = _best_in_find_links(req, target, options.find_links)
    if local is not None:
        report("local", str(local))
        return _fetched(local)
    if options.offline:
        cached = _best_in_cache(req, target, options.cache_dir)
        if cached is None:
            raise _offline_error(f"a wheel of {req.name} {req.version} for {target.name}")
        report("cached", cached.name)
        return _fetched(cached)
    filename, url, sha256 = _choose_from_index(req, target, options)
    dest = _cache_path(options.cache_dir, sha256, filename)
    if _cached(dest, sha256):
        report("cached", filename)
    else:
        _download(url, dest, sha256, options, report)
    return _fetched(dest)


def _wheel_rank(filename: str, req: HashedRequirement, target: Target) -> int | None:
    """The target rank of *filename* if it is a wheel of *req*, else None."""
    try:
        name, version, _, tags = parse_wheel_filename(filename)
        if name != req.name or version != Version(req.version):
            return None
    except (InvalidWheelFilename, InvalidVersion):
        return None
    return _best_rank(tags, target)


def _best_rank(tags: Iterable[Tag], target: Target) -> int | None:
    ranks = [rank for tag in tags if (rank := target.tag_rank(tag)) is not None]
    return min(ranks) if ranks else None


def _best_in_find_links(req: HashedRequirement, target: Target, find_links: tuple[Path, ...]) -> Path | None:
    """The best-ranked compatible wheel of *req* whose sha256 the lock allows."""
    candidates: list[tuple[int, str, Path]] = []
    for directory in find_links:
        for path in directory.glob("*.whl"):
            rank = _wheel_rank(path.name, req, target)
            if rank is not None and path.is_file():
                candidates.append((rank, path.name, path))
    for _, _, path in sorted(candidates):
        if sha256_file(path) in req.sha256s:
            return path
    return None


def _best_in_cache(req: HashedRequirement, target: Target, cache_dir: Path) -> Path | None:
    candidates: list[tuple[int, str, Path]] = []
    for sha256 in req.sha256s:
        for path in (cache_dir / "sha256" / sha256[:2] / sha256).glob("*.whl"):
            rank = _wheel_rank(path.name, req, target)
            if rank is not None and _cached(path, sha256):
                candidates.append((rank, path.name, path))
    return min(candidates)[2] if candidates else None


def _choose_from_index(req: HashedRequirement, target: Target, options: FetchOptions) -> tuple[str, str, str]:
    """(filename, url, sha256) of the best wheel on the index for *req* and *target*."""
    page_url, page = _index_page(req.name, options)
    files = [f for f in page["files"] if isinstance(f, dict) and isinstance(f.get("filename"), str)]
    of_version = [f for f in files if _is_version(f["filename"], req)]
    wheels = [f for f in of_version if f["filename"].endswith(".whl")]
    compatible = [(rank, f) for f in wheels if (rank := _wheel_rank(f["filename"], req, target)) is not None]
    allowed = [
        (rank, f["filename"], f)
        for rank, f in compatible
        if str((f.get("hashes") or {}).get("sha256", "")).lower() in req.sha256s
    ]
    label = f"{req.name} {req.version}"
    if allowed:
        _, filename, chosen = min(allowed, key=lambda entry: entry[:2])
        return filename, urljoin(page_url, chosen["url"]), chosen["hashes"]["sha256"].lower()
    if not of_version:
        raise FetchError(f"{label}: {page_url} lists no files for this version; check --index-url or re-lock")
    if not wheels:
        raise FetchError(
            f"{label}: only an sdist is published on {page_url}, so there is no wheel for target {target.name}; "
            "build a wheel into a --find-links directory or pick a version with wheels"
        )
    if not compatible:
        raise FetchError(
            f"{label}: no wheel on {page_url} runs on target {target.name}; "
            "build a wheel into a --find-links directory or pick a version with wheels for it"
        )
    raise FetchError(
        f"{label}: no wheel on {page_url} for target {target.name} has a sha256 listed in the lock; "
        "the lock is stale or was made for other platforms — re-lock"
    )


def _is_version(filename: str, req: HashedRequirement) -> bool:
    """Whether *filename* (a wheel or sdist) is of *req*'s name and version."""
    if filename.endswith(".whl"):
        try:
            name, version, _, _ = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            return False
    else:
        stem = filename
        for suffix in (".tar.gz", ".zip", ".tar.bz2", ".tgz"):
            stem = stem.removesuffix(suffix)
        raw_name, _, raw_version = stem.rpartition("-")
        name = canonicalize_name(raw_name)
        try:
            version = Version(raw_version)
        except InvalidVersion:
            return False
    try:
        return name == req.name and version == Version(req.version)
    except InvalidVersion:
        return False


# --- local projects -----------------------------------------------------------------------


def _fetch_directory(ref: DirectoryRef, options: FetchOptions, report: Progress) -> FetchedWheel:
    if not (ref.path / "pyproject.toml").is_file() and not (ref.path / "setup.py").is_file():
        raise FetchError(
            f"{ref.path}: the locked project {ref.name} is not there (no pyproject.toml or setup.py); fix the path or re-lock"
        )
    key = hashlib.sha256(str(ref.path).encode()).hexdigest()[:16]
    entry = options.cache_dir / "built" / f"{ref.name}-{key}" / source_digest(ref.path)[:24]
    wheel = _built_wheel(entry)
    if wheel is not None:  # the sources have not changed since that build
        cachefs.mark_used(entry)
        report("cached", wheel.name)
    else:
        with cachefs.locked(options.cache_dir, entry, f"wheel of {ref.path}"):
            wheel = _built_wheel(entry)  # another build may have made it while we waited
            if wheel is None:
                report("build", str(ref.path))
                cachefs.remove_leftovers(entry)
                with cachefs.new_dir(entry, str(ref.path)) as tmp:
                    build_wheel(ref.path, tmp, options, warn=lambda line: report("warning", line))
                wheel = _built_wheel(entry)
                if wheel is None:
                    raise BuildError(f"{ref.path}: the build left no single wheel in {entry}; build again")
    fetched = _fetched(wheel)
    if fetched.name != ref.name:
        raise BuildError(
            f"{ref.path}: builds a wheel of {fetched.name}, but the lock calls it {ref.name}; "
            "fix the project name or re-lock"
        )
    return fetched


def _built_wheel(entry: Path) -> Path | None:
    """The wheel of a complete ``built/`` entry (one wheel, published whole), else None."""
    if not cachefs.is_complete(entry):
        return None
    wheels = sorted(entry.glob("*.whl"))
    return wheels[0] if len(wheels) == 1 else None
