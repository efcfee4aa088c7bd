"""Cache entries that concurrent builds share: made in private, published by one rename.

Every entry of the build cache (``--cache-dir``) follows the same rules, so
that builds sharing one cache (a CI matrix, several apps at once) never see
each other's half-made work and a build killed at any moment (SIGKILL, a full
disk) leaves nothing that a later build would use:

* A directory entry is made in a private temporary directory beside it and
  renamed into place with its completion marker already inside
  (:func:`new_dir`). A reader only trusts an entry that has the marker; an
  entry without one is a leftover of an older bundler and is moved aside.
* A file entry is written to a private temporary file and renamed over the
  final name (:func:`new_file`; :func:`replacing` when a tool writes it by
  name). Outputs and rewritten binaries use the same helpers
  (:func:`replacing_tree` replaces a whole file or directory).
* Where making an entry is expensive (a PEP 517 build environment, a base
  runtime, a local project's wheel, a download), the builder holds the
  entry's lock file in ``<cache>/locks/`` (:func:`locked`, ``flock``,
  released by the kernel when the process dies),
  so a second builder that needs the same entry waits for it and then uses it
  instead of making it again. Elsewhere two builders may make the same entry;
  the second rename loses harmlessly.
* Temporary leftovers of a killed builder are removed by the next builder
  that holds the entry's lock.
* Every use of an entry sets its modification time (:func:`mark_used`), which
  is how ``bundler cache prune`` tells what has not been used for a while; a
  build holds ``<cache>/locks/builds.lock`` shared while it runs
  (:func:`in_use`), and ``prune`` takes it exclusively, so it never removes an
  entry under a running build.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from bundler.errors import CacheError

#: the marker a directory entry holds once it is complete (written before the rename)
COMPLETE = ".complete"
#: how long a builder waits for another one making the same entry (seconds); BUNDLER_LOCK_TIMEOUT overrides
LOCK_TIMEOUT = 1800.0
_POLL = 0.05


def lock_timeout() -> float:
    value = os.environ.get("BUNDLER_LOCK_TIMEOUT", "")
    try:
        return float(value) if value else LOCK_TIMEOUT
    except ValueError:
        return LOCK_TIMEOUT


def is_complete(entry: Path) -> bool:
    """Whether the directory entry *entry* was published whole (it holds its marker)."""
    return (entry / COMPLETE).is_file()


def lock_path(cache_dir: Path, entry: Path) -> Path:
    """``<cache>/locks/<entry's path in the cache, / as ~>.lock``: one place, entries stay clean."""
    try:
        rel = entry.relative_to(cache_dir).as_posix()
    except ValueError:
        rel = hashlib.sha256(str(entry).encode()).hexdigest()
    return cache_dir / "locks" / (rel.replace("/", "~") + ".lock")


