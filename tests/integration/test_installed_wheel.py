"""bundler as users get it: the sdist and wheel built from this checkout, installed (not editable).

- ``python -m build`` makes the sdist, then the wheel from the unpacked sdist
  (another directory); the wheel carries every target's prebuilt stub.
- The sdist builds its wheel again with no network (``unshare -n``), its build
  requirements from a local wheelhouse: the same stub bytes come out.
- The wheel, installed into a fresh venv that has no Zig, with an empty HOME,
  builds ``examples/hello`` into a single file that runs in the clean room, and
  cross-builds all five targets; ``strace`` records every program started,
  and none of them is a compiler.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from support.bases import macos_pbs_archive, windows_embeddable_zip, windows_helper_dll
from support.e2e import HELLO, REPO
from support.wheelfactory import make_wheel, sha256_of

from bundler.output import payload, stubbuild

BUILD_REQUIREMENTS = ("setuptools>=77", "ziglang==0.17.1")
STUB_KEYS = {"linux-x86_64", "linux-aarch64", "windows-x86_64-console", "windows-x86_64-gui", "macos-arm64",
             "macos-x86_64"}
#: the entry launchers of a Windows runtime directory (bin/<entry>.exe), packaged like the stubs
LAUNCHER_KEYS = {"launcher-windows-x86_64-console", "launcher-windows-x86_64-gui", "launcher-macos-arm64",
                 "launcher-macos-x86_64"}
#: every program file the wheel's bundler/_stubs/ carries
PROGRAM_FILES = {f"bundler-stub-{k}" + (".exe" if "windows" in k else "") for k in STUB_KEYS} | {
    f"bundler-{k}" + (".exe" if "windows" in k else "") for k in LAUNCHER_KEYS}
TARGETS = ("linux-x86_64", "linux-aarch64", "windows-x86_64", "macos-arm64", "macos-x86_64")
#: what a compiler or linker is called when started (zig itself, a C compiler driver, binutils)
COMPILER = re.compile(r"^(zig|cc|c\+\+|gcc|g\+\+|clang|clang\+\+|cc1|cc1plus|ld|ld\.\w+|lld|as|collect2)(-[\d.]+)?$")


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _copy_checkout(dest: Path) -> Path:
    """The files git knows (committed or not, minus ignored ones): what a fresh clone would hold."""
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO).stdout
    for rel in filter(None, listed.split("\0")):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _stubs_in_wheel(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as zf:
        return {Path(n).name: zf.read(n) for n in zf.namelist() if n.startswith("bundler/_stubs/")}


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    """sdist + wheel (built from the sdist) of a copy of this checkout, like `make dist`."""
    work = tmp_path_factory.mktemp("dist")
    src = _copy_checkout(work / "checkout")
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", work / "dist", src])
    (sdist,) = (work / "dist").glob("bundler-*.tar.gz")
    (wheel,) = (work / "dist").glob("bundler-*.whl")
    return {"sdist": sdist, "wheel": wheel}


@pytest.fixture(scope="module")
def offline_build(dists, tmp_path_factory):
    """The wheel built from the sdist with no network, build requirements from a wheelhouse.

    Its Zig compiles every stub (and Zig's libc for each target) from cold in
    pip's isolated build environment; it starts here and runs while the
    installed-wheel tests do, and :func:`offline_wheel` waits for it.
    """
    work = tmp_path_factory.mktemp("offline")
    wheelhouse = work / "wheelhouse"
    _run([sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:", "-d", wheelhouse, *BUILD_REQUIREMENTS])
    home = work / "home"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull,
           "ZIG_GLOBAL_CACHE_DIR": str(work / "zig-cache")}
    cmd = ["unshare", "--net", "--", sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index",
           "--find-links", str(wheelhouse), "-w", str(work / "out"), str(dists["sdist"])]
    log = work / "build.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    yield proc, work / "out", log
    if proc.poll() is None:
        proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def offline_wheel(offline_build) -> Path:
    proc, out, log = offline_build
    assert proc.wait() == 0, log.read_text(errors="replace")[-3000:]
    (wheel,) = out.glob("bundler-*.whl")
    return wheel


@pytest.fixture(scope="module")
def venv(dists, offline_build, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed (its dependencies from PyPI) and no Zig."""
    work = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", work / "v"])
    _run([work / "v" / "bin" / "python", "-m", "pip", "install", "-q", dists["wheel"]])
    return work / "v"


def _user_env(venv: Path, home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


def _traced(cmd, log: Path, **kw) -> subprocess.CompletedProcess:
    """Run *cmd* under ``strace -f``, every execve logged to *log*."""
    return subprocess.run(["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=execve", "-e", "signal=none", "-o", str(log),
                           *map(str, cmd)], capture_output=True, text=True, **kw)


def _started(log: Path) -> list[tuple[str, str]]:
    """(program path, argv text) of every successful execve in a strace log."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        m = re.search(r'execve\("([^"]+)", \[(.*?)\]', line)
        if m and line.rstrip().endswith("= 0"):
            found.append((m.group(1), m.group(2)))
    return found


def _assert_no_compiler(log: Path) -> None:
    started = _started(log)
    assert any(Path(p).name.startswith("python") for p, _a in started), "strace saw no program at all"
    compilers = [(p, a) for p, a in started if COMPILER.match(Path(p).name) or "ziglang" in a]
    assert not compilers, compilers


# ---------------------------------------------------------------- the distributions


def test_sdist_holds_the_stub_sources_and_no_binaries(dists):
    with tarfile.open(dists["sdist"]) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    assert {"setup.py", "LICENSE", "stubs/main.zig", "stubs/launcher.zig", "stubs/sys_windows.zig", "stubs/zstd/zstd.c",
            "stubs/zstd/zstd.h", "stubs/zstd/LICENSE", "bundler/output/stubbuild.py"} <= names
    assert not [n for n in names if n.startswith("bundler/_stubs")]


def test_wheel_carries_every_stub_with_its_record_and_needs_no_zig(dists):
    stubs = _stubs_in_wheel(dists["wheel"])
    record = json.loads(stubs.pop(stubbuild.RECORD))
    assert set(record["stubs"]) == STUB_KEYS | LAUNCHER_KEYS and record["zig_version"] == stubbuild.ZIG_VERSION
    assert set(stubs) == PROGRAM_FILES
    assert record["source_sha256"] == stubbuild.source_digest(REPO / "stubs")
    for entry in record["stubs"].values():
        assert hashlib.sha256(stubs[entry["file"]]).hexdigest() == entry["sha256"]
        assert len(stubs[entry["file"]]) == entry["size"] < 400_000
    with zipfile.ZipFile(dists["wheel"]) as zf:
        names = zf.namelist()
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert not [n for n in names if n.endswith(".zig") or n.endswith(".c")]  # sources stay in the sdist
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist: ziglang")]
    assert requires and all("extra ==" in line for line in requires), requires


# ---------------------------------------------------------------- the installed tool


def test_installed_wheel_builds_hello_without_a_compiler_and_it_runs_in_the_clean_room(venv, room, tmp_path):
    assert subprocess.run([venv / "bin" / "python", "-c", "import ziglang"], capture_output=True).returncode != 0
    project = Path(shutil.copytree(HELLO, tmp_path / "hello", ignore=shutil.ignore_patterns("dist")))
    env = _user_env(venv, tmp_path / "home")
    log = tmp_path / "exec.log"
    proc = _traced([venv / "bin" / "bundler", "build", project, "--format", "onefile", "--json"], log, env=env,
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    _assert_no_compiler(log)
    (out,) = json.loads(proc.stdout)["outputs"]
    artifact = Path(out["path"])
    assert artifact.parent == project / "dist"
    stub = payload.read_manifest(artifact).stub
    assert stub is not None and stub.prebuilt and stub.zig == stubbuild.ZIG_VERSION
    with open(artifact, "rb") as f:
        head = f.read(payload.read_trailer(artifact).payload_offset)
    assert hashlib.sha256(head).hexdigest() == stub.sha256
    shown = subprocess.run([venv / "bin" / "bundler", "inspect", artifact], capture_output=True, text=True, env=env)
    assert f"sha256 {stub.sha256}" in shown.stdout and "prebuilt with Zig 0.17.1" in shown.stdout, shown.stdout
    place = "/opt/installed wheel ü/hello"
    room.add_file(artifact, place, mode=0o755)
    try:
        run = room.run([place, "--name", "wheel"], cwd="/tmp")
        assert run.returncode == 0, run.stderr.decode()
        assert "Hello, wheel!" in run.stdout.decode()
    finally:
        shutil.rmtree(room.host_path("/opt"))
        shutil.rmtree(room.host_path("/home/user/.cache"), ignore_errors=True)


@pytest.fixture(scope="module")
def five_target_project(tmp_path_factory, arm64_sysroot) -> Path:
    """A pure-Python app locked for all five targets, a base for each foreign one (tests/support/bases.py)."""
    work = tmp_path_factory.mktemp("five")
    libs = work / "libs"
    windows_helper_dll(libs)
    bases = {
        "linux-aarch64": arm64_sysroot,
        "windows-x86_64": windows_embeddable_zip(work, libs),
        "macos-arm64": macos_pbs_archive(work, "arm64"),
        "macos-x86_64": macos_pbs_archive(work, "x86_64"),
    }
    wheel = make_wheel(work / "wheels", "tinyapp", "1.0", "py3-none-any",
                       files={"tinyapp/__init__.py": "import sys\ndef main():\n    print('tinyapp on', sys.platform)\n"})
    project = work / "proj"
    project.mkdir()
    (project / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "tests"\n\n[[packages]]\nname = "tinyapp"\nversion = "1.0"\n'
        f'wheels = [{{name = "{wheel.name}", path = "{wheel}", hashes = {{sha256 = "{sha256_of(wheel)}"}}}}]\n'
    )
    tables = "".join(f'[tool.bundler.targets.{t}]\npython = "{p}"\n' for t, p in bases.items())
    (project / "pyproject.toml").write_text(
        '[project]\nname = "five"\nversion = "1.0"\n\n[tool.bundler]\nentry = ["hello=tinyapp:main"]\n'
        f'target = {json.dumps(list(TARGETS))}\nlib-path = ["{libs}"]\n{tables}'
    )
    return project


def test_installed_wheel_cross_builds_all_five_targets_without_a_compiler(venv, five_target_project, tmp_path):
    env = _user_env(venv, tmp_path / "home")
    log = tmp_path / "exec.log"
    proc = _traced([venv / "bin" / "bundler", "build", five_target_project, "--json",
                    "--output-dir", tmp_path / "out"], log, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    _assert_no_compiler(log)
    builds = json.loads(proc.stdout)["builds"]
    assert [b["target"] for b in builds] == list(TARGETS)
    record = json.loads((next(venv.glob("lib/python*/site-packages/bundler/_stubs")) / stubbuild.RECORD).read_text())
    for b in builds:
        (out,) = b["outputs"]
        artifact = Path(out["path"])
        stub = payload.read_manifest(artifact).stub
        key = f"{b['target']}-console" if b["target"].startswith("windows") else b["target"]
        assert stub is not None and stub.prebuilt and stub.sha256 == record["stubs"][key]["sha256"], b["target"]
    linux = Path(builds[0]["outputs"][0]["path"])
    ran = subprocess.run([linux], capture_output=True, text=True, env=env, timeout=300)
    assert ran.returncode == 0 and "tinyapp on linux" in ran.stdout, ran.stderr


def test_installed_wheel_builds_a_macos_app_without_a_compiler(venv, five_target_project, tmp_path):
    """--format app from the installed wheel (no apple-platform-py in it): the packaged macOS launcher
    becomes the main executable, the bundle is sealed ad hoc and `bundler inspect --verify` checks it."""
    env = _user_env(venv, tmp_path / "home")
    log = tmp_path / "exec.log"
    proc = _traced([venv / "bin" / "bundler", "build", five_target_project, "--target", "macos-arm64",
                    "--format", "app", "--output-dir", tmp_path / "out"], log, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    _assert_no_compiler(log)
    app, zipped = (Path(line) for line in proc.stdout.splitlines())
    record = json.loads((next(venv.glob("lib/python*/site-packages/bundler/_stubs")) / stubbuild.RECORD).read_text())
    main = next((app / "Contents" / "MacOS").iterdir())
    # the packaged launcher with a new signature: the same code (only the header's signature command differs)
    packaged = (next(venv.glob("lib/python*/site-packages/bundler/_stubs")) / "bundler-launcher-macos-arm64")
    assert hashlib.sha256(packaged.read_bytes()).hexdigest() == record["stubs"]["launcher-macos-arm64"]["sha256"]
    from bundler.binfmt.macho.codesign import read_signature
    end = read_signature(packaged.read_bytes()).dataoff
    assert main.read_bytes()[4096:end] == packaged.read_bytes()[4096:end]
    assert read_signature(main.read_bytes()).code_directories[0].identifier == "local.five"  # the default id
    checked = subprocess.run([venv / "bin" / "bundler", "inspect", app, "--verify"], capture_output=True, text=True,
                             env=env, timeout=300)
    assert checked.returncode == 0 and "verified: the signature seals the bundle" in checked.stdout, checked.stderr
    assert zipped.is_file() and zipped.name.endswith("-macos-arm64.app.zip")


# ---------------------------------------------------------------- the offline build (started above)


def test_offline_build_from_the_sdist_gives_the_same_stub_bytes(dists, offline_wheel):
    first, second = _stubs_in_wheel(dists["wheel"]), _stubs_in_wheel(offline_wheel)
    assert set(first) == set(second) == {stubbuild.RECORD} | PROGRAM_FILES
    digests = {n: hashlib.sha256(b).hexdigest() for n, b in first.items()}
    assert digests == {n: hashlib.sha256(b).hexdigest() for n, b in second.items()}
    # and `make stubs` in this checkout (a third directory) made the same bytes, when its sources are these
    checkout = REPO / "bundler" / "_stubs"
    record = json.loads(first[stubbuild.RECORD])
    if stubbuild.source_digest(REPO / "stubs") == record["source_sha256"]:
        assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in checkout.iterdir()} == digests
