"""The relocated runtime on a bare machine: a clean room with only system libraries.

Both base interpreters (pyenv's shared-libpython build and Debian's distro
python3.11) are relocated and must pass the same checks, as an unprivileged
user, at a path with a space and non-ASCII characters, with no PYTHON* variables.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from support.e2e import BASES, run_bundler

from bundler.binfmt.elf import ElfFormat
from bundler.pipeline import collect_binaries

CHECK = r"""
import json, os, sys, sysconfig
import ssl, sqlite3, ctypes, lzma, bz2, zlib, decimal, hashlib, readline, uuid, curses
ctx = ssl.create_default_context()
curses.setupterm("xterm-256color", 1)
sqlite3.connect(":memory:").execute("select 1")
lzma.compress(b"x"); bz2.compress(b"x"); zlib.compress(b"x")
hashlib.sha3_256(b"x").hexdigest(); uuid.uuid4()
ctypes.CDLL(None)
import yaml
import importlib.resources, multiprocessing, traceback, warnings
if __name__ == "__main__":
    with multiprocessing.get_context("spawn").Pool(2) as pool:  # children start the runtime's interpreter
        spawned = pool.map(abs, [-1, -2, -3])
try:
    json.loads("{")
except ValueError:
    tb = traceback.format_exc()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import lib2to3.pygram  # kept on disk: it reads (or writes) its grammars next to its __file__
print(json.dumps({
    "prefix": sysconfig.get_config_var("prefix"),
    "libdir": sysconfig.get_config_var("LIBDIR"),
    "sys_prefix": sys.prefix,
    "ca": ctx.cert_store_stats()["x509_ca"],
    "cafile": os.environ.get("SSL_CERT_FILE"),
    "colors": curses.tigetnum("colors"),
    "libyaml": yaml.__with_libyaml__,
    "cload": yaml.load("a: [1, 2]", Loader=yaml.CLoader),
    "dec": str(decimal.Decimal(1) / 7),
    "spawned": spawned,
    "path": sys.path, "json": json.__file__,
    "traceback": tb,
    "doc": importlib.resources.files("email").joinpath("architecture.rst").read_text().splitlines()[0],
    "symbols": len(lib2to3.pygram.python_grammar.symbol2number),
}))
"""

PLACE = "/opt/my app ü/hello"


@pytest.fixture(params=sorted(BASES))
def placed(request, room, runtimes):
    """The runtime copied into the room at PLACE; removed afterwards."""
    name = request.param
    host = room.add_tree(runtimes[name] / "hello", PLACE)
    yield name, host
    shutil.rmtree(room.host_path("/opt"))


def _check(room, where: str) -> dict:
    proc = room.run([f"{where}/bin/python3", "-c", CHECK])
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def test_stdlib_and_native_extensions_in_clean_room(room, placed):
    data = _check(room, PLACE)
    assert data["prefix"] == PLACE
    assert data["sys_prefix"] == PLACE
    assert data["libdir"].startswith(PLACE)
    assert data["ca"] > 0
    assert data["cafile"] == f"{PLACE}/etc/ssl/cert.pem"  # the room has no CA bundle of its own
    assert data["colors"] == 256
    assert data["libyaml"] is True
    assert data["cload"] == {"a": [1, 2]}
    assert data["dec"].startswith("0.142857")
    assert data["spawned"] == [1, 2, 3]
    # the standard library's modules come from lib/python311.zip, byte code only
    zipped = f"{PLACE}/lib/python311.zip"
    assert data["path"][data["path"].index(zipped) + 1] == f"{PLACE}/lib/python3.11"  # first among the stdlib's
    assert data["json"] == f"{zipped}/json/__init__.pyc"
    assert 'File "/lib/python311.zip/json/decoder.py", line ' in data["traceback"]  # names the file and line
    assert data["doc"] == ":mod:`email` Package Architecture" and data["symbols"] > 50  # a data file in the zip


def test_host_ca_bundle_preferred_over_bundled(room, placed):
    """A host whose OpenSSL directory differs from the build machine's (Fedora layout)."""
    pem = Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()
    room.add_file(pem, "/etc/pki/tls/certs/ca-bundle.crt")
    try:
        data = _check(room, PLACE)
    finally:
        shutil.rmtree(room.host_path("/etc/pki"))
    assert data["cafile"] == "/etc/pki/tls/certs/ca-bundle.crt"
    assert data["ca"] > 0