@contextlib.contextmanager
def locked(cache_dir: Path, entry: Path, what: str, timeout: float | None = None,
           on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the lock of cache entry *entry* (:func:`lock_path`) for the block.

    Waits while another builder holds it, up to *timeout* seconds (default
    :func:`lock_timeout`), then fails with a :class:`CacheError` naming *what*.
    *on_wait* is called once if it has to wait. The kernel drops the lock when
    its holder dies, so a killed build never blocks the next one. Holding it, the caller may remove temporary leftovers
    of *entry* (:func:`remove_leftovers`).
    """
    path = lock_path(cache_dir, entry)
    limit = lock_timeout() if timeout is None else timeout
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise CacheError(f"{path}: cannot create the lock of the cached {what} ({exc.strerror}); "
                         "check the permissions of the cache directory or use another --cache-dir") from exc
    try:
        _flock(fd, fcntl.LOCK_EX, on_wait, lambda: CacheError(
            f"{entry}: another build has been making this {what} for over {limit:.0f} s; "
            "let it finish, or stop it and build again (BUNDLER_LOCK_TIMEOUT sets the wait)"), limit)
        yield
    finally:
        os.close(fd)


#: held shared by every running build, exclusively by ``bundler cache prune``
BUILDS_LOCK = "builds.lock"


def mark_used(entry: Path) -> None:
    """Record that *entry* (a file or a directory entry) was just used: its mtime. Best effort."""
    try:
        os.utime(entry)
    except OSError:
        pass


def _builds_lock(cache_dir: Path) -> int:
    path = cache_dir / "locks" / BUILDS_LOCK
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise CacheError(f"{path}: cannot create it ({exc.strerror}); check the permissions of the cache "
                         "directory or use another --cache-dir") from exc


def in_use(cache_dir: Path, on_wait: Callable[[], None] | None = None) -> contextlib.AbstractContextManager[None]:
    """Mark the build cache as used by this build for the block (a shared lock; builds share it).
    Waits while ``bundler cache prune`` holds it (*on_wait* is called once then)."""
    return _holding(cache_dir, fcntl.LOCK_SH, on_wait, "`bundler cache prune` has held the build cache",
                    "let it finish and build again")


def exclusive(cache_dir: Path, on_wait: Callable[[], None] | None = None) -> contextlib.AbstractContextManager[None]:
    """The whole build cache for the block, once no build uses it (``bundler cache prune``)."""
    return _holding(cache_dir, fcntl.LOCK_EX, on_wait, "builds have used the build cache", "prune when they are done")


@contextlib.contextmanager
def _holding(cache_dir: Path, how: int, on_wait: Callable[[], None] | None, who: str, then: str) -> Iterator[None]:
    fd = _builds_lock(cache_dir)
    try:
        _flock(fd, how, on_wait, lambda: CacheError(
            f"{cache_dir}: {who} for over {lock_timeout():.0f} s; {then} (BUNDLER_LOCK_TIMEOUT sets the wait)"))
        yield
    finally:
        os.close(fd)


def _flock(fd: int, how: int, on_wait: Callable[[], None] | None, timeout_error: Callable[[], CacheError],
           limit: float | None = None) -> None:
    """Take *how* (LOCK_SH, LOCK_EX) on *fd*, polling; *on_wait* once if it has to wait; after *limit*
    seconds (default :func:`lock_timeout`) the error *timeout_error* makes."""
    deadline = time.monotonic() + (lock_timeout() if limit is None else limit)
    while True:
        try:
            fcntl.flock(fd, how | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
                on_wait = None
            if time.monotonic() >= deadline:
                raise timeout_error() from None
            time.sleep(_POLL)


def remove_leftovers(entry: Path) -> None:
    """Remove temporary directories and files of *entry* that killed builders left (call holding its lock)."""
    parent = entry.parent
    if not parent.is_dir():
        return
    for path in parent.glob(f".{entry.name}.*.tmp"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _publish_dir(tmp: Path, entry: Path) -> bool:
    """Rename the finished *tmp* to *entry*; False when another builder published it first."""
    try:
        os.rename(tmp, entry)
        return True
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    if is_complete(entry):
        return False  # another builder's entry is as good as ours; readers may be using it
    aside = entry.with_name(f".{entry.name}.{uuid.uuid4().hex[:8]}.tmp")  # a leftover without a marker
    os.rename(entry, aside)
    shutil.rmtree(aside, ignore_errors=True)
    os.rename(tmp, entry)
    return True


@contextlib.contextmanager
def new_dir(entry: Path, marker: str = "") -> Iterator[Path]:
    """A private directory that becomes *entry* when the block finishes without an exception.

    The completion marker (holding *marker*) is written last, inside the private
    directory, and the whole directory is renamed into place, so a reader sees
    either no entry or a complete one. If *entry* appeared meanwhile (another
    builder), ours is discarded. On an exception nothing is published.
    """
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".tmp", dir=entry.parent))
    try:
        yield tmp
        (tmp / COMPLETE).write_text(marker + "\n")
        _publish_dir(tmp, entry)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def replacing(path: Path, mode: int | None = None) -> Iterator[Path]:
    """A private temporary name beside *path* for the block to write (by name: LIEF, Zig); on success
    it gets *mode* (default: the mode *path* has now) and replaces *path* in one rename; removed otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = path.stat().st_mode & 0o7777
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def new_file(path: Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """A private temporary file that replaces *path* (mode *mode*) when the block finishes; removed otherwise."""
    with replacing(path, mode) as tmp, open(tmp, "wb") as out:
        yield out


@contextlib.contextmanager
def replacing_tree(final: Path) -> Iterator[Path]:
    """A path (inside a private directory beside *final*) for the block to create, as a file or a
    directory; on success it replaces whatever *final* is (:func:`move_into_place`), on an
    exception it vanishes."""
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=parent))
    work = tmp / final.name
    try:
        yield work
        move_into_place(work, final)
    finally:
        remove_tree(tmp)


def move_into_place(src: Path, final: Path) -> None:
    """Rename *src* (a file or a tree, on *final*'s filesystem) to *final*, replacing whatever is there.

    The old *final* is renamed aside first (within its own directory: a directory
    its owner made read-only can move there, not into another one) and removed
    after, so *final* is missing only between two renames and never holds a mix
    of old and new; if the second rename fails, the old one is put back.
    """
    aside = final.with_name(f".{final.name}.{secrets.token_hex(8)}.old")
    if os.path.lexists(final):
        os.rename(final, aside)
    try:
        os.rename(src, final)
    except BaseException:
        if os.path.lexists(aside) and not os.path.lexists(final):
            os.rename(aside, final)
        raise
    finally:
        if os.path.lexists(aside):
            remove_tree(aside)


def remove_tree(path: Path) -> None:
    """Remove *path*: a file, a link, or a directory with everything under it, directories its owner
    made read-only included (an old output after ``chmod -R a-w`` must not stay behind, hidden)."""
    if os.path.islink(path) or not os.path.isdir(path):
        with contextlib.suppress(OSError):  # called from finally blocks: never raise over the real error
            os.unlink(path)
        return
    shutil.rmtree(path, ignore_errors=True)
    if not os.path.lexists(path):
        return
    with contextlib.suppress(OSError):
        os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) | stat.S_IRWXU)
    for dirpath, dirnames, _files in os.walk(path):  # top-down: each directory is opened after its chmod
        for name in dirnames:
            d = os.path.join(dirpath, name)
            if not os.path.islink(d):
                with contextlib.suppress(OSError):
                    os.chmod(d, stat.S_IMODE(os.lstat(d).st_mode) | stat.S_IRWXU)
    shutil.rmtree(path, ignore_errors=True)


def write_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write *data* to *path* atomically (see :func:`new_file`)."""
    with new_file(path, mode) as out:
        out.write(data)
