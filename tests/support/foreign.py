"""Test infrastructure for a foreign target (linux-aarch64) on an x86_64 Debian 12 host.

* :func:`arm64_sysroot` unpacks Debian 12 (bookworm) **arm64** packages - CPython
  3.11 (``/usr/bin/python3.11``, the full stdlib) and every library its extension
  modules load - into a root filesystem. The packages are fetched with the host's
  ``apt-get`` under a private configuration (own sources, state, cache; arm64 as
  the only architecture; the archive's signed ``InRelease`` checked against
  ``/usr/share/keyrings/debian-archive-keyring.gpg``), so the host's apt setup is
  never touched; each ``.deb`` is then checked against the SHA256 of the signed
  index once more before ``dpkg-deb --fsys-tarfile | tar -x`` unpacks it.
* :func:`ensure_qemu_binfmt` makes the kernel run aarch64 ELF files with
  ``qemu-aarch64-static`` via binfmt_misc with the F (fix-binary) flag, so they
  run inside a chroot that contains no emulator.
* :func:`aarch64_cleanroom` builds a :class:`cleanroom.CleanRoom` whose system
  libraries (exactly the manylinux policy's, those libc6/libgcc-s1/libstdc++6
  provide) and loader ``/lib/ld-linux-aarch64.so.1`` come from the arm64 sysroot.
* :func:`sysroot_room` runs programs in a plain chroot of the sysroot itself,
  :func:`qemu_env` runs the sysroot's programs directly on the host.

Requirements: root, network access to deb.debian.org, the Debian packages
``apt``, ``dpkg``, ``tar``, ``debian-archive-keyring``, ``qemu-user-static``
(and ``binfmt-support``), ``busybox-static`` for the rooms.

Example (session fixtures)::

    sysroot = arm64_sysroot(tmp / "sysroot", cache=tmp / "debs")
    ensure_qemu_binfmt()
    room = aarch64_cleanroom(tmp / "room", sysroot)
    python = sysroot / "usr/bin/python3.11"        # build from this interpreter
    subprocess.run([python, "-V"], env={**os.environ, **qemu_env(sysroot)})
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

from support.cleanroom import (
    ROOM_GID,
    ROOM_HOME,
    ROOM_UID,
    ROOM_USER,
    CleanRoom,
    _elf_info,
    binfmt_handler,
    resolve_sysroot_library,
)

__all__ = [
    "ARM64_PACKAGES",
    "AARCH64_TRIPLET",
    "QEMU_AARCH64",
    "arm64_sysroot",
    "fetch_debs",
    "missing_libraries",
    "elf_machine",
    "ensure_qemu_binfmt",
    "register_binfmt",
    "qemu_handler",
    "qemu_env",
    "sysroot_room",
    "aarch64_cleanroom",
]

#: Debian 12 arm64 packages making up the sysroot: CPython 3.11 and what its
#: binary and ``lib-dynload`` modules need at run time (checked by
#: :func:`missing_libraries` after unpacking). ``_tkinter`` is not included.
ARM64_PACKAGES: tuple[str, ...] = (
    # CPython 3.11 (the interpreter is linked statically with libpython; the
    # shared libpython3.11.so.1.0 is there for embedders).
    "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "libpython3.11",
    # glibc and the compiler runtimes (the manylinux system libraries).
    "libc6", "libgcc-s1", "libstdc++6",
    # python3.11 itself: libz, libexpat.
    "zlib1g", "libexpat1",
    # lib-dynload: _ctypes, _ssl/_hashlib, _sqlite3, _lzma, _bz2, _uuid,
    # _curses(_panel), readline, _dbm, _crypt, nis (libnsl2 -> libtirpc3 -> GSSAPI).
    "libffi8", "libssl3", "libsqlite3-0", "liblzma5", "libbz2-1.0", "libuuid1",
    "libncursesw6", "libtinfo6", "libreadline8", "libdb5.3", "libcrypt1",
    "libnsl2", "libtirpc3", "libgssapi-krb5-2", "libkrb5-3", "libk5crypto3",
    "libkrb5support0", "libcom-err2", "libkeyutils1",
)

AARCH64_TRIPLET = "aarch64-linux-gnu"
#: Debian's qemu-user-static binary for aarch64.
QEMU_AARCH64 = Path("/usr/bin/qemu-aarch64-static")
#: Debian's binfmt wrapper (a link to QEMU_AARCH64 whose name tells qemu the kernel preserves argv[0]).
_QEMU_AARCH64_P = Path("/usr/libexec/qemu-binfmt/aarch64-binfmt-P")
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
SOURCES = (
    ("http://deb.debian.org/debian", "bookworm"),
    ("http://deb.debian.org/debian", "bookworm-updates"),
    ("http://deb.debian.org/debian-security", "bookworm-security"),
)
#: Re-run ``apt-get update`` in a cache when its indices are older than this.
INDEX_MAX_AGE = 24 * 3600

_BINFMT = Path("/proc/sys/fs/binfmt_misc")
# 64-bit little-endian ELF, ET_EXEC or ET_DYN, e_machine EM_AARCH64 (183).
_AARCH64_MAGIC = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
_AARCH64_MASK = b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
_MANIFEST = ".foreign-sysroot.json"
_HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
_MACHINES = {62: "x86_64", 183: "aarch64"}


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive flock on ``path`` (concurrent sessions sharing a cache wait)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _run(cmd: Sequence[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def elf_machine(path: Path) -> str | None:
    """``"aarch64"``/``"x86_64"`` (or ``"e_machine=N"``) of an ELF file; None if not ELF."""
    info = _elf_info(Path(path))
    if info is None:
        return None
    return _MACHINES.get(info[0], f"e_machine={info[0]}")


# --------------------------------------------------------------------------- apt


def _apt_setup(cache: Path, arch: str) -> dict[str, str]:
    """A private apt configuration under ``cache/apt-<arch>``; returns the environment for apt-get."""
    for tool in ("apt-get", "dpkg-deb", "tar"):
        if shutil.which(tool, path=_HOST_ENV["PATH"]) is None:
            raise RuntimeError(f"{tool} not found (Debian packages apt, dpkg, tar)")
    if not KEYRING.is_file():
        raise RuntimeError(f"{KEYRING} missing: apt-get install -y debian-archive-keyring")
    base = (cache / f"apt-{arch}").absolute()
    for d in ("etc/apt.conf.d", "etc/preferences.d", "etc/sources.list.d", "etc/trusted.gpg.d",
              "state/lists/partial", "cache/archives/partial", "log"):
        (base / d).mkdir(parents=True, exist_ok=True)
    (base / "state" / "status").touch()
    (base / "etc" / "sources.list").write_text("".join(
        f"deb [arch={arch} signed-by={KEYRING}] {uri} {suite} main\n" for uri, suite in SOURCES
    ))
    conf = base / "apt.conf"
    conf.write_text(f'''// Private apt configuration of tests/support/foreign.py: nothing of the host's apt is read or written.
Dir "/";
Dir::Etc "{base}/etc";
Dir::Etc::main "apt.conf";
Dir::Etc::parts "apt.conf.d";
Dir::Etc::sourcelist "sources.list";
Dir::Etc::sourceparts "sources.list.d";
Dir::Etc::preferences "preferences";
Dir::Etc::preferencesparts "preferences.d";
Dir::Etc::trusted "trusted.gpg";
Dir::Etc::trustedparts "trusted.gpg.d";
Dir::State "{base}/state";
Dir::State::status "{base}/state/status";
Dir::Cache "{base}/cache";
Dir::Log "{base}/log";
APT::Architecture "{arch}";
APT::Architectures {{ "{arch}"; }};
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::Retries "3";
Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled "false";
''')
    env = dict(_HOST_ENV)
    env["APT_CONFIG"] = str(conf)
    for var in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        if var in os.environ:
            env[var] = os.environ[var]
    stamp = base / "updated"
    fresh = stamp.is_file() and time.time() - stamp.stat().st_mtime < INDEX_MAX_AGE
    if not fresh:
        try:
            _run(["apt-get", "-q", "update", "-o", "APT::Update::Error-Mode=any"], env=env, timeout=600)
            stamp.touch()
        except (RuntimeError, subprocess.TimeoutExpired):
            if not stamp.is_file():  # no usable indices from an earlier run either
                raise
    return env


_URI_LINE = re.compile(r"^'(?P<uri>[^']+)' (?P<file>\S+) (?P<size>\d+) SHA256:(?P<sha>[0-9a-f]{64})$")


def fetch_debs(cache: Path, packages: Sequence[str] = ARM64_PACKAGES, *, arch: str = "arm64") -> dict[str, Path]:
    """Download the newest bookworm ``.deb`` of each of ``packages`` for ``arch`` into ``cache/debs-<arch>``.

    Files already in the cache with the index's SHA256 are reused; every file
    returned has been checked against the signed index. Returns package -> file.
    """
    cache = Path(cache).absolute()
    with _locked(cache / f".foreign-{arch}.lock"):
        env = _apt_setup(cache, arch)
        debs = cache / f"debs-{arch}"
        debs.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as empty:  # --print-uris skips files present in cwd
            out = _run(["apt-get", "-q", "--print-uris", "download", *packages], env=env, cwd=empty, timeout=300).stdout
        wanted: dict[str, tuple[str, str]] = {}
        for line in out.splitlines():
            m = _URI_LINE.match(line.strip())
            if m:
                name = m["file"].split("_", 1)[0]
                wanted[name] = (m["file"], m["sha"])
        missing = sorted(set(packages) - set(wanted))
        if missing:
            raise RuntimeError(f"apt-get --print-uris gave no URI for {missing}:\n{out}")
        fetch = [p for p, (f, sha) in wanted.items() if not ((debs / f).is_file() and _sha256(debs / f) == sha)]
        if fetch:
            for p in fetch:  # a damaged leftover must not be taken for the download
                (debs / wanted[p][0]).unlink(missing_ok=True)
            _run(["apt-get", "-q", "download", *fetch], env=env, cwd=debs, timeout=900)
        result: dict[str, Path] = {}
        for name, (fname, sha) in wanted.items():
            path = debs / fname
            got = _sha256(path) if path.is_file() else None
            if got != sha:
                path.unlink(missing_ok=True)
                raise RuntimeError(f"{fname}: SHA256 {got} does not match the signed index's {sha}")
            result[name] = path
        return {p: result[p] for p in packages}


# --------------------------------------------------------------------------- the sysroot


def _unpack(deb: Path, dest: Path) -> None:
    """``dpkg-deb -x`` that keeps the merged-/usr links (``lib -> usr/lib``) in ``dest``."""
    dpkg = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_HOST_ENV)
    tar = subprocess.run(["tar", "-x", "--keep-directory-symlink", "--no-same-owner", "-C", str(dest)],
                         stdin=dpkg.stdout, capture_output=True, env=_HOST_ENV)
    assert dpkg.stdout is not None and dpkg.stderr is not None
    dpkg.stdout.close()
    err = dpkg.stderr.read()
    dpkg.stderr.close()
    if dpkg.wait() != 0 or tar.returncode != 0:
        raise RuntimeError(f"cannot unpack {deb}: {err.decode(errors='replace')}{tar.stderr.decode(errors='replace')}")


def missing_libraries(sysroot: Path, arch: str = "aarch64") -> dict[str, list[str]]:
    """DT_NEEDED names the sysroot's Python cannot find inside the sysroot.

    Walks ``usr/bin/python3.11``, every ``lib-dynload`` module and, transitively,
    the libraries they load; returns {in-sysroot path: [missing sonames]} (empty
    when the closure is complete).
    """
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    sysroot = Path(sysroot).absolute()
    todo = [sysroot / "usr/bin/python3.11"]
    todo += sorted((sysroot / "usr/lib/python3.11/lib-dynload").glob("*.so"))
    seen: set[Path] = set()
    missing: dict[str, list[str]] = {}
    while todo:
        path = todo.pop().resolve()
        if path in seen:
            continue
        seen.add(path)
        with open(path, "rb") as fh:
            needed = [t.needed for s in ELFFile(fh).iter_sections() if isinstance(s, DynamicSection)
                      for t in s.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
        for soname in needed:
            found = resolve_sysroot_library(soname, sysroot, arch)
            if found is None:
                missing.setdefault("/" + str(path.relative_to(sysroot)), []).append(soname)
            else:
                todo.append(found)
    return missing


def _prepare_root(dest: Path) -> None:
    """Merged-/usr skeleton, mount points and users, as a Debian install would have."""
    for d in ("usr/bin", "usr/sbin", "usr/lib", "etc"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib")):
        if not (dest / link).is_symlink():
            (dest / link).symlink_to(target)
    for d, mode in (("proc", 0o755), ("dev", 0o755), ("tmp", 0o1777), ("root", 0o700)):
        (dest / d).mkdir(exist_ok=True)
        os.chmod(dest / d, mode)


def _finish_root(dest: Path) -> None:
    home = dest / ROOM_HOME.lstrip("/")
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, ROOM_UID, ROOM_GID)
    etc = dest / "etc"
    if not (etc / "passwd").exists():
        (etc / "passwd").write_text(
            f"root:x:0:0:root:/root:/bin/sh\n{ROOM_USER}:x:{ROOM_UID}:{ROOM_GID}:{ROOM_USER}:{ROOM_HOME}:/bin/sh\n")
    if not (etc / "group").exists():
        (etc / "group").write_text(f"root:x:0:\n{ROOM_USER}:x:{ROOM_GID}:\n")
    os.chmod(dest, 0o755)


def arm64_sysroot(dest: Path, cache: Path, packages: Sequence[str] = ARM64_PACKAGES) -> Path:
    """A Debian 12 arm64 root filesystem at ``dest`` holding CPython 3.11; returns ``dest`` (absolute).

    ``cache`` keeps apt's indices and the ``.deb`` files between calls (pass one
    directory per pytest session or a persistent one). The tree follows Debian's
    merged-/usr layout: ``bin``/``sbin``/``lib`` link to ``usr/...``, so
    ``dest/lib/ld-linux-aarch64.so.1`` (the loader python3.11's PT_INTERP names),
    ``dest/usr/lib/aarch64-linux-gnu/libc.so.6``, ``dest/usr/bin/python3.11`` and
    ``dest/usr/lib/python3.11/`` exist. It also has ``/proc``, ``/dev``, ``/tmp``
    mount points, ``/etc/passwd`` naming uid 1000 and ``/home/user``, so
    :func:`sysroot_room` can run it.

    If ``dest`` already holds a sysroot made from the same ``.deb`` files it is
    returned as is; a sysroot from other files is replaced. Raises RuntimeError
    if a download fails or the interpreter's library closure is incomplete.
    """
    dest = Path(dest).absolute()
    debs = fetch_debs(cache, packages)
    manifest = {"packages": {p: d.name for p, d in debs.items()}}
    marker = dest / _MANIFEST
    with _locked(dest.parent / f".{dest.name}.lock"):
        if marker.is_file():
            if json.loads(marker.read_text()) == manifest:
                return dest
            shutil.rmtree(dest)
        elif dest.exists() and any(dest.iterdir()):
            raise RuntimeError(f"{dest} exists and is not a sysroot made by tests/support/foreign.py; not touching it")
        dest.mkdir(parents=True, exist_ok=True)
        _prepare_root(dest)
        for deb in debs.values():
            _unpack(deb, dest)
        _finish_root(dest)
        gaps = missing_libraries(dest)
        if gaps:
            raise RuntimeError(f"arm64 sysroot {dest} is incomplete (add the packages providing): {gaps}")
        marker.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return dest


# --------------------------------------------------------------------------- qemu


def register_binfmt(name: str, interpreter: Path, flags: str,
                    magic: bytes = _AARCH64_MAGIC, mask: bytes = _AARCH64_MASK) -> None:
    """Register an ELF binfmt_misc handler ``name`` by writing to ``/proc/sys/fs/binfmt_misc/register``."""
    def esc(data: bytes) -> str:
        return "".join(f"\\x{b:02x}" for b in data)

    line = f":{name}:M:0:{esc(magic)}:{esc(mask)}:{interpreter}:{flags}"
    with open(_BINFMT / "register", "w") as fh:
        fh.write(line)


def qemu_handler() -> tuple[Path, str]:
    """(interpreter, flags) :func:`ensure_qemu_binfmt` registers when it has to do it itself.

    Debian's ``aarch64-binfmt-P`` link with ``PF`` (what ``update-binfmts``
    registers: argv[0] preserved, interpreter opened at registration) if
    installed, else ``qemu-aarch64-static`` with ``F``.
    """
    if _QEMU_AARCH64_P.exists():
        return _QEMU_AARCH64_P, "PF"
    return QEMU_AARCH64, "F"


def ensure_qemu_binfmt() -> None:
    """Make the kernel run aarch64 ELF programs with qemu-user, also inside chroots. Idempotent.

    Mounts binfmt_misc if needed, enables it, and when no enabled handler for
    aarch64 ELF with the F flag exists: removes a stale ``qemu-aarch64`` entry,
    asks Debian's ``update-binfmts --enable qemu-aarch64``, and if that does not
    give one, registers ``qemu-aarch64`` itself (Debian's interpreter
    ``/usr/libexec/qemu-binfmt/aarch64-binfmt-P`` with flags ``PF`` when present,
    else ``/usr/bin/qemu-aarch64-static`` with ``F``). Raises RuntimeError if it
    cannot.
    """
    if not QEMU_AARCH64.is_file():
        raise RuntimeError(f"{QEMU_AARCH64} missing: apt-get install -y qemu-user-static binfmt-support")
    if not (_BINFMT / "register").exists():
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(_BINFMT)], env=_HOST_ENV)
    if (_BINFMT / "status").read_text().strip() != "enabled":
        (_BINFMT / "status").write_text("1")

    def ready() -> bool:
        handler = binfmt_handler("aarch64")
        return handler is not None and "F" in handler["flags"]

    if ready():
        return
    stale = _BINFMT / "qemu-aarch64"
    if stale.exists():
        stale.write_text("-1")  # disabled, or registered without F: replace it
    if shutil.which("update-binfmts", path=_HOST_ENV["PATH"]) and Path("/usr/share/binfmts/qemu-aarch64").is_file():
        subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], capture_output=True, env=_HOST_ENV)
        if ready():
            return
        if stale.exists():
            stale.write_text("-1")
    register_binfmt("qemu-aarch64", *qemu_handler())
    if not ready():
        raise RuntimeError(f"could not register qemu-aarch64 with binfmt_misc: {binfmt_handler('aarch64')}")


def qemu_env(sysroot: Path) -> dict[str, str]:
    """Environment variables that let the host run the sysroot's dynamic programs directly.

    ``QEMU_LD_PREFIX`` makes qemu-user look up the loader (and any absolute path)
    in ``sysroot`` first, e.g. ``subprocess.run([sysroot/"usr/bin/python3.11", ...],
    env={**os.environ, **qemu_env(sysroot)})``; ``sys.prefix`` is then ``sysroot/usr``.
    Caveat of qemu's prefix: a path that exists in the sysroot shadows the host's,
    so listing ``/tmp``, ``/proc``, ``/etc`` or ``/home`` from such a program shows
    the sysroot's directories (files that exist only on the host, e.g.
    ``/tmp/build/x``, are still the host's). Use :func:`sysroot_room` to run it
    fully inside the sysroot instead.
    """
    return {"QEMU_LD_PREFIX": str(Path(sysroot).absolute())}


# --------------------------------------------------------------------------- rooms


def sysroot_room(sysroot: Path) -> CleanRoom:
    """The sysroot itself as a room: :meth:`CleanRoom.run` chroots into it (no busybox, no shell).

    Same isolation as a clean room (own mount/PID namespaces, private ``/proc``,
    ``/dev``, ``/tmp``, uid 1000 unless ``uid=0``, environment from scratch).
    """
    ensure_qemu_binfmt()
    sysroot = Path(sysroot).absolute()
    if not (sysroot / _MANIFEST).is_file():
        raise RuntimeError(f"{sysroot} is not a sysroot made by arm64_sysroot()")
    return CleanRoom(sysroot, "aarch64")


def aarch64_cleanroom(root: Path, sysroot: Path) -> CleanRoom:
    """An aarch64 clean room at ``root``: the policy's system libraries from ``sysroot`` + static busybox.

    ``CleanRoom.create(root, arch="aarch64", libs_from=sysroot)`` after
    :func:`ensure_qemu_binfmt`. The room's ``/lib/aarch64-linux-gnu`` holds the
    manylinux system libraries the sysroot has (libc, libm, libdl, librt,
    libpthread, libutil, libresolv, libnsl.so.1, libgcc_s, libstdc++ and
    ld-linux-aarch64.so.1; no X11/GL/glib unless the sysroot has them), the
    loader is at ``/lib/ld-linux-aarch64.so.1``. Nothing else: no Python, no libz.
    """
    ensure_qemu_binfmt()
    return CleanRoom.create(root, arch="aarch64", libs_from=sysroot)
