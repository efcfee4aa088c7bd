"""The native stub (stubs/), built for real, running real artifacts.

The stub is built once per session with bundler.output.stub.build_stub; artifacts are
that stub followed by payload blocks written by bundler.output.payload.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import support.stubtools as st
from support.stubtools import APP, golden

from bundler.errors import StubError
from bundler.output import payload as pl
from bundler.output import stub as stubmod
from bundler.output import stubbuild

DAMAGED = 65
USER_ARGS = ["plain", "with space", "it's \"quoted\"", "Zoë ü 漢字", "", "--flag=1", "$HOME", "*"]
TARGET = "linux-x86_64"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def stub_cache(build_cache) -> Path:
    return build_cache


@pytest.fixture(scope="session")
def stub(stub_cache) -> Path:
    """The stub a build uses: the packaged one (`make stubs` / the wheel), never compiled here."""
    found = stubmod.stub_for(TARGET, cache_dir=stub_cache)
    assert found.prebuilt, "no packaged stubs: run `make stubs` first (make test does)"
    return found.path


@pytest.fixture(scope="session")
def app(stub, tmp_path_factory) -> Path:
    """The small test app: golden tree + reporting python + two entry points."""
    d = tmp_path_factory.mktemp("app")
    block = st.build_block(st.make_tree(d / "tree"))
    return st.write_artifact(stub, block, d / "stubtest")


@pytest.fixture(scope="session")
def big_app(stub, tmp_path_factory):
    """~200 MB of incompressible data (level 1): unpacking it takes a while."""
    d = tmp_path_factory.mktemp("big")
    extra = {f"lib/blob{i:02d}.bin": os.urandom(25 << 20) for i in range(8)}
    block = st.build_block(st.make_tree(d / "tree", extra), level=1, frame_size=16 << 20)
    shutil.rmtree(d / "tree")
    yield st.write_artifact(stub, block, d / "stubtest")
    shutil.rmtree(d)  # 200 MB: do not keep it in pytest's retained temp dirs


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def one_tree(cache: Path) -> Path:
    names = st.cache_entries(cache)
    assert len(names) == 1 and not names[0].startswith(".tmp-"), names
    return cache / APP / names[0]


def assert_nothing_left(cache: Path) -> None:
    """No tree, no temp tree, not even an empty <cache>/<app>/."""
    assert not (cache / APP).exists(), st.cache_entries(cache)


def assert_damaged(proc, artifact: Path) -> None:
    err = proc.stderr.decode()
    assert proc.returncode == DAMAGED, err
    assert err.count("\n") == 1, err
    assert err.startswith(f"bundler: {artifact} is damaged or truncated (") and err.endswith("; download it again.\n"), err


# ---------------------------------------------------------------- the golden file


@pytest.fixture(scope="session")
def golden_artifact(stub, tmp_path_factory) -> Path:
    return st.write_artifact(stub, golden.GOLDEN.read_bytes(), tmp_path_factory.mktemp("golden") / "golden")


def test_golden_extract_makes_the_golden_tree(golden_artifact, tmp_path):
    out = tmp_path / "out" / "runtime"
    proc = st.run(golden_artifact, env={"PATH": "/usr/bin:/bin", "BUNDLER_STUB": f"extract:{out}"})
    assert proc.returncode == 0, proc.stderr
    expected = golden.make_tree(tmp_path / "expected")
    assert st.snapshot(out) == st.snapshot(expected)
    assert (out / "lib/python3.11/lib-dynload").is_dir()
    assert os.readlink(out / "bin/python3") == "python3.11"


def test_golden_info_prints_the_manifest(golden_artifact, tmp_path):
    proc = st.run(golden_artifact, env={"BUNDLER_STUB": "info", "BUNDLER_CACHE_DIR": str(tmp_path / "c")})
    assert proc.returncode == 0
    info = json.loads(proc.stdout)
    cache = info.pop("cache")  # where the tree is or would be: tests/output/test_stub_cache_gc.py
    assert info == pl.read_manifest_json(golden_artifact) and cache["unpacked"] is False
    assert proc.stdout.startswith(b'{\n  "app": {\n    "name": ')  # indented for a person, key order kept


def test_golden_verify_says_ok(golden_artifact):
    proc = st.run(golden_artifact, env={"BUNDLER_STUB": "verify"})
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"ok golden 1.0 linux-x86_64\n", b"")


def test_extract_refuses_a_non_empty_directory(golden_artifact, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("mine")
    proc = st.run(golden_artifact, env={"BUNDLER_STUB": f"extract:{tmp_path / 'full'}"})
    assert proc.returncode == 64 and b"is not empty" in proc.stderr
    assert os.listdir(tmp_path / "full") == ["keep"]


def test_extract_into_an_existing_empty_directory(golden_artifact, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = st.run(golden_artifact, env={"BUNDLER_STUB": f"extract:{tmp_path / 'empty'}"})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "empty" / "bin" / "hello").is_file()


# ---------------------------------------------------------------- running


def test_first_run_unpacks_into_the_cache_and_execs_the_entry(app, cache):
    r = st.parse(st.run(app, *USER_ARGS, env=st.base_env(cache)))
    assert r.returncode == 0, r.stderr
    tree = one_tree(cache)
    key = pl.read_manifest(app).payload.sha256
    assert tree.name == key[:16]
    assert (tree / ".bundler-complete").read_text() == key + "\n"
    for d in (cache, cache / APP, tree):
        assert d.stat().st_mode & 0o777 == 0o700, d
    assert r.args == ["-I", f"{tree}/bin/hello", *USER_ARGS]
    assert (tree / "bin/python3").is_symlink() and (tree / "lib/python3.11/lib-dynload").is_dir()


def test_exit_code_and_stdin_pass_through(app, cache):
    r = st.parse(st.run(app, env=st.base_env(cache, FAKE_EXIT="7", FAKE_STDIN="1"), input="from stdin ü".encode()))
    assert r.returncode == 7 and r.stdin == "from stdin ü"


def test_environment_for_python(app, cache, tmp_path):
    link = tmp_path / "via-link"
    link.symlink_to(app)
    env = st.base_env(cache, PYTHONHOME="/x", PYTHONPATH="/y", PYTHONSTARTUP="/z", BUNDLER_ARGV0="stale")
    r = st.parse(st.run(link, "a", env=env, argv0="./via-link", cwd=tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.env == {"BUNDLER_ARTIFACT": str(app.resolve()), "BUNDLER_ARGV0": "./via-link"}
    assert r.args[0] == "-I"


def test_isolate_off_keeps_python_variables_and_drops_dash_i(app, cache):
    env = st.base_env(cache, PYTHONHOME="/x", PYTHONPATH="/y", BUNDLER_ISOLATE="0")
    r = st.parse(st.run(app, "a", env=env))
    assert r.env["PYTHONHOME"] == "/x" and r.env["PYTHONPATH"] == "/y"
    assert r.args == [f"{one_tree(cache)}/bin/hello", "a"]


def test_warm_run_does_not_touch_the_tree(app, cache):
    assert st.run(app, env=st.base_env(cache)).returncode == 0
    f = one_tree(cache) / "lib/python3.11/os.py"
    before = f.stat()
    time.sleep(0.02)
    r = st.parse(st.run(app, "again", env=st.base_env(cache)))
    assert r.returncode == 0 and r.args[-1] == "again"
    after = f.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.parametrize("name, script", [("other", "bin/other"), ("other.exe", "bin/other"), ("hello", "bin/hello"), ("unknown", "bin/hello")])
def test_entry_point_chosen_by_program_name(app, cache, tmp_path, name, script):
    link = tmp_path / name
    link.symlink_to(app)
    r = st.parse(st.run(link, "x", env=st.base_env(cache)))
    assert r.returncode == 0, r.stderr
    assert r.args == ["-I", f"{one_tree(cache)}/{script}", "x"]


def test_entry_point_chosen_by_first_argument(app, cache):
    """Busybox style: the program name matches no entry point, the first argument does."""
    r = st.parse(st.run(app, "other", "x", env=st.base_env(cache)))
    assert r.returncode == 0, r.stderr
    assert r.args == ["-I", f"{one_tree(cache)}/bin/other", "x"]
    r = st.parse(st.run(app, "nosuch", "x", env=st.base_env(cache)))
    assert r.args == ["-I", f"{one_tree(cache)}/bin/hello", "nosuch", "x"]  # not an entry: an argument


def test_python_mode_execs_the_interpreter_only(app, cache):
    r = st.parse(st.run(app, "-c", "print(1)", "", env=st.base_env(cache, BUNDLER_STUB="python")))
    assert r.returncode == 0, r.stderr
    assert r.args == ["-I", "-c", "print(1)", ""]
    assert "BUNDLER_STUB" not in r.env


def test_unknown_stub_mode_is_a_usage_error(app, cache):
    proc = st.run(app, env=st.base_env(cache, BUNDLER_STUB="explode"))
    err = proc.stderr.decode()
    assert proc.returncode == 64 and err.count("\n") == 1
    assert "info, verify, python, uninstall or extract:DIR" in err
    assert_nothing_left(cache)


def test_tree_without_marker_is_replaced(app, cache):
    assert st.run(app, env=st.base_env(cache)).returncode == 0
    tree = one_tree(cache)
    (tree / ".bundler-complete").unlink()
    (tree / "bin/hello").write_text("tampered")
    assert st.run(app, env=st.base_env(cache)).returncode == 0
    assert (tree / "bin/hello").read_text() == "print('hello')\n" and (tree / ".bundler-complete").is_file()


# ---------------------------------------------------------------- damage


def truncation_points(app: Path, stub: Path) -> dict[str, int]:
    lay = st.layout(app)
    stub_bytes = stub.read_bytes()
    loaded = st.elf_loaded_end(stub_bytes)
    assert loaded < len(stub_bytes)  # the section headers at the end are not needed to run
    return {
        "stub": (loaded + len(stub_bytes)) // 2,
        "payload": (lay.payload + lay.manifest) // 2,
        "manifest": (lay.manifest + lay.trailer) // 2,
        "trailer": lay.size - 40,
    }


@pytest.mark.parametrize("where", ["stub", "payload", "manifest", "trailer"])
def test_truncated_artifact(app, stub, cache, tmp_path, where):
    cut = truncation_points(app, stub)[where]
    bad = tmp_path / "bad"
    bad.write_bytes(app.read_bytes()[:cut])
    bad.chmod(0o755)
    assert_damaged(st.run(bad, env=st.base_env(cache)), bad)
    assert_nothing_left(cache)


def flip(src: Path, dest: Path, offset: int) -> Path:
    data = bytearray(src.read_bytes())
    data[offset] ^= 0x55
    dest.write_bytes(bytes(data))
    dest.chmod(0o755)
    return dest


@pytest.mark.parametrize("layer", pl.LAYERS)
def test_flipped_byte_in_a_frame(app, cache, tmp_path, layer):
    lay = st.layout(app)
    frames = [f for f in lay.frames if f[0] == layer]
    _name, offset, length = frames[-1]
    bad = flip(app, tmp_path / "bad", offset + length // 2)
    assert_damaged(st.run(bad, env=st.base_env(cache)), bad)
    assert_nothing_left(cache)
    assert_damaged(st.run(bad, env={"BUNDLER_STUB": "verify"}), bad)


@pytest.mark.parametrize("where", ["manifest", "magic", "version", "lengths", "sha256", "end magic"])
def test_flipped_byte_in_manifest_or_trailer(app, cache, tmp_path, where):
    lay = st.layout(app)
    offset = {
        "manifest": (lay.manifest + lay.trailer) // 2,
        "magic": lay.trailer + 2,
        "version": lay.trailer + 8,
        "lengths": lay.trailer + 25,
        "sha256": lay.trailer + 40,
        "end magic": lay.size - 3,
    }[where]
    bad = flip(app, tmp_path / "bad", offset)
    assert_damaged(st.run(bad, env=st.base_env(cache)), bad)
    assert_nothing_left(cache)


PYTHON = (pl.FILE, "bin/python3.11", b"#!/bin/sh\n")
BAD_PAYLOADS = {
    "dot-dot path": [[PYTHON, (pl.FILE, "../evil", b"x")]],
    "absolute path": [[PYTHON, (pl.FILE, "/tmp/bundler-stub-test-evil", b"x")]],
    "empty component": [[PYTHON, (pl.FILE, "bin//x", b"x")]],
    "backslash": [[PYTHON, (pl.FILE, "bin\\x", b"x")]],
    "link leaves the root": [[PYTHON, (pl.SYMLINK, "bin/up", "../../etc")]],
    "absolute link": [[PYTHON, (pl.SYMLINK, "bin/abs", "/etc")]],
    "same file in two frames": [[PYTHON, (pl.FILE, "a", b"1")], [(pl.FILE, "a", b"2")]],
    "file under a symlink": [[PYTHON, (pl.DIR, "real", ""), (pl.SYMLINK, "d", "real"), (pl.FILE, "d/x", b"x")]],
    "file where a link is": [[PYTHON, (pl.SYMLINK, "l", "bin"), (pl.FILE, "l", b"x")]],
}


@pytest.mark.parametrize("case", list(BAD_PAYLOADS))
def test_payload_that_breaks_the_rules(stub, cache, tmp_path, case):
    bad = st.write_artifact(stub, st.raw_block(BAD_PAYLOADS[case]), tmp_path / "bad")
    assert_damaged(st.run(bad, env=st.base_env(cache), cwd=tmp_path), bad)
    assert_nothing_left(cache)
    assert not (tmp_path / "evil").exists() and not Path("/tmp/bundler-stub-test-evil").exists()
    assert_damaged(st.run(bad, env={"BUNDLER_STUB": "verify"}), bad)


def test_frame_larger_or_smaller_than_announced(stub, cache, tmp_path):
    for lie in (-1, 1):
        bad = st.write_artifact(stub, st.raw_block([[PYTHON, (pl.FILE, "a", b"abc")]], size_lie=lie), tmp_path / "bad")
        assert_damaged(st.run(bad, env=st.base_env(cache)), bad)
        assert_nothing_left(cache)


def test_hand_made_block_is_accepted(stub, cache, tmp_path):
    """The raw_block helper itself makes valid artifacts (so the cases above fail for their reason)."""
    good = st.write_artifact(stub, st.raw_block([[PYTHON, (pl.DIR, "d", ""), (pl.SYMLINK, "d/l", "../bin")]]), tmp_path / "good")
    assert st.run(good, env={"BUNDLER_STUB": "verify"}).stdout == b"ok stubtest 2.0 linux-x86_64\n"


def test_frames_are_unpacked_largest_first(stub, tmp_path):
    """On one CPU the stub unpacks its frames one after another: the largest first, whatever their order in
    the payload, so that on several CPUs the big frames start at once and the small ones fill in."""
    sizes = {"small": 1 << 10, "large": 3 << 20, "medium": 1 << 20}
    frames = [[PYTHON]] + [[(pl.FILE, f"{name}.bin", os.urandom(size))] for name, size in sizes.items()]
    app = st.write_artifact(stub, st.raw_block(frames), tmp_path / "app")
    log = tmp_path / "strace.log"
    proc = subprocess.run(["taskset", "-c", "0", "strace", "-f", "-qq", "-e", "trace=openat", "-e", "signal=none",
                           "-o", str(log), str(app)], env={"BUNDLER_STUB": f"extract:{tmp_path / 'out'}"},
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    created = [line.split('"')[1] for line in log.read_text().splitlines() if "O_CREAT" in line and '.bin"' in line]
    assert created == ["large.bin", "medium.bin", "small.bin"], created


def test_verify_checks_the_whole_payload(app, tmp_path):
    assert st.run(app, env={"BUNDLER_STUB": "verify"}).stdout == b"ok stubtest 2.0 linux-x86_64\n"
    lay = st.layout(app)
    bad = flip(app, tmp_path / "bad", lay.manifest - 1)
    assert_damaged(st.run(bad, env={"BUNDLER_STUB": "verify"}), bad)


# ---------------------------------------------------------------- processes racing and dying


def test_kill_during_first_run_then_a_normal_run(big_app, cache):
    proc = subprocess.Popen([str(big_app)], env=st.base_env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not any(n.startswith(".tmp-") for n in st.cache_entries(cache)):
            assert proc.poll() is None, "finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -9
    names = st.cache_entries(cache)
    assert len(names) == 1 and names[0].startswith(".tmp-"), names  # what the killed run left
    r = st.parse(st.run(big_app, "after", env=st.base_env(cache)))
    assert r.returncode == 0, r.stderr
    tree = one_tree(cache)  # and the stale temp tree is gone
    assert (tree / "lib/blob07.bin").stat().st_size == 25 << 20
    shutil.rmtree(cache)


def test_concurrent_first_runs_share_one_tree(stub, cache, tmp_path):
    extra = {f"lib/data{i}.bin": os.urandom(2 << 20) for i in range(8)}
    app = st.write_artifact(stub, st.build_block(st.make_tree(tmp_path / "tree", extra), frame_size=1 << 20), tmp_path / "app")
    procs = [
        subprocess.Popen([str(app), str(i)], env=st.base_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for i in range(16)
    ]
    results = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    tree = one_tree(cache)
    for i, (rc, out, err) in enumerate(results):
        assert rc == 0, err
        assert out.split(b"\0")[1:3] == [f"arg:{tree}/bin/hello".encode(), f"arg:{i}".encode()]


# ---------------------------------------------------------------- disks and permissions


@pytest.fixture
def tmpfs(tmp_path):
    """mount_tmpfs(options) -> a fresh tmpfs mount point, unmounted after the test. Mode 0755, as a
    user's own cache directory is (tmpfs' default, 1777, is a cache root the stub refuses to trust)."""
    assert os.geteuid() == 0, "mounting a tmpfs needs root (make test runs as root in CI)"
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        mnt = tmp_path / f"tmpfs{len(mounted)}"
        mnt.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"mode=0755,{options}", "tmpfs", str(mnt)], capture_output=True, text=True)
        assert proc.returncode == 0, f"cannot mount a tmpfs: {proc.stderr}"
        mounted.append(mnt)
        return mnt

    try:
        yield mount
    finally:
        for mnt in mounted:
            subprocess.run(["umount", str(mnt)], check=True)


def test_disk_full_is_reported_and_cleaned_up(stub, tmpfs, tmp_path):
    tiny_fs = tmpfs("size=1m")
    app = st.write_artifact(stub, st.build_block(st.make_tree(tmp_path / "tree", {"lib/big.bin": os.urandom(3 << 20)})), tmp_path / "app")
    proc = st.run(app, env=st.base_env(tiny_fs))
    err = proc.stderr.decode()
    assert proc.returncode == 74, err
    assert err == (
        f"bundler: not enough disk space to unpack {APP} into {tiny_fs} (needs about 4 MB); "
        "free space or set BUNDLER_CACHE_DIR to another disk.\n"
    )
    assert os.listdir(tiny_fs) == []


def test_noexec_cache_is_explained(app, tmpfs):
    cache = tmpfs("size=8m,noexec")
    proc = st.run(app, env=st.base_env(cache))
    err = proc.stderr.decode()
    assert proc.returncode == 71, err
    assert err.count("\n") == 1 and "(Permission denied); if that directory is on a filesystem mounted noexec" in err


def test_missing_interpreter_is_an_exec_failure(stub, cache, tmp_path):
    app = st.write_artifact(stub, st.raw_block([[(pl.FILE, "bin/hello", b"")]]), tmp_path / "app")
    proc = st.run(app, env=st.base_env(cache))
    err = proc.stderr.decode()
    tree = one_tree(cache)
    assert proc.returncode == 71, err
    assert err == f"bundler: cannot start {tree}/bin/python3.11 (No such file or directory); delete {tree} so that the next run unpacks it again.\n"


UID = st.UID
as_user = st.as_user


@pytest.fixture
def public_dir():
    """A directory under /tmp that another uid can reach (pytest's tmp_path is 0700 root)."""
    assert os.geteuid() == 0, "switching users needs root (make test runs as root in CI)"
    d = Path(tempfile.mkdtemp(prefix="bundler-stub-test-", dir="/tmp"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d)


@pytest.mark.parametrize("unusable", ["under a file", "owned by root", "HOME and XDG under a file"])
def test_unwritable_cache_falls_back_to_tmpdir(app, public_dir, unusable):
    artifact = Path(shutil.copy2(app, public_dir / "app"))
    (public_dir / "file").write_text("not a directory")
    (public_dir / "rootdir").mkdir(mode=0o755)
    tmpdir = public_dir / "tmp"
    tmpdir.mkdir()
    tmpdir.chmod(0o1777)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(public_dir / "file/home"), "XDG_CACHE_HOME": str(public_dir / "file/xdg"), "TMPDIR": str(tmpdir)}
    if unusable != "HOME and XDG under a file":
        env["BUNDLER_CACHE_DIR"] = str(public_dir / ("file/cache" if unusable == "under a file" else "rootdir"))
    r = st.parse(st.run(artifact, "x", env=env, preexec_fn=as_user()))
    assert r.returncode == 0, r.stderr
    root = tmpdir / f"bundler-{UID}"
    tree = one_tree(root)
    assert r.args == ["-I", f"{tree}/bin/hello", "x"]
    assert root.stat().st_uid == UID and root.stat().st_mode & 0o777 == 0o700


def test_write_error_is_reported(golden_artifact, public_dir):
    (public_dir / "locked").mkdir(mode=0o755)  # root's: uid 54321 cannot write there
    artifact = Path(shutil.copy2(golden_artifact, public_dir / "golden"))
    dest = public_dir / "locked" / "rt"
    proc = st.run(artifact, env={"BUNDLER_STUB": f"extract:{dest}"}, preexec_fn=as_user())
    err = proc.stderr.decode()
    assert proc.returncode == 74, err
    assert err == f"bundler: cannot unpack golden into {dest}: writing {dest} failed (Permission denied); check that directory or choose another one.\n"


def test_no_usable_cache_at_all(app, public_dir):
    squatted = Path(f"/tmp/bundler-{UID}")
    if squatted.is_symlink():  # a leftover of an earlier run: this test owns that name
        squatted.unlink()
    elif squatted.is_dir():
        shutil.rmtree(squatted)
    squatted.mkdir(mode=0o755)  # someone else's (root's): must not be used
    try:
        artifact = Path(shutil.copy2(app, public_dir / "app"))
        (public_dir / "file").write_text("not a directory")
        env = {"PATH": "/usr/bin:/bin", "BUNDLER_CACHE_DIR": str(public_dir / "file/c"), "TMPDIR": str(public_dir / "file/t")}
        proc = st.run(artifact, env=env, preexec_fn=as_user())
        err = proc.stderr.decode()
        assert proc.returncode == 73, err
        assert err.count("\n") == 1 and err.endswith("set BUNDLER_CACHE_DIR to a writable directory.\n"), err
        for tried in (public_dir / "file/c", public_dir / f"file/t/bundler-{UID}", squatted):
            assert f"{tried} (" in err, err
        assert "not owned by the current user" in err
        assert os.listdir(squatted) == []
    finally:
        shutil.rmtree(squatted)


# ---------------------------------------------------------------- building the stub


def test_the_packaged_stub_matches_its_record_and_the_sources(stub):
    record = stubmod.packaged_record()
    entry = record["stubs"][TARGET]
    assert stub.name == entry["file"] == "bundler-stub-linux-x86_64"
    assert hashlib.sha256(stub.read_bytes()).hexdigest() == entry["sha256"]
    assert record["zig_version"] == stubmod.ZIG_VERSION
    assert record["source_sha256"] == stubbuild.source_digest(stubmod.STUB_SOURCES)
    assert set(record["stubs"]) == {k.key for k in stubbuild.ALL_KINDS} == {
        "linux-x86_64", "linux-aarch64", "windows-x86_64-console", "windows-x86_64-gui", "macos-arm64", "macos-x86_64",
        "launcher-windows-x86_64-console", "launcher-windows-x86_64-gui", "launcher-macos-arm64",
        "launcher-macos-x86_64"}
    assert stub.stat().st_size < 400_000
    assert {e["program"] for e in record["stubs"].values()} == {"stub", "launcher"}


def test_the_packaged_launchers_match_their_record(tmp_path):
    """Windows' entry launchers are packaged, checked on use and recorded like the stubs."""
    record = stubmod.packaged_record()
    for gui, variant in ((False, "console"), (True, "gui")):
        launcher = stubmod.launcher_for("windows-x86_64", cache_dir=tmp_path, gui=gui)
        entry = record["stubs"][f"launcher-windows-x86_64-{variant}"]
        assert launcher.prebuilt and launcher.program == "launcher" and launcher.variant == variant
        assert launcher.path.name == entry["file"] == f"bundler-launcher-windows-x86_64-{variant}.exe"
        assert launcher.sha256 == entry["sha256"] == hashlib.sha256(launcher.path.read_bytes()).hexdigest()
        assert entry["size"] < 200_000
    with pytest.raises(StubError, match="no entry launcher for target linux-x86_64"):
        stubmod.launcher_for(TARGET, cache_dir=tmp_path)


def test_a_damaged_packaged_launcher_is_refused(tmp_path):
    packaged = Path(shutil.copytree(stubmod.PACKAGED, tmp_path / "_stubs"))
    path = packaged / "bundler-launcher-windows-x86_64-gui.exe"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(StubError, match=r"bundler-launcher-windows-x86_64-gui.exe: the packaged launcher is damaged"):
        stubmod.launcher_for("windows-x86_64", gui=True, cache_dir=tmp_path, packaged=packaged, sources=tmp_path / "none")


@pytest.mark.slow  # compiles a stub with Zig
def test_changed_sources_are_compiled_then_cached(stub_cache, tmp_path):
    """A checkout whose stubs/ differ from what was packaged compiles them (once) with Zig."""
    src = Path(shutil.copytree(stubmod.STUB_SOURCES, tmp_path / "stubs"))
    (src / "main.zig").write_text((src / "main.zig").read_text() + "\n// a local change\n")
    events = []
    built = stubmod.stub_for(TARGET, cache_dir=stub_cache, sources=src, progress=lambda e, d: events.append(e))
    assert events == ["build"] and not built.prebuilt
    assert built.source_sha256 == stubbuild.source_digest(src) != stubmod.packaged_record()["source_sha256"]
    assert built.sha256 == hashlib.sha256(built.path.read_bytes()).hexdigest()
    events.clear()
    again = stubmod.stub_for(TARGET, cache_dir=stub_cache, sources=src, progress=lambda e, d: events.append(e))
    assert again == built and events == ["cached"]
    assert not list(built.path.parent.glob(".*"))  # no temp dir left


@pytest.mark.slow  # compiles a stub with Zig
def test_rebuild_is_only_on_request(stub, stub_cache):
    events = []
    used = stubmod.stub_for(TARGET, cache_dir=stub_cache, progress=lambda e, d: events.append(e))
    assert used.prebuilt and used.path == stub and events == ["packaged"]
    rebuilt = stubmod.stub_for(TARGET, cache_dir=stub_cache, rebuild=True)
    assert not rebuilt.prebuilt and rebuilt.path != stub
    assert rebuilt.sha256 == hashlib.sha256(stub.read_bytes()).hexdigest()  # same sources, same Zig: same bytes
    # the entry launcher compiles through the same path (a few seconds: no libzstd), to the packaged bytes
    launcher = stubmod.launcher_for("windows-x86_64", cache_dir=stub_cache, rebuild=True)
    assert not launcher.prebuilt and launcher.path.name == "bundler-launcher-windows-x86_64-console.exe"
    assert launcher.sha256 == stubmod.launcher_for("windows-x86_64", cache_dir=stub_cache).sha256


def test_rebuild_without_sources_says_so(stub_cache, tmp_path):
    with pytest.raises(StubError, match="no stub sources, and --rebuild-stub asks to compile it"):
        stubmod.stub_for(TARGET, cache_dir=stub_cache, rebuild=True, sources=tmp_path / "none")
    with pytest.raises(StubError, match="has no prebuilt stubs"):
        stubmod.stub_for(TARGET, cache_dir=stub_cache, packaged=tmp_path / "none", sources=tmp_path / "none")


def test_a_damaged_packaged_stub_is_refused(tmp_path):
    packaged = Path(shutil.copytree(stubmod.PACKAGED, tmp_path / "_stubs"))
    path = packaged / "bundler-stub-linux-x86_64"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(StubError, match=r"bundler-stub-linux-x86_64: the packaged stub is damaged .*reinstall bundler"):
        stubmod.stub_for(TARGET, cache_dir=tmp_path, packaged=packaged, sources=tmp_path / "none")
    path.unlink()
    with pytest.raises(StubError, match="the packaged stub is missing"):
        stubmod.stub_for(TARGET, cache_dir=tmp_path, packaged=packaged, sources=tmp_path / "none")


def test_stub_unit_tests():
    """The Zig unit tests of stubs/ (path rules, entry parsing, temp names), and zig fmt."""
    zig = stubbuild.zig_command()
    proc = subprocess.run([*zig, "test", str(stubmod.STUB_SOURCES / "main.zig"), "-lc"],
                          capture_output=True, text=True, cwd=stubmod.STUB_SOURCES)
    assert proc.returncode == 0, proc.stderr
    fmt = subprocess.run([*zig, "fmt", "--check", str(stubmod.STUB_SOURCES)], capture_output=True, text=True)
    assert fmt.returncode == 0, f"run `python -m ziglang fmt stubs/`: {fmt.stdout}{fmt.stderr}"


@pytest.mark.slow  # compiles a stub with Zig
def test_compile_error_is_a_stub_error(stub_cache, tmp_path):
    src = Path(shutil.copytree(stubmod.STUB_SOURCES, tmp_path / "stubs"))
    (src / "main.zig").write_text((src / "main.zig").read_text() + "\nconst broken: u8 = \"not a number\";\ncomptime { _ = broken; }\n")
    with pytest.raises(StubError) as info:
        stubmod.build_stub(TARGET, cache_dir=stub_cache, sources=src)
    assert "building the stub" in str(info.value) and "error:" in str(info.value)
    assert not list((stub_cache / "stubs").glob("*/.*"))  # no temp dir left


def test_missing_ziglang(tmp_path, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(StubError, match=r"pip install 'ziglang==0\.17\.1'"):
        stubmod.build_stub(TARGET, cache_dir=tmp_path)


def test_unknown_target(tmp_path):
    with pytest.raises(StubError, match="linux-x86_64"):
        stubmod.stub_for("plan9-mips", cache_dir=tmp_path)


def test_source_digest_follows_the_sources(tmp_path):
    src = tmp_path / "stubs"
    (src / "zstd").mkdir(parents=True)
    (src / "main.zig").write_text("a")
    d1 = stubbuild.source_digest(src)
    (src / "zstd" / "zstd.c").write_text("c")
    d2 = stubbuild.source_digest(src)
    (src / "main.zig").write_text("b")
    assert len({d1, d2, stubbuild.source_digest(src)}) == 3
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "x.pyc").write_text("ignored")
    assert stubbuild.source_digest(src) == stubbuild.source_digest(src)
