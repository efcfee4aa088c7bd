"""A "clean room" for running programs as they would run on a bare Linux machine.

The room is a directory tree that contains nothing but

* the glibc/manylinux system libraries named in ``bundler/relocate/policy/manylinux.json``
  (those of them that exist on the host), copied to ``/lib/<triplet>/<soname>``,
* the dynamic loader at its ABI path (``/lib64/ld-linux-x86-64.so.2`` on x86_64)
  and next to the other libraries,
* a statically linked busybox at ``/bin/busybox`` with its applets symlinked into
  ``/bin`` (plus ``/usr/bin/env``),
* ``/etc/passwd`` and ``/etc/group`` naming ``root`` and ``user`` (uid/gid 1000),
  a home directory ``/home/user`` owned by uid 1000, and empty mount points
  ``/proc``, ``/dev`` and ``/tmp``.

There is no Python, no libssl/libz/libffi, no ``ld.so.cache``, no
``/etc/ssl``, ``/usr/lib/ssl``, ``/usr/share/terminfo``, locales, gconv modules
or NSS plugins: anything a bundled runtime needs beyond the system libraries
must come from the bundle itself.

:meth:`CleanRoom.run` enters the room with ``unshare --mount --pid --fork
--kill-child`` (fresh mount and PID namespaces, private propagation). A small
init (the host's Python, running as root outside the room, never visible in the
room's filesystem) mounts ``proc`` on ``/proc``, a private tmpfs (mode 1777) on
``/tmp`` and a tmpfs on ``/dev`` holding ``null``, ``zero``, ``full``,
``random``, ``urandom``, ``tty``, the ``fd``/``stdin``/``stdout``/``stderr``
symlinks and a 1777 ``/dev/shm``, then bind-mounts the host paths the caller
shares with ``binds`` (e.g. one X11 socket); then it forks the program, which chroots into
the room, drops to uid/gid 1000 (no supplementary groups) and is exec'd with an
environment built from scratch: only ``HOME``, ``PATH``, ``LANG`` defaults plus
what the caller passes. Nothing is mounted in the host's namespace and every
run gets its own ``/tmp``.

Requirements: root on the host, util-linux ``unshare``/``mount``, and the Debian
package ``busybox-static``. :func:`require_root_tools` checks them and raises
:class:`RuntimeError` naming whatever is missing.

A room for another architecture: ``CleanRoom.create(root, arch="aarch64",
libs_from=sysroot)`` takes the policy's system libraries and the loader from
the root filesystem ``sysroot`` (e.g. Debian arm64 packages unpacked by
``tests/support/foreign.py``) instead of the host; the rest of the room (static x86_64
busybox, users, mounts) is the same, and the room's programs run through a
binfmt_misc handler with the F flag (``qemu-aarch64-static``), so no emulator
is visible inside.

Example::

    room = CleanRoom.create(tmp_path / "room")
    room.add_tree(dist_dir, "/opt/my app ü/rt")
    proc = room.run(["/opt/my app ü/rt/bin/python3", "-c", "print(1)"])
    assert proc.returncode == 0, proc.stderr
"""

from __future__ import annotations

import functools
import json
import os
import platform
import shutil
import stat
import struct
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

from bundler.relocate.policy import load_policy

__all__ = [
    "CleanRoom",
    "require_root_tools",
    "resolve_sysroot_library",
    "binfmt_handler",
    "BUSYBOX",
    "ROOM_UID",
    "ROOM_GID",
    "ROOM_HOME",
    "DEFAULT_PATH",
]

#: Where Debian's ``busybox-static`` installs the binary.
BUSYBOX = Path("/bin/busybox")
#: The unprivileged user the room runs programs as by default.
ROOM_UID = 1000
ROOM_GID = 1000
ROOM_USER = "user"
ROOM_HOME = "/home/user"
DEFAULT_PATH = "/bin:/usr/bin"
DEFAULT_LANG = "C.UTF-8"


# Host tools used by ``run`` (run as root, outside the room).
_HOST_TOOLS = ("unshare", "mount", "sh")
_HOST_SEARCH_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

# e_machine values and ldconfig -p tags per architecture.
_ARCH = {
    "x86_64": {"triplet": "x86_64-linux-gnu", "e_machine": 62, "ldconfig_tag": "x86-64"},
    "aarch64": {"triplet": "aarch64-linux-gnu", "e_machine": 183, "ldconfig_tag": "AArch64"},
}

