"""examples/airgap: a wheelhouse made with network, a build without any, a runtime used on a bare machine.

The wheelhouse is made the way examples/airgap/README.md says (pylock2req.py,
``pip download``). The builds run in ``unshare -n``: a network namespace with
only a loopback interface that is down, so any attempt to reach PyPI fails.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
import zstandard
from support.cleanroom import CleanRoom, require_root_tools
from support.e2e import REPO

AIRGAP = REPO / "examples" / "airgap"
NAME = "airgap-python-1.0.0-linux-x86_64"
PIP_ENV = {"PATH": "/usr/bin:/bin", "PIP_CONFIG_FILE": "/dev/null", "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
PLACE = "/opt/air gap ü"

CHECK = """
import sys, idna, tomli_w, yaml
doc = yaml.load("name: ü\\nport: 8080\\n", Loader=yaml.CSafeLoader)
print(yaml.__with_libyaml__, doc["name"], doc["port"])
print(idna.encode("bücher.example").decode())
print(tomli_w.dumps({"a": 1}).strip())
print(sys.prefix)
"""


def _locked_wheels() -> set[str]:
    lock = tomllib.loads((AIRGAP / "pylock.toml").read_text())
    return {w["name"] for p in lock["packages"] for w in p.get("wheels", [])}


def _pip(*args: str, cwd: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, env=PIP_ENV | {"HOME": str(cwd)},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory) -> Path:
    """What the connected machine prepares: the locked wheels (the stub is prebuilt, nothing else is needed)."""
    work = tmp_path_factory.mktemp("connected")
    proc = subprocess.run([sys.executable, str(AIRGAP / "pylock2req.py"), str(AIRGAP / "pylock.toml")],
                          capture_output=True, text=True, check=True)
    (work / "wheelhouse.txt").write_text(proc.stdout)
    _pip("download", "-q", "--no-deps", "--require-hashes", "--only-binary", ":all:",
         "-r", "wheelhouse.txt", "-d", "wheelhouse", cwd=work)
    house = work / "wheelhouse"
    assert {p.name for p in house.iterdir()} == _locked_wheels()
    return house


def _offline(*args: str, cache: Path, out: Path, network_flag: str = "--offline") -> subprocess.CompletedProcess:
    """`bundler build examples/airgap` inside a network namespace without network."""
    cmd = [shutil.which("unshare"), "--net", "--", sys.executable, "-m", "bundler", "build", str(AIRGAP)]
    if network_flag:
        cmd.append(network_flag)
    cmd += [*args, "--output-dir", str(out), "--cache-dir", str(cache), "--python", sys.executable,
            "--compression-level", "3"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def built(tmp_path_factory, wheelhouse) -> Path:
    require_root_tools()
    d = tmp_path_factory.mktemp("air gapped")
    (d / "cache").mkdir()
    proc = _offline("--find-links", str(wheelhouse), "--format", "archive", "--format", "onefile",
                    cache=d / "cache", out=d / "out")
    assert proc.returncode == 0, proc.stderr
    return d / "out"


@pytest.fixture(scope="module")
def room(tmp_path_factory) -> CleanRoom:
    require_root_tools()
    return CleanRoom.create(tmp_path_factory.mktemp("airgap-room") / "root")


def test_namespace_has_no_network():
    proc = subprocess.run([shutil.which("unshare"), "--net", "--", "cat", "/proc/net/dev"],
                          capture_output=True, text=True, check=True)
    interfaces = [line.split(":")[0].strip() for line in proc.stdout.splitlines()[2:]]
    assert interfaces == ["lo"]
    probe = "import socket; socket.create_connection(('pypi.org', 443), timeout=5)"
    proc = subprocess.run([shutil.which("unshare"), "--net", "--", sys.executable, "-c", probe],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "socket" in proc.stderr, proc.stderr


def test_offline_build_with_empty_cache(built):
    assert sorted(p.name for p in built.iterdir()) == [NAME, f"{NAME}.cdx.json", f"{NAME}.tar.zst",
                                                       f"{NAME}.tar.zst.cdx.json"]  # each with its SBOM


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bundler: error: "), proc.stderr
    return lines[0]


def test_without_wheelhouse_the_missing_file_is_named(tmp_path):
    (tmp_path / "cache").mkdir()
    proc = _offline("-q", "--format", "archive", cache=tmp_path / "cache", out=tmp_path / "out")
    assert proc.returncode == 5
    line = _one_line_error(proc)
    assert "idna-3.10-py3-none-any.whl" in line and "--offline" in line and "--find-links" in line
    # without --offline it tries PyPI, which the namespace cannot reach: the same file is named
    proc = _offline("-q", "--format", "archive", cache=tmp_path / "cache", out=tmp_path / "out", network_flag="")
    assert proc.returncode == 5
    line = _one_line_error(proc)
    assert "idna-3.10-py3-none-any.whl" in line and "--find-links" in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _expect_check_output(proc: subprocess.CompletedProcess, prefix: str) -> None:
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().splitlines() == ["True ü 8080", "xn--bcher-kva.example", "a = 1", prefix]


def test_archive_unpacked_anywhere(built, room, tmp_path):
    with open(built / f"{NAME}.tar.zst", "rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as zf:
        with tarfile.open(fileobj=zf, mode="r|") as tar:
            tar.extractall(tmp_path, filter="tar")
    rt = f"{PLACE}/rt"
    room.add_tree(tmp_path / NAME, rt)
    try:
        _expect_check_output(room.run([f"{rt}/bin/python3", "-c", CHECK], cwd="/tmp"), rt)
        # the interpreter is isolated from stray variables only when asked (-I), like any python
        proc = room.run([f"{rt}/bin/python3", "-I", "-c", "import yaml, sys; print(yaml.__file__)"],
                        env={"PYTHONPATH": "/nonexistent"})
        assert proc.returncode == 0 and proc.stdout.decode().startswith(f"{rt}/lib/"), proc.stderr.decode()
    finally:
        shutil.rmtree(room.host_path("/opt"))


def test_single_file_as_python(built, room):
    art = f"{PLACE}/{NAME}"
    room.add_file(built / NAME, art, mode=0o755)
    try:
        proc = room.run([art, "-c", CHECK], env={"BUNDLER_STUB": "python"}, cwd="/tmp")
        tree = "/home/user/.cache/bundler/airgap-python/"
        assert proc.returncode == 0, proc.stderr.decode()
        assert proc.stdout.decode().splitlines()[-1].startswith(tree)
        _expect_check_output(proc, proc.stdout.decode().splitlines()[-1])
        proc = room.run([art], env={"BUNDLER_STUB": "verify"})
        assert proc.returncode == 0 and proc.stdout.decode().startswith("ok airgap-python 1.0.0"), proc.stderr.decode()
    finally:
        shutil.rmtree(room.host_path("/opt"))
        shutil.rmtree(room.host_path("/home/user/.cache"), ignore_errors=True)
