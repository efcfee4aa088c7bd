"""examples/installer: the hello runtime as a .deb, and installed from the single file, on a bare machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.cleanroom import CleanRoom, require_root_tools
from support.e2e import BASES, HELLO, REPO, run_bundler

INSTALLER = REPO / "examples" / "installer"
ART = "hello-1.0.0-linux-x86_64"
DEB = "hello_1.0.0_amd64.deb"


@pytest.fixture(scope="module")
def hello(tmp_path_factory, cache_dir) -> Path:
    """examples/hello as `dir` and `onefile` outputs (on Debian's python3.11)."""
    out = tmp_path_factory.mktemp("hello-out")
    proc = run_bundler("build", str(HELLO), "--python", BASES["debian"], "--format", "dir", "--format", "onefile",
                       "--output-dir", str(out), "--cache-dir", str(cache_dir), "--compression-level", "3")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def deb(tmp_path_factory, hello) -> Path:
    out = tmp_path_factory.mktemp("deb")
    # a caller's umask must not leak into the package
    proc = subprocess.run(
        [sys.executable, str(INSTALLER / "build_deb.py"), str(hello / "hello"), "--version", "1.0.0",
         "--entry", "hello", "--maintainer", "Bundler Tests <tests@example.com>",
         "--description", "Greets people from a bundled runtime", "--compression", "zstd", "-o", str(out)],
        capture_output=True, text=True, timeout=300, preexec_fn=lambda: os.umask(0o077),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out / DEB)
    return out / DEB


@pytest.fixture()
def room(tmp_path) -> CleanRoom:
    require_root_tools()
    return CleanRoom.create(tmp_path / "room")


def _dpkg_deb(*args: str) -> str:
    proc = subprocess.run(["dpkg-deb", *args], capture_output=True, text=True, check=True)
    return proc.stdout


def test_control_fields_and_contents(deb):
    fields = dict(
        line.split(": ", 1) for line in _dpkg_deb("-f", str(deb)).splitlines() if not line.startswith(" ")
    )
    assert fields["Package"] == "hello"
    assert fields["Version"] == "1.0.0"
    assert fields["Architecture"] == "amd64"
    assert fields["Maintainer"] == "Bundler Tests <tests@example.com>"
    assert fields["Description"] == "Greets people from a bundled runtime"
    assert int(fields["Installed-Size"]) > 10_000  # KiB: a whole CPython
    assert "Depends" not in fields
    listing = _dpkg_deb("-c", str(deb)).splitlines()
    assert all(" root/root " in line for line in listing)
    paths = {line.split()[5]: line for line in listing}
    assert paths["./"].startswith("drwxr-xr-x")  # dpkg applies it to / on install
    assert paths["./usr/bin/hello"].startswith("l") and paths["./usr/bin/hello"].endswith("-> /opt/hello/bin/hello")
    assert paths["./opt/hello/bin/hello"].startswith("-rwxr-xr-x")
    assert paths["./usr/share/applications/hello.desktop"].startswith("-rw-r--r--")
    assert "./opt/hello/lib/bundled/" in paths



def test_md5sums_match_the_files(deb, tmp_path):
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tmp_path / "pkg")], check=True)
    lines = (tmp_path / "pkg" / "DEBIAN" / "md5sums").read_text().splitlines()
    sums = dict(reversed(line.split("  ", 1)) for line in lines)
    files = {p.relative_to(tmp_path / "pkg").as_posix() for p in (tmp_path / "pkg").rglob("*")
             if p.is_file() and not p.is_symlink() and "DEBIAN" not in p.parts}
    assert set(sums) == files and "opt/hello/bin/hello" in files
    proc = subprocess.run(["md5sum", "-c", "--quiet", str(tmp_path / "pkg" / "DEBIAN" / "md5sums")],
                          cwd=tmp_path / "pkg", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_installed_package_runs_as_user(deb, room):
    subprocess.run(["dpkg-deb", "-x", str(deb), str(room.root)], check=True)
    desktop = room.host_path("/usr/share/applications/hello.desktop")
    proc = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    text = desktop.read_text()
    assert "Exec=/usr/bin/hello\n" in text and "Terminal=true\n" in text
    assert room.host_path("/opt/hello").stat().st_uid == 0
    # through the /usr/bin symlink: the launcher finds the runtime in /opt/hello
    proc = room.run(["/usr/bin/hello", "--name", "deb"], cwd="/tmp")
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert lines[0] == "Hello, deb!" and lines[1].endswith(" at /opt/hello)"), lines
    # and on PATH, from another directory
    proc = room.run(["hello", "--count", "2"], cwd="/home/user", env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and proc.stdout.decode().count("Hello, world!") == 2, proc.stderr.decode()
    # the installed tree is root's: the user cannot change it
    proc = room.run(["/bin/sh", "-c", "touch /opt/hello/bin/x"])
    assert proc.returncode != 0


def test_extract_from_single_file(hello, room):
    art = f"/srv/{ART}"
    room.add_file(hello / ART, art, mode=0o755)
    proc = room.run([art], env={"BUNDLER_STUB": "extract:/opt/hello-x"}, uid=0)
    assert proc.returncode == 0, proc.stderr.decode()
    assert room.host_path("/opt/hello-x").stat().st_uid == 0
    proc = room.run(["/opt/hello-x/bin/hello", "--name", "extracted"], cwd="/tmp")
    assert proc.returncode == 0, proc.stderr.decode()
    assert "Hello, extracted!" in proc.stdout.decode() and " at /opt/hello-x)" in proc.stdout.decode()
    # no per-user cache was involved
    assert not room.host_path("/root/.cache").exists() and not room.host_path("/home/user/.cache").exists()
    # a second extract into a non-empty directory is refused (64), the tree is untouched
    proc = room.run([art], env={"BUNDLER_STUB": "extract:/opt/hello-x"}, uid=0)
    assert proc.returncode == 64
    assert room.host_path("/opt/hello-x/bin/hello").is_file()


def test_install_script_from_single_file(hello, room):
    art = f"/srv/{ART}"
    room.add_file(hello / ART, art, mode=0o755)
    room.add_file(INSTALLER / "install-onefile.sh", "/srv/install-onefile.sh", mode=0o755)
    for attempt in ("install", "upgrade"):
        proc = room.run(["/bin/sh", "/srv/install-onefile.sh", art, "/opt/hello", "/usr/local/bin", "hello"], uid=0)
        assert proc.returncode == 0, (attempt, proc.stderr.decode())
        assert proc.stdout.decode().strip() == "installed /opt/hello"
        assert not room.host_path("/opt/hello.new").exists() and not room.host_path("/opt/hello.old").exists()
        proc = room.run(["hello", "--name", attempt], env={"PATH": "/usr/local/bin:/bin"})
        assert proc.returncode == 0, proc.stderr.decode()
        assert f"Hello, {attempt}!" in proc.stdout.decode() and " at /opt/hello)" in proc.stdout.decode()
    proc = room.run(["/bin/sh", "/srv/install-onefile.sh", art, "/opt/hello", "/usr/local/bin", "nope"], uid=0)
    assert proc.returncode == 1 and "no such launcher" in proc.stderr.decode()