# Device nodes created in the room's /dev tmpfs on every run: name, major, minor.
_DEVICES = (
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
)

# The namespace's init (PID 1), run by the host Python as root inside the new
# mount and PID namespaces. It mounts /proc, /tmp and /dev under the room, bind-mounts
# the shared host paths (``binds``, after /tmp so they can live there), forks
# the program's process (chroot, chdir, drop to uid/gid, exec with exactly the
# given environment), reaps orphans, forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT and
# reports the program's raw wait status on ``status_fd`` so ``run`` can tell an
# ``exit(139)`` from a SIGSEGV. As a root process that never changes credentials
# it keeps the parent-death signal ``unshare --kill-child`` gives it, so killing
# ``unshare`` (timeouts) tears the whole PID namespace down.
_INIT = r"""
import json, os, signal, subprocess, sys
cfg = json.loads(sys.argv[1])
root, argv, env = cfg["root"], cfg["argv"], cfg["env"]
status_fd = cfg["status_fd"]
os.set_inheritable(status_fd, False)
for fstype, opts, where in (("proc", "nosuid,nodev,noexec", "proc"),
                            ("tmpfs", "mode=1777,nosuid,nodev", "tmp"),
                            ("tmpfs", "mode=0755,nosuid", "dev")):
    subprocess.run([cfg["mount"], "-t", fstype, "-o", opts, fstype, root + "/" + where], check=True)
os.umask(0)
for name, major, minor in cfg["devices"]:
    os.mknod(root + "/dev/" + name, 0o20666, os.makedev(major, minor))
os.mkdir(root + "/dev/shm", 0o1777)
for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                     ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
    os.symlink(target, root + "/dev/" + name)
for src, dest in cfg["binds"]:
    where = root + dest
    parent = os.path.dirname(where)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    if os.path.isdir(src):
        os.makedirs(where, 0o755, exist_ok=True)
    elif not os.path.lexists(where):
        os.close(os.open(where, os.O_WRONLY | os.O_CREAT, 0o644))
    subprocess.run([cfg["mount"], "--bind", src, where], check=True)
sys.stdout.flush(); sys.stderr.flush()
pid = os.fork()
if pid == 0:
    step = "chroot"
    try:
        # Python ignores SIGPIPE/SIGXFSZ and handles SIGINT: give the program defaults.
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        os.chroot(root)
        step = "chdir to " + repr(cfg["cwd"])
        os.chdir(cfg["cwd"])
        step = "switch to uid %d gid %d" % (cfg["uid"], cfg["gid"])
        os.setgroups([])
        os.setgid(cfg["gid"])
        os.setuid(cfg["uid"])
        os.umask(0o022)
        step = "execute " + repr(argv[0])
        os.execvpe(argv[0], argv, env)
    except BaseException as exc:
        msg = "cleanroom: cannot %s: %s\n" % (step, exc)
        os.write(2, msg.encode("utf-8", "surrogateescape"))
        os._exit(127 if isinstance(exc, FileNotFoundError) else 126)
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
    signal.signal(sig, lambda signum, frame: os.kill(pid, signum))
while True:
    try:
        wpid, status = os.wait()
    except ChildProcessError:
        os._exit(125)
    if wpid == pid:
        break
os.write(status_fd, str(status).encode())
code = os.waitstatus_to_exitcode(status)
os._exit(code if code >= 0 else 128 - code)
"""


# --------------------------------------------------------------------------- helpers


def _arch() -> str:
    machine = platform.machine()
    if machine not in _ARCH:
        raise RuntimeError(f"clean room: unsupported host architecture {machine!r}")
    return machine



