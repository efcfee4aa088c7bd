"""The linux-aarch64 test infrastructure (tests/support/foreign.py): an arm64 CPython and an aarch64 clean room.

Everything here is real: Debian 12 arm64 packages from deb.debian.org, programs
compiled for aarch64 by zig, run by qemu-user through binfmt_misc in chroots.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path

import pytest

from bundler.relocate.policy import load_policy
from support.cleanroom import CleanRoom, binfmt_handler
from support.foreign import (
    ARM64_PACKAGES,
    QEMU_AARCH64,
    aarch64_cleanroom,
    arm64_sysroot,
    elf_machine,
    ensure_qemu_binfmt,
    missing_libraries,
    qemu_env,
    qemu_handler,
    register_binfmt,
    sysroot_room,
)
from support.native import zig_cc

TARGET = "aarch64-linux-gnu.2.17"
APP_DIR = "/opt/app ü"

HELLO_C = r"""
#include <stdio.h>
#include <unistd.h>
#include <sys/utsname.h>
int main(int argc, char **argv) {
    struct utsname u;
    uname(&u);
    printf("machine=%s\n", u.machine);
    for (int i = 1; i < argc; i++) printf("arg=%s\n", argv[i]);
    printf("uid=%d\n", (int)getuid());
    return 0;
}
"""

# No zlib headers for aarch64 on the host: declare the one function used.
ZLIB_C = r"""
#include <stdio.h>
const char *zlibVersion(void);
int main(void) { printf("zlib %s\n", zlibVersion()); return 0; }
"""

PY_CHECK = r"""
import bz2, ctypes, decimal, lzma, platform, sqlite3, ssl, sys, zlib
print(platform.machine())
print(sys.version_info[:2] == (3, 11), sys.prefix, sys.executable)
print(ssl.OPENSSL_VERSION)
db = sqlite3.connect(":memory:")
print(db.execute("select sqlite_version(), 6 * 7").fetchone()[1])
libc = ctypes.CDLL(None)
print(libc.getpid() == __import__("os").getpid())
data = b"aarch64 " * 1000
print(all(m.decompress(m.compress(data)) == data for m in (bz2, lzma, zlib)))
print(decimal.Decimal(1) / decimal.Decimal(7))
"""


def e_machine(path: Path) -> int:
    """e_machine straight from the ELF header (no `file`, no helper under test)."""
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and head[4] == 2 and head[5] == 1, head  # ELF64, little endian
    return struct.unpack("<H", head[18:20])[0]


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout.decode()


@pytest.fixture(scope="session")
def arm64_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Debian 12 arm64 CPython 3.11 sysroot (downloaded once per session)."""
    base = tmp_path_factory.mktemp("arm64")
    return arm64_sysroot(base / "sysroot", cache=base / "cache")


@pytest.fixture(scope="module")
def aroom(tmp_path_factory: pytest.TempPathFactory, arm64_root: Path) -> CleanRoom:
    return aarch64_cleanroom(tmp_path_factory.mktemp("aroom") / "root", arm64_root)


@pytest.fixture(scope="module")
def aprograms(tmp_path_factory: pytest.TempPathFactory, arm64_root: Path) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("aprogs")
    libz = arm64_root / "usr/lib/aarch64-linux-gnu/libz.so.1"
    return {
        "hello": zig_cc(tmp / "hello", {"hello.c": HELLO_C}, target=TARGET),
        "zlib": zig_cc(tmp / "zprog", {"z.c": ZLIB_C}, str(libz), target=TARGET),
    }


def test_sysroot_is_a_merged_usr_arm64_debian(arm64_root: Path) -> None:
    python = arm64_root / "usr/bin/python3.11"
    assert e_machine(python) == 183  # EM_AARCH64
    assert elf_machine(python) == "aarch64"
    from elftools.elf.elffile import ELFFile

    with open(python, "rb") as fh:
        interp = [s.get_interp_name() for s in ELFFile(fh).iter_segments() if s["p_type"] == "PT_INTERP"]
    assert interp == ["/lib/ld-linux-aarch64.so.1"]
    # merged /usr: the loader named by PT_INTERP is reachable through lib -> usr/lib
    assert os.readlink(arm64_root / "lib") == "usr/lib"
    assert e_machine((arm64_root / "lib/ld-linux-aarch64.so.1").resolve()) == 183
    for lib in ("libc.so.6", "libz.so.1", "libssl.so.3", "libffi.so.8", "libsqlite3.so.0", "libstdc++.so.6"):
        assert e_machine((arm64_root / "usr/lib/aarch64-linux-gnu" / lib).resolve()) == 183, lib
    assert (arm64_root / "usr/lib/python3.11/os.py").is_file()
    dynload = {p.name.split(".")[0] for p in (arm64_root / "usr/lib/python3.11/lib-dynload").glob("*.so")}
    assert {"_ssl", "_sqlite3", "_ctypes", "_lzma", "_bz2", "_decimal", "_hashlib", "_uuid", "readline"} <= dynload
    assert all(p.name.endswith("-aarch64-linux-gnu.so") for p in (arm64_root / "usr/lib/python3.11/lib-dynload").glob("*.so"))
    # every library python3.11 and its extension modules load is in the sysroot
    assert missing_libraries(arm64_root) == {}
    manifest = json.loads((arm64_root / ".foreign-sysroot.json").read_text())
    assert sorted(manifest["packages"]) == sorted(ARM64_PACKAGES)
    assert all(name.endswith("_arm64.deb") for name in manifest["packages"].values())
    assert manifest["packages"]["libc6"].startswith("libc6_2.36-")  # bookworm's glibc
    # no emulator inside: the kernel's F-flag handler runs it
    assert not any((arm64_root / d).joinpath("qemu-aarch64-static").exists() for d in ("usr/bin", "usr/libexec"))