def test_app_runs_from_anywhere_symlink_path_and_after_move(room, placed):
    name, host = placed
    args = ["--name", "Zoë \"quoted\" 'x'"]
    proc = room.run([f"{PLACE}/bin/hello", *args], cwd="/tmp")
    assert proc.returncode == 0, proc.stderr.decode()
    assert "Hello, Zoë \"quoted\" 'x'!" in proc.stdout.decode()
    assert f"at {PLACE}" in proc.stdout.decode()
    # through a symlink in a PATH directory, from another cwd
    link_dir = room.host_path("/home/user/bin")
    link_dir.mkdir(exist_ok=True)
    link = link_dir / "hi"
    if link.is_symlink():
        link.unlink()
    os.symlink(f"{PLACE}/bin/hello", link)
    proc = room.run(["hi", "--count", "2"], env={"PATH": "/home/user/bin:/bin"}, cwd="/home/user")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().count("Hello, world!") == 2
    # an explicit NAME=module:function entry
    proc = room.run([f"{PLACE}/bin/yamlcheck", "--name", "e"], cwd="/")
    assert proc.returncode == 0 and "Hello, e!" in proc.stdout.decode(), proc.stderr.decode()
    # stray PYTHONHOME/PYTHONPATH from another install do not break the launcher
    proc = room.run([f"{PLACE}/bin/hello"], env={"PYTHONHOME": "/nonexistent", "PYTHONPATH": "/nonexistent"})
    assert proc.returncode == 0, proc.stderr.decode()
    # moved to a second path: still runs, and knows where it is
    second = "/srv/другое место/rt"
    dest = room.host_path(second)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.rename(host, dest)
    try:
        proc = room.run([f"{second}/bin/hello"])
        assert proc.returncode == 0, proc.stderr.decode()
        assert f"at {second}" in proc.stdout.decode()
        assert _check(room, second)["prefix"] == second
    finally:
        os.rename(dest, host)
        shutil.rmtree(room.host_path("/srv"))


@pytest.mark.parametrize("name", sorted(BASES))
def test_no_absolute_search_paths_remain(runtimes, name):
    root = runtimes[name] / "hello"
    binaries = collect_binaries(root, ElfFormat(), "x86_64")
    assert len(binaries) > 20
    for rel, info in binaries.items():
        assert not info.rpath, rel
        assert all(e.startswith("$ORIGIN") for e in info.runpath), (rel, info.runpath)
    # every vendored library has a unique name and is where the RUNPATHs say
    vendored = sorted(p.name for p in (root / "lib/bundled").iterdir())
    assert any(n.startswith("libyaml-") for n in vendored), vendored
    assert any(n.startswith("libssl-") for n in vendored), vendored
    # not a GUI app: tkinter, Tcl/Tk and the X11 stack are pruned, not vendored
    assert not any(n.startswith(("libtk", "libtcl", "libX")) for n in vendored), vendored
    assert not (root / "lib/python3.11/tkinter").exists() and not (root / "lib/tcl8.6").exists()


@pytest.mark.parametrize("name", sorted(BASES))
def test_archive_holds_the_same_runtime(runtimes, name, tmp_path):
    import tarfile

    import zstandard

    (archive,) = runtimes[name].glob("hello-1.0.0-linux-x86_64.tar.zst")
    with open(archive, "rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as r:
        with tarfile.open(fileobj=r, mode="r|") as tar:
            names = []
            for member in tar:
                assert member.uid == 0 and member.mtime == 0
                if member.issym():
                    assert not member.linkname.startswith("/")
                names.append(member.name)
    assert names == sorted(names) or names[0] == "hello-1.0.0-linux-x86_64"
    expected = {f"hello-1.0.0-linux-x86_64/{p.relative_to(runtimes[name] / 'hello').as_posix()}"
                for p in (runtimes[name] / "hello").rglob("*")}
    assert set(names[1:]) == expected


def test_build_is_reproducible(runtimes, app_lock, cache_dir, tmp_path):
    """The same inputs give a byte-identical archive (sorted entries, fixed mtimes, hash pycs)."""
    proc = run_bundler(
        "build", "--lock", str(app_lock), "--entry", "hello", "--entry", "yamlcheck=hello.cli:main",
        "--name", "hello", "--python", BASES["pyenv"], "--format", "archive",
        "--output-dir", str(tmp_path), "--cache-dir", str(cache_dir), "--compression-level", "3",
    )
    assert proc.returncode == 0, proc.stderr
    name = "hello-1.0.0-linux-x86_64.tar.zst"
    assert (tmp_path / name).read_bytes() == (runtimes["pyenv"] / name).read_bytes()


def test_pycs_are_unchecked_hash(runtimes):
    import struct
    import zipfile

    root = runtimes["pyenv"] / "hello"
    pycs = {str(p): p.read_bytes() for p in root.rglob("*.pyc")}
    with zipfile.ZipFile(root / "lib" / "python311.zip") as zf:
        pycs.update({n: zf.read(n) for n in zf.namelist() if n.endswith(".pyc")})
    assert len(pycs) > 500
    for name, data in pycs.items():
        flags = struct.unpack("<I", data[4:8])[0]
        assert flags == 0b01, name  # hash-based, check_source off


def test_no_build_paths_in_text_files(runtimes):
    """Text the interpreter reads names neither the base prefix nor the staging directory."""
    import re
    import tempfile

    root = runtimes["pyenv"] / "hello"
    prefix = os.path.realpath(os.path.join(os.path.dirname(os.path.realpath(BASES["pyenv"])), "..")).encode()
    staging = os.path.join(tempfile.gettempdir(), "bundler-").encode()
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        assert staging not in data, path
        if path.name in ("bundler.json", "bundler.cdx.json"):
            continue  # the manifest and the SBOM name where vendored libraries came from; nothing runs them
        if path.suffix in (".py", ".pth", ".txt", ".cfg", ".json") or path.parent.name == "bin" and b"\0" not in data:
            assert not re.search(rb"(?<![\w.])" + re.escape(prefix), data), path  # "./root/..." is WASM data