def _elf_info(path: Path) -> tuple[int, bool] | None:
    """Return ``(e_machine, has_PT_INTERP)`` of an ELF file, or None if not ELF."""
    try:
        with open(path, "rb") as fh:
            ident = fh.read(16)
            if len(ident) < 16 or ident[:4] != b"\x7fELF":
                return None
            is64 = ident[4] == 2
            endian = "<" if ident[5] == 1 else ">"
            if is64:
                hdr = fh.read(48)
                (_type, machine, _ver, _entry, phoff, _shoff, _flags, _ehsize,
                 phentsize, phnum) = struct.unpack(endian + "HHIQQQIHHH", hdr[:42])
            else:
                hdr = fh.read(36)
                (_type, machine, _ver, _entry, phoff, _shoff, _flags, _ehsize,
                 phentsize, phnum) = struct.unpack(endian + "HHIIIIIHHH", hdr[:30])
            has_interp = False
            for i in range(phnum):
                fh.seek(phoff + i * phentsize)
                (p_type,) = struct.unpack(endian + "I", fh.read(4))
                if p_type == 3:  # PT_INTERP
                    has_interp = True
                    break
            return machine, has_interp
    except (OSError, struct.error):
        return None


def _is_static_elf(path: Path) -> bool:
    info = _elf_info(path)
    return info is not None and not info[1]


@functools.lru_cache(maxsize=None)
def _ldconfig_map(tag: str) -> dict[str, Path]:
    """soname -> path from ``ldconfig -p`` for the given arch tag (e.g. ``x86-64``)."""
    ldconfig = shutil.which("ldconfig", path=_HOST_SEARCH_PATH)
    if not ldconfig:
        return {}
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, check=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    result: dict[str, Path] = {}
    for line in out.splitlines():
        line = line.strip()
        if " => " not in line or "(" not in line:
            continue
        left, target = line.split(" => ", 1)
        name, _, flags = left.partition(" (")
        if tag not in flags.rstrip(")").split(","):
            continue
        result.setdefault(name.strip(), Path(target.strip()))
    return result