def test_arm64_sysroot_is_idempotent(arm64_root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    before = (arm64_root / ".foreign-sysroot.json").stat().st_mtime_ns
    again = arm64_sysroot(arm64_root, cache=arm64_root.parent / "cache")
    assert again == arm64_root
    assert (arm64_root / ".foreign-sysroot.json").stat().st_mtime_ns == before
    # a directory that is not ours is refused, not overwritten
    foreign_dir = tmp_path_factory.mktemp("not-a-sysroot")
    (foreign_dir / "keep.txt").write_text("mine")
    with pytest.raises(RuntimeError, match="not a sysroot"):
        arm64_sysroot(foreign_dir, cache=arm64_root.parent / "cache")
    assert (foreign_dir / "keep.txt").read_text() == "mine"


def test_sysroot_python_runs_under_qemu_in_plain_chroot(arm64_root: Path) -> None:
    room = sysroot_room(arm64_root)
    out = _ok(room.run(["/usr/bin/python3.11", "-c", PY_CHECK])).splitlines()
    assert out[0] == "aarch64"
    assert out[1] == "True /usr /usr/bin/python3.11"
    assert out[2].startswith("OpenSSL 3.0.")
    assert out[3:] == ["42", "True", "True", "0.1428571428571428571428571429"]
    # the same via PATH, as uid 1000 and as root
    assert _ok(room.run(["python3.11", "-c", "import os; print(os.getuid())"])).strip() == "1000"
    assert _ok(room.run(["python3.11", "-c", "import os; print(os.getuid())"], uid=0)).strip() == "0"


def test_sysroot_python_runs_on_the_host_with_qemu_env(arm64_root: Path) -> None:
    python = arm64_root / "usr/bin/python3.11"
    env = {"PATH": "/usr/bin:/bin", **qemu_env(arm64_root)}
    proc = subprocess.run([str(python), "-c", "import sys, platform; print(platform.machine()); print(sys.prefix)"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["aarch64", str(arm64_root / "usr")]
    # without it the host has no aarch64 loader: the exec itself fails
    bare = subprocess.run([str(python), "-c", "pass"], capture_output=True, env={"PATH": "/usr/bin:/bin"})
    assert bare.returncode != 0


def test_qemu_binfmt_is_registered_with_fix_binary_flag() -> None:
    ensure_qemu_binfmt()
    ensure_qemu_binfmt()  # idempotent
    handler = binfmt_handler("aarch64")
    assert handler is not None
    assert "F" in handler["flags"]
    assert os.path.realpath(handler["interpreter"]) == os.path.realpath(QEMU_AARCH64)
    assert Path("/proc/sys/fs/binfmt_misc/status").read_text().strip() == "enabled"


def test_register_binfmt_fallback_registers_a_working_handler(aroom: CleanRoom, aprograms: dict[str, Path]) -> None:
    """register_binfmt (ensure_qemu_binfmt's own registration path) on a private entry.

    The entry matches only aarch64 ELF files whose last e_ident padding byte is
    0x42, a byte loaders ignore and the system's qemu-aarch64 entry requires to be
    0: a marked copy of a program runs exactly while this entry exists, and
    nothing else on the host is affected.
    """
    marked = bytearray(aprograms["hello"].read_bytes())
    marked[15] = 0x42
    aroom.add_file(bytes(marked), "/opt/marked-hello", 0o755)
    magic = b"\x7fELF\x02\x01\x01" + b"\x00" * 8 + b"\x42\x02\x00\xb7\x00"
    mask = b"\xff" * 7 + b"\x00" + b"\xff" * 8 + b"\xfe\xff\xff\xff"
    name = f"bundler-test-{os.getpid()}"
    entry = Path("/proc/sys/fs/binfmt_misc") / name
    before = aroom.run(["/opt/marked-hello"])
    assert before.returncode == 126 and b"Exec format error" in before.stderr, before
    interpreter, flags = qemu_handler()
    register_binfmt(name, interpreter, flags, magic=magic, mask=mask)
    try:
        lines = entry.read_text().splitlines()
        assert lines[0] == "enabled"
        assert f"interpreter {interpreter}" in lines
        assert "flags: " + "".join(sorted(flags, key="POCF".index)) in lines
        assert "magic " + magic.hex() in lines and "mask " + mask.hex() in lines
        assert "F" in flags
        # F: the interpreter was opened at registration, the chroot needs no qemu
        assert _ok(aroom.run(["/opt/marked-hello", "x"])).splitlines() == ["machine=aarch64", "arg=x", "uid=1000"]
    finally:
        if entry.exists():
            entry.write_text("-1")
    assert not entry.exists()
    assert aroom.run(["/opt/marked-hello"]).returncode == 126


def test_aarch64_room_holds_only_the_policy_system_libraries(aroom: CleanRoom) -> None:
    policy = load_policy("manylinux")
    libdir = aroom.root / "lib" / "aarch64-linux-gnu"
    present = sorted(p.name for p in libdir.iterdir())
    assert aroom.arch == "aarch64"
    assert present == sorted(aroom.libraries)
    assert set(present) <= policy.system_libraries
    assert {"ld-linux-aarch64.so.1", "libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0",
            "libgcc_s.so.1", "libstdc++.so.6"} <= set(present)
    assert all(e_machine(libdir / name) == 183 for name in present)
    loader = aroom.root / policy.loader("aarch64").lstrip("/")
    assert loader.is_file() and not loader.is_symlink() and e_machine(loader) == 183
    # (other tests of this module put their programs under /opt)
    top = sorted(p.name for p in aroom.root.iterdir() if p.name != "opt")
    assert top == ["bin", "dev", "etc", "home", "lib", "proc", "root", "tmp", "usr"]
    files = [str(Path(d, n).relative_to(aroom.root)) for d, dirs, names in os.walk(aroom.root)
             if d != str(aroom.root / "bin") and not d.startswith(str(aroom.root / "opt")) for n in names]
    forbidden = ("python", "libz.so", "libssl", "libcrypto", "libffi", "qemu", "x86_64")
    assert [f for f in files if any(w in f for w in forbidden)] == []
    # the host's static busybox is the room's shell; it sees only the aarch64 system set
    out = _ok(aroom.run(["sh", "-c", "id -u; ls /lib/aarch64-linux-gnu; which python3 qemu-aarch64-static; echo done"]))
    assert out.splitlines()[0] == "1000"
    assert out.splitlines()[1:-1] == present
    assert out.splitlines()[-1] == "done"


def test_aarch64_libc_program_runs_in_room(aroom: CleanRoom, aprograms: dict[str, Path]) -> None:
    assert e_machine(aprograms["hello"]) == 183
    aroom.add_file(aprograms["hello"], f"{APP_DIR}/hello", 0o755)
    proc = aroom.run([f"{APP_DIR}/hello", "two words", "grüße"], cwd=APP_DIR)
    assert _ok(proc).splitlines() == ["machine=aarch64", "arg=two words", "arg=grüße", "uid=1000"]
    assert proc.stderr == b""


def test_aarch64_program_needing_libz_fails_in_room(aroom: CleanRoom, aprograms: dict[str, Path],
                                                    arm64_root: Path) -> None:
    # The program is fine: in the sysroot (which has zlib1g) it runs...
    sysroot = sysroot_room(arm64_root)
    sysroot.add_file(aprograms["zlib"], "/opt/zprog", 0o755)
    assert _ok(sysroot.run(["/opt/zprog"])).startswith("zlib 1.2.")
    # ...but libz is not a system library, so the clean room's loader cannot find it.
    aroom.add_file(aprograms["zlib"], f"{APP_DIR}/zprog", 0o755)
    proc = aroom.run([f"{APP_DIR}/zprog"])
    assert proc.returncode == 127, (proc.returncode, proc.stderr)
    assert b"libz.so.1: cannot open shared object file" in proc.stderr
    assert proc.stdout == b""


def test_host_architecture_room_is_unchanged(tmp_path: Path) -> None:
    # The default (host) room is built exactly as before the arch option existed.
    room = CleanRoom.create(tmp_path / "room")
    assert room.arch == "x86_64" and repr(room) == f"CleanRoom({str(room.root)!r})"
    assert (room.root / "lib64/ld-linux-x86-64.so.2").is_file()
    with pytest.raises(ValueError, match="libs_from"):
        CleanRoom.create(tmp_path / "other", arch="aarch64")
