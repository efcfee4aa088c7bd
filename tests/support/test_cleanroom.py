"""Tests of the clean-room harness itself (tests/support/cleanroom.py)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bundler.relocate.policy import load_policy
from support.cleanroom import BUSYBOX, CleanRoom, _is_static_elf, require_root_tools

ARGV_PROGRAM = r"""
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char cwd[4096];
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    if (getcwd(cwd, sizeof cwd)) printf("cwd=%s\n", cwd);
    printf("uid=%d\n", (int)getuid());
    return 0;
}
"""

ZLIB_PROGRAM = r"""
#include <stdio.h>
#include <zlib.h>
int main(void) { printf("zlib %s\n", zlibVersion()); return 0; }
"""

APP_DIR = "/opt/my app ü"


def _compile(tmp: Path, name: str, source: str, *libs: str) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise RuntimeError("gcc is required to test the clean room (apt-get install -y gcc)")
    src = tmp / f"{name}.c"
    src.write_text(source)
    out = tmp / name
    subprocess.run([gcc, "-O0", "-o", str(out), str(src), *libs], check=True)
    return out


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> CleanRoom:
    require_root_tools()
    return CleanRoom.create(tmp_path_factory.mktemp("cleanroom") / "room")


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("cprogs")
    return {
        "argv": _compile(tmp, "argv", ARGV_PROGRAM),
        "zlib": _compile(tmp, "zlib", ZLIB_PROGRAM, "-lz"),
    }


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout.decode()


def test_require_root_tools_and_static_busybox() -> None:
    require_root_tools()
    assert _is_static_elf(BUSYBOX)


def test_busybox_shell_runs_as_unprivileged_user(room: CleanRoom) -> None:
    out = _ok(room.run(["sh", "-c", 'id -u; id -g; id -G; echo "$HOME"; touch "$HOME/w" && echo writable']))
    assert out.split("\n")[:5] == ["1000", "1000", "1000", "/home/user", "writable"]
    assert _ok(room.run(["id", "-un"])).strip() == "user"
    # uid 0 on request, and the room's root-only home stays closed to the user
    assert _ok(room.run(["id", "-u"], uid=0)).strip() == "0"
    assert room.run(["ls", "/root"]).returncode != 0


def test_room_holds_only_system_libraries_and_busybox(room: CleanRoom) -> None:
    policy = load_policy("manylinux")
    libdir = room.root / "lib" / "x86_64-linux-gnu"
    present = sorted(p.name for p in libdir.iterdir())
    assert present == sorted(room.libraries)
    assert set(present) <= policy.system_libraries
    assert {"libc.so.6", "ld-linux-x86-64.so.2"} <= set(present)
    assert (room.root / "lib64" / "ld-linux-x86-64.so.2").is_file()
    # Every file in the room, by in-room path.
    files = {
        "/" + str(Path(d, n).relative_to(room.root))
        for d, dirs, names in os.walk(room.root)
        for n in dirs + names
        if d != str(room.root / "bin")  # busybox applet names (e.g. ssl_client)
    }
    forbidden = ("python", "libssl", "libcrypto", "libz.so", "libffi", "terminfo", "ssl", "locale", "gconv", "libnss", "ld.so.cache")
    offenders = sorted(f for f in files if any(word in f for word in forbidden))
    assert offenders == []
    for d in ("/etc/ssl", "/usr/lib/ssl", "/usr/share/terminfo", "/usr/lib", "/usr/share", "/usr/local"):
        assert not room.host_path(d).exists(), d
    # Top level is exactly what the harness promises.
    assert sorted(p.name for p in room.root.iterdir()) == sorted(
        ["bin", "dev", "etc", "home", "lib", "lib64", "proc", "root", "tmp", "usr"]
    )
    assert sorted(p.name for p in (room.root / "etc").iterdir()) == ["group", "passwd"]
    # Only busybox (and its applet symlinks) is executable in /bin.
    for entry in (room.root / "bin").iterdir():
        assert entry.name == "busybox" or os.readlink(entry) == "busybox", entry
    # Seen from inside: no python anywhere on PATH, no libssl/libz.
    out = _ok(room.run(["sh", "-c", "which python3 python; ls /lib/x86_64-linux-gnu; ls /usr/bin; echo done"]))
    assert "python" not in out and "libssl" not in out and "libz" not in out
    assert out.rstrip().endswith("done")


def test_dynamic_libc_program_runs_with_unicode_and_spaces(room: CleanRoom, programs: dict[str, Path]) -> None:
    prog = room.add_file(programs["argv"], f"{APP_DIR}/prog", 0o755)
    assert prog == room.root / "opt" / "my app ü" / "prog"
    args = ["two words", "grüße ✓ 日本", ""]
    proc = room.run([f"{APP_DIR}/prog", *args], cwd=APP_DIR)
    out = _ok(proc)
    assert out.splitlines() == [
        f"argv[0]={APP_DIR}/prog",
        "argv[1]=two words",
        "argv[2]=grüße ✓ 日本",
        "argv[3]=",
        f"cwd={APP_DIR}",
        "uid=1000",
    ]
    assert proc.stderr == b""


def test_program_needing_libz_fails_inside(room: CleanRoom, programs: dict[str, Path]) -> None:
    # It works on the host...
    host = subprocess.run([str(programs["zlib"])], capture_output=True)
    assert host.returncode == 0 and host.stdout.startswith(b"zlib ")
    # ...but libz is not a system library, so the room's loader cannot find it.
    room.add_file(programs["zlib"], f"{APP_DIR}/zprog", 0o755)
    proc = room.run([f"{APP_DIR}/zprog"])
    assert proc.returncode != 0
    assert b"libz.so.1" in proc.stderr and b"cannot open shared object file" in proc.stderr


def test_tmp_is_writable_and_private(room: CleanRoom) -> None:
    out = _ok(room.run(["sh", "-c", "stat -c %a /tmp; echo hi > /tmp/marker && cat /tmp/marker; ls -A /tmp"]))
    assert out.split() == ["1777", "hi", "marker"]
    # A later run gets an empty /tmp, and nothing landed on the host's room dir.
    assert _ok(room.run(["ls", "-A", "/tmp"])) == ""
    assert list((room.root / "tmp").iterdir()) == []
    # /dev has the usual nodes and they work for the unprivileged user.
    out = _ok(room.run(["sh", "-c", "echo x > /dev/null && head -c 4 /dev/urandom | wc -c && head -c 3 /dev/zero | wc -c"]))
    assert out.split() == ["4", "3"]


def test_environment_is_exactly_what_was_passed(room: CleanRoom, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOO", "host-secret")
    monkeypatch.setenv("PYTHONPATH", "/host/site-packages")
    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/lib/x86_64-linux-gnu")
    out = _ok(room.run(["env"], env={"BAR": "a b ü", "LANG": "C"}))
    env = dict(line.split("=", 1) for line in out.splitlines())
    assert env == {"HOME": "/home/user", "PATH": "/bin:/usr/bin", "LANG": "C", "BAR": "a b ü"}
    out = _ok(room.run(["env"]))
    assert dict(line.split("=", 1) for line in out.splitlines()) == {
        "HOME": "/home/user", "PATH": "/bin:/usr/bin", "LANG": "C.UTF-8",
    }


def test_add_tree_preserves_symlinks_and_modes(room: CleanRoom, tmp_path: Path) -> None:
    src = tmp_path / "tree"
    (src / "bin").mkdir(parents=True)
    script = src / "bin" / "hello"
    script.write_text('#!/bin/sh\necho "hello from $0"\n')
    script.chmod(0o700)  # owner-only: the harness must make it usable by uid 1000
    (src / "data.txt").write_text("payload\n")
    (src / "data.txt").chmod(0o600)
    (src / "link").symlink_to("bin/hello")
    host = room.add_tree(src, "/opt/tree ü")
    assert host == room.host_path("/opt/tree ü")
    assert os.readlink(host / "link") == "bin/hello"
    assert (host / "bin" / "hello").stat().st_mode & 0o777 == 0o755
    assert (host / "data.txt").stat().st_mode & 0o777 == 0o644
    out = _ok(room.run(["/opt/tree ü/link"]))
    assert out == "hello from /opt/tree ü/link\n"
    assert _ok(room.run(["cat", "/opt/tree ü/data.txt"])) == "payload\n"
    # stdin is passed through
    assert _ok(room.run(["cat"], input=b"from stdin")) == "from stdin"


def test_timeout_kills_everything(room: CleanRoom) -> None:
    marker = f"sleep {random.randint(100000, 999999)}"  # unique on this host
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        room.run(["sh", "-c", f"{marker} & {marker}"], timeout=1)
    assert time.monotonic() - start < 30
    # no process of the room survives (PID namespace torn down)
    time.sleep(0.2)
    leftovers = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    assert leftovers.strip() == ""


def test_exit_status_and_signals_are_reported_faithfully(room: CleanRoom) -> None:
    assert room.run(["sh", "-c", "exit 139"]).returncode == 139
    assert room.run(["sh", "-c", "kill -SEGV $$"]).returncode == -11
    # the program is not PID 1: a default-handled signal it sends itself works
    assert room.run(["sh", "-c", "echo $$; kill -TERM $$; sleep 5"]).returncode == -15
    missing = room.run(["/opt/nowhere"])
    assert missing.returncode == 127 and b"cleanroom: cannot execute" in missing.stderr
    assert room.run(["ls"], cwd="/no/such/dir").returncode != 0


def test_create_is_idempotent(room: CleanRoom) -> None:
    again = CleanRoom.create(room.root)
    assert again.libraries == room.libraries
    assert room.host_path(f"{APP_DIR}/prog").exists()  # added content survives
    assert _ok(again.run(["id", "-u"])).strip() == "1000"