def resolve_host_library(soname: str, arch: str | None = None) -> Path | None:
    """Find the host file (symlinks resolved) providing ``soname`` for ``arch``."""
    arch = arch or _arch()
    spec = _ARCH[arch]
    candidates: list[Path] = []
    hit = _ldconfig_map(spec["ldconfig_tag"]).get(soname)
    if hit is not None:
        candidates.append(hit)
    triplet = spec["triplet"]
    for d in (f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib64", "/usr/lib64"):
        candidates.append(Path(d) / soname)
    for cand in candidates:
        try:
            real = cand.resolve(strict=True)
        except OSError:
            continue
        info = _elf_info(real)
        if real.is_file() and info is not None and info[0] == spec["e_machine"]:
            return real
    return None


def _resolve_in_root(root: Path, path: str) -> Path | None:
    """Host path of the in-``root`` path ``path`` with every symlink resolved inside ``root``.

    Absolute link targets are taken relative to ``root`` (as in a chroot), ``..``
    never climbs above it. None if a component is missing or links loop.
    """
    todo = [p for p in path.split("/") if p not in ("", ".")]
    todo.reverse()
    done: list[str] = []
    hops = 0
    while todo:
        part = todo.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        cur = root.joinpath(*done, part)
        if cur.is_symlink():
            hops += 1
            if hops > 40:
                return None
            target = os.readlink(cur)
            if target.startswith("/"):
                done = []
            todo.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        if not cur.exists():
            return None
        done.append(part)
    return root.joinpath(*done)


def resolve_sysroot_library(soname: str, sysroot: Path, arch: str) -> Path | None:
    """Find the file providing ``soname`` for ``arch`` in the root filesystem ``sysroot``.

    Searches the multiarch and plain library directories of the sysroot (links
    resolved inside it, so merged-/usr and absolute symlinks work) and returns
    the host path of the regular file, or None.
    """
    spec = _ARCH[arch]
    sysroot = Path(sysroot).absolute()
    triplet = spec["triplet"]
    for d in (f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib64", "/usr/lib64", "/lib", "/usr/lib"):
        real = _resolve_in_root(sysroot, f"{d}/{soname}")
        if real is None or not real.is_file():
            continue
        info = _elf_info(real)
        if info is not None and info[0] == spec["e_machine"]:
            return real
    return None


_BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")


def binfmt_handler(arch: str) -> dict | None:
    """The enabled binfmt_misc handler for ELF binaries of ``arch``, or None.

    Returns ``{"name", "interpreter", "flags"}`` of the first enabled entry (in
    name order; the kernel itself tries the newest first) whose magic matches a
    64-bit little-endian ELF executable of ``arch``'s e_machine.
    """
    e_machine = _ARCH[arch]["e_machine"]
    try:
        if (_BINFMT_DIR / "status").read_text().strip() != "enabled":
            return None
        entries = sorted(_BINFMT_DIR.iterdir())
    except OSError:
        return None
    for entry in entries:
        if entry.name in ("register", "status"):
            continue
        try:
            lines = entry.read_text().splitlines()
        except OSError:
            continue
        fields: dict[str, str] = {}
        for line in lines[1:]:
            key, _, value = line.partition(" ")
            fields[key.rstrip(":")] = value.strip()
        if not lines or lines[0].strip() != "enabled" or fields.get("offset", "0") != "0":
            continue
        try:
            magic = bytes.fromhex(fields.get("magic", ""))
            mask = bytes.fromhex(fields["mask"]) if "mask" in fields else b"\xff" * len(magic)
        except ValueError:
            continue
        probe = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + struct.pack("<HH", 2, e_machine)
        if len(magic) < 20 or len(mask) != len(magic):
            continue
        if all((probe[i] & mask[i]) == (magic[i] & mask[i]) for i in range(20)):
            return {"name": entry.name, "interpreter": fields.get("interpreter", ""),
                    "flags": fields.get("flags", "")}
    return None


@functools.lru_cache(maxsize=None)
def _busybox_applets() -> tuple[str, ...]:
    out = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, check=True, text=True).stdout
    return tuple(a for a in (line.strip() for line in out.splitlines()) if a and "/" not in a)


@functools.lru_cache(maxsize=None)
def _host_tool(name: str) -> str:
    path = shutil.which(name, path=_HOST_SEARCH_PATH)
    if path is None:
        raise RuntimeError(f"clean room: host tool {name!r} not found in {_HOST_SEARCH_PATH}")
    return path


_tools_checked = False


def require_root_tools() -> None:
    """Check the host can build and enter clean rooms; raise RuntimeError if not.

    Needs: effective uid 0, ``unshare``/``mount`` (util-linux), ``sh``, a
    statically linked ``/bin/busybox`` (Debian ``busybox-static``) and a kernel
    that allows mount and PID namespaces (``ldconfig`` is used when present).
    The check is cached after the first success.
    """
    global _tools_checked
    if _tools_checked:
        return
    problems: list[str] = []
    if os.geteuid() != 0:
        problems.append(f"must run as root (euid is {os.geteuid()}) to unshare/chroot/mknod")
    missing = [t for t in _HOST_TOOLS if shutil.which(t, path=_HOST_SEARCH_PATH) is None]
    if missing:
        problems.append(
            "missing host tools: " + ", ".join(missing)
            + " (apt-get install -y util-linux mount dash)"
        )
    if not BUSYBOX.is_file():
        problems.append(f"{BUSYBOX} missing: apt-get install -y busybox-static")
    elif not _is_static_elf(BUSYBOX):
        problems.append(
            f"{BUSYBOX} is not statically linked (has PT_INTERP): "
            "apt-get install -y busybox-static (not the dynamic 'busybox' package)"
        )
    try:
        _arch()
    except RuntimeError as exc:
        problems.append(str(exc))
    if not problems:
        probe = subprocess.run(
            [_host_tool("unshare"), "--mount", "--pid", "--fork", "--kill-child", "--",
             _host_tool("sh"), "-c", "mount -t tmpfs tmpfs /tmp && mount -t proc proc /proc"],
            capture_output=True, env={"PATH": _HOST_SEARCH_PATH}, timeout=60,
        )
        if probe.returncode != 0:
            problems.append(
                "kernel/container refuses mount+PID namespaces (unshare --mount --pid failed: "
                + probe.stderr.decode(errors="replace").strip() + ")"
            )
    if problems:
        raise RuntimeError("clean room unavailable: " + "; ".join(problems))
    _tools_checked = True


def _make_readable(path: Path) -> None:
    """Add the permission bits uid 1000 needs to read (and traverse/execute) ``path``."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        new = mode | 0o555
    else:
        new = mode | 0o444
        if mode & 0o111:
            new |= 0o111
    if new != mode:
        os.chmod(path, new)


def _walk_fix(top: Path, owner: tuple[int, int] | None) -> None:
    paths = [top]
    if top.is_dir() and not top.is_symlink():
        for dirpath, dirnames, filenames in os.walk(top):
            paths.extend(Path(dirpath) / n for n in dirnames + filenames)
    for p in paths:
        _make_readable(p)
        if owner is not None:
            os.lchown(p, *owner)


def _install_file(src: Path, dst: Path, mode: int) -> None:
    """Copy ``src`` (symlinks followed) to ``dst`` atomically with ``mode``."""
    tmp = dst.with_name(f".{dst.name}.cleanroom-tmp")
    shutil.copyfile(src, tmp)
    os.chmod(tmp, mode)
    os.replace(tmp, dst)


def _symlink(target: str, link: Path) -> None:
    if link.is_symlink() or link.exists():
        if link.is_symlink() and os.readlink(link) == target:
            return
        link.unlink()
    os.symlink(target, link)


def _mkdir(path: Path, mode: int = 0o755) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)


# --------------------------------------------------------------------------- the room


class CleanRoom:
    """A bare root filesystem (system libraries + static busybox) to run programs in."""

    root: Path
    #: soname -> in-room path of every system library copied into the room.
    libraries: dict[str, str]

    #: The architecture of the room's libraries (the host's unless created for another).
    arch: str

    def __init__(self, root: Path, arch: str | None = None) -> None:
        """Wrap an existing room; use :meth:`create` to build one."""
        self.root = Path(root).absolute()
        self.libraries = {}
        self.arch = arch or platform.machine()

    # ---------------------------------------------------------------- building

    @classmethod
    def create(cls, root: Path, *, arch: str | None = None, libs_from: Path | None = None) -> "CleanRoom":
        """Build (or refresh) the room's base tree at ``root`` and return it.

        Re-running on an existing room rewrites the base tree and keeps anything
        added with :meth:`add_tree`/:meth:`add_file`.

        By default the system libraries are the host's, for the host's
        architecture. ``arch`` (``"x86_64"``/``"aarch64"``) with ``libs_from`` (a
        root filesystem of that architecture, e.g. an unpacked Debian sysroot)
        builds a room whose system libraries and loader come from that sysroot
        instead; busybox stays the host's static one. A room for a foreign
        architecture needs a binfmt_misc handler for it registered with the F
        flag (e.g. ``qemu-aarch64``; see ``tests/support/foreign.py``), else RuntimeError.
        """
        require_root_tools()
        host_arch = _arch()
        arch = arch or host_arch
        if arch not in _ARCH:
            raise ValueError(f"clean room: unsupported architecture {arch!r} (known: {', '.join(_ARCH)})")
        if libs_from is None and arch != host_arch:
            raise ValueError(f"clean room: an {arch} room on an {host_arch} host needs libs_from=<{arch} sysroot>")
        if libs_from is not None and not Path(libs_from).is_dir():
            raise NotADirectoryError(f"clean room: libs_from {libs_from} is not a directory")
        if arch != host_arch:
            handler = binfmt_handler(arch)
            if handler is None or "F" not in handler["flags"]:
                raise RuntimeError(
                    f"clean room: no binfmt_misc handler with the F flag runs {arch} programs "
                    f"(found {handler}); call foreign.ensure_qemu_binfmt() (qemu-user-static)"
                )
        room = cls(root, arch)
        triplet = _ARCH[arch]["triplet"]
        policy = load_policy("manylinux")
        r = room.root
        _mkdir(r, 0o755)
        for d in ("bin", "usr", "usr/bin", "etc", "home", "proc", "dev", "lib", f"lib/{triplet}"):
            _mkdir(r / d, 0o755)
        _mkdir(r / "tmp", 0o1777)
        _mkdir(r / "root", 0o700)
        _mkdir(r / ROOM_HOME.lstrip("/"), 0o755)
        os.chown(r / ROOM_HOME.lstrip("/"), ROOM_UID, ROOM_GID)

        # System libraries: exactly the policy's sonames that the host has.
        libdir = r / "lib" / triplet
        for soname in sorted(policy.system_libraries):
            if libs_from is None:
                src = resolve_host_library(soname, arch)
            else:
                src = resolve_sysroot_library(soname, Path(libs_from), arch)
            if src is None:
                continue
            mode = 0o755 if (src.stat().st_mode & 0o111) else 0o644
            _install_file(src, libdir / soname, mode)
            room.libraries[soname] = f"/lib/{triplet}/{soname}"

        # The loader at its ABI path (what PT_INTERP of every binary names).
        loader = policy.loader(arch)
        loader_name = Path(loader).name
        if loader_name not in room.libraries:
            where = "host" if libs_from is None else f"sysroot {libs_from}"
            raise RuntimeError(f"clean room: {where} has no loader {loader_name}")
        loader_dst = room.host_path(loader)
        if loader_dst.parent != libdir:
            _mkdir(loader_dst.parent, 0o755)
            _install_file(libdir / loader_name, loader_dst, 0o755)

        # Busybox and its applets.
        _install_file(BUSYBOX, r / "bin" / "busybox", 0o755)
        for applet in _busybox_applets():
            if applet == "busybox":
                continue
            _symlink("busybox", r / "bin" / applet)
        _symlink("/bin/busybox", r / "usr" / "bin" / "env")

        # Users.
        (r / "etc" / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/sh\n"
            f"{ROOM_USER}:x:{ROOM_UID}:{ROOM_GID}:{ROOM_USER}:{ROOM_HOME}:/bin/sh\n",
            encoding="ascii",
        )
        (r / "etc" / "group").write_text(
            f"root:x:0:\n{ROOM_USER}:x:{ROOM_GID}:\n", encoding="ascii"
        )
        for name in ("passwd", "group"):
            os.chmod(r / "etc" / name, 0o644)
        return room

    def host_path(self, dest: str) -> Path:
        """Host path of the absolute in-room path ``dest`` (may not exist yet)."""
        if not dest.startswith("/"):
            raise ValueError(f"in-room path must be absolute: {dest!r}")
        parts = [p for p in dest.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise ValueError(f"in-room path must not contain '..': {dest!r}")
        return self.root.joinpath(*parts)

    def _parent_dirs(self, host: Path) -> None:
        parent = host.parent
        missing: list[Path] = []
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for p in reversed(missing):
            p.mkdir()
            os.chmod(p, 0o755)

    def add_tree(self, src: Path, dest: str, *, owner: int | None = None) -> Path:
        """Copy the host directory ``src`` to the in-room path ``dest``.

        Symlinks are copied as symlinks, modes and mtimes are preserved, with
        read (and, for directories/executables, execute) bits added so uid 1000
        can use the tree. Files stay root-owned unless ``owner`` (a uid; the gid
        is the same number) is given. Merges into an existing directory.
        Returns the host path of ``dest``.
        """
        src = Path(src)
        if not src.is_dir():
            raise NotADirectoryError(f"add_tree: {src} is not a directory")
        host = self.host_path(dest)
        self._parent_dirs(host)
        shutil.copytree(src, host, symlinks=True, dirs_exist_ok=True)
        _walk_fix(host, (owner, owner) if owner is not None else None)
        return host

    def add_file(
        self,
        src_or_bytes: Path | str | bytes,
        dest: str,
        mode: int = 0o644,
        *,
        owner: int | None = None,
    ) -> Path:
        """Put a file at the in-room path ``dest`` with ``mode``; return its host path.

        ``src_or_bytes`` is either the file's content (``bytes``) or a host path
        (``Path``/``str``, symlinks followed).
        """
        host = self.host_path(dest)
        self._parent_dirs(host)
        if isinstance(src_or_bytes, (bytes, bytearray, memoryview)):
            if host.is_symlink():
                host.unlink()
            host.write_bytes(bytes(src_or_bytes))
            os.chmod(host, mode)
        else:
            _install_file(Path(src_or_bytes), host, mode)
        if owner is not None:
            os.chown(host, owner, owner)
        return host

    # ---------------------------------------------------------------- running

    def environment(self, env: Mapping[str, str] | None = None, *, uid: int = ROOM_UID) -> dict[str, str]:
        """The exact environment :meth:`run` gives the program."""
        result = {
            "HOME": ROOM_HOME if uid != 0 else "/root",
            "PATH": DEFAULT_PATH,
            "LANG": DEFAULT_LANG,
        }
        if env:
            result.update(env)
        for key, value in result.items():
            if not key or "=" in key or "\0" in key or "\0" in value:
                raise ValueError(f"invalid environment entry {key!r}={value!r}")
        return result

    def _command(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None,
        cwd: str,
        uid: int,
        gid: int | None,
        status_fd: int,
        binds: Mapping[str | os.PathLike, str] | None = None,
    ) -> list[str]:
        if not argv:
            raise ValueError("argv must not be empty")
        if not cwd.startswith("/"):
            raise ValueError(f"cwd must be an absolute in-room path: {cwd!r}")
        shared = []
        for src, dest in (binds or {}).items():
            self.host_path(dest)  # absolute, no '..'
            if not os.path.lexists(src):
                raise FileNotFoundError(f"binds: host path {src} does not exist")
            shared.append((os.path.abspath(src), "/" + "/".join(p for p in dest.split("/") if p not in ("", "."))))
        cfg = {
            "root": str(self.root),
            "argv": [str(a) for a in argv],
            "env": self.environment(env, uid=uid),
            "cwd": cwd,
            "uid": uid,
            "gid": uid if gid is None else gid,
            "status_fd": status_fd,
            "mount": _host_tool("mount"),
            "devices": _DEVICES,
            "binds": shared,
        }
        return [
            _host_tool("unshare"), "--mount", "--pid", "--fork", "--kill-child",
            "--propagation", "private", "--",
            sys.executable, "-I", "-S", "-c", _INIT, json.dumps(cfg),
        ]

    def run(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str = "/",
        uid: int = ROOM_UID,
        gid: int | None = None,
        input: bytes | None = None,
        timeout: float = 120,
        binds: Mapping[str | os.PathLike, str] | None = None,
    ) -> subprocess.CompletedProcess:
        """Run ``argv`` inside the room, wait for it and capture its output.

        * as ``uid``:``gid`` (gid defaults to uid; no supplementary groups),
          umask 022, default signal dispositions,
        * in the in-room directory ``cwd`` (``argv[0]`` without a slash is
          looked up in the room using the program's ``PATH``),
        * with exactly the ``HOME``/``PATH``/``LANG`` defaults updated by
          ``env``: no host variable leaks in (pass ``PATH`` etc. to override),
        * with its own PID namespace (a root init is PID 1, the program is its
          child) and private ``/proc``, ``/dev`` and ``/tmp``,
        * stdin is ``input`` (or empty); stdout/stderr are captured as bytes,
        * ``binds`` (``{host_path: in_room_path}``) are bind-mounted into the
          room for this run only, after the private ``/tmp``, so a path under
          ``/tmp`` works (e.g. ``{"/tmp/.X11-unix/X5": "/tmp/.X11-unix/X5"}``
          shares one X server's socket). Missing mount points are created (a
          directory, or an empty file for anything else); those outside
          ``/tmp`` and ``/dev`` stay in the room's tree.

        ``returncode`` follows :mod:`subprocess`: the exit status, or ``-N`` if
        the program was killed by signal N. A program that cannot be started
        gives 127 (not found) or 126 with a ``cleanroom:`` message on stderr.
        When the program exits, any processes it left behind are killed.
        On timeout the whole PID namespace is killed and
        :class:`subprocess.TimeoutExpired` (with the output so far) propagates.
        """
        status_r, status_w = os.pipe()
        try:
            cmd = self._command(argv, env=env, cwd=cwd, uid=uid, gid=gid, status_fd=status_w, binds=binds)
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(status_w,),
                env={"PATH": _HOST_SEARCH_PATH, "LC_ALL": "C"},
                cwd="/",
            )
        except BaseException:
            os.close(status_r)
            raise
        finally:
            os.close(status_w)
        with proc, open(status_r, "rb") as status_file:
            try:
                stdout, stderr = proc.communicate(input if input is not None else b"", timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()  # --kill-child: init dies, the kernel kills the namespace
                stdout, stderr = proc.communicate()
                raise subprocess.TimeoutExpired(list(argv), timeout, output=stdout, stderr=stderr) from None
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            status = status_file.read()
        returncode = proc.returncode
        if status:  # the program ran: report its own wait status
            returncode = os.waitstatus_to_exitcode(int(status))
        return subprocess.CompletedProcess(list(argv), returncode, stdout, stderr)

    def __repr__(self) -> str:
        if self.arch != platform.machine():
            return f"CleanRoom({str(self.root)!r}, arch={self.arch!r})"
        return f"CleanRoom({str(self.root)!r})"
