"""Crafted artifacts that look valid (every hash recomputed, per docs/FORMAT.md) and a second user
who can write where he should not: the real stub, run as an unprivileged user, and the Python
reader (``bundler inspect --verify``, ``payload.extract``) refuse the same things in one line,
and nothing is written outside the cache or the extract directory (issue 11, items 1-4)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import traceback
from pathlib import Path

import pytest
import support.stubtools as st
from support.stubtools import APP

from bundler import cli
from bundler.errors import PayloadError
from bundler.output import payload as pl
from bundler.output import stub as stubmod

VICTIM, ATTACKER = st.UID, st.OTHER_UID
DAMAGED = 65
as_user = st.as_user


@pytest.fixture(scope="module")
def stub(build_cache) -> Path:
    found = stubmod.stub_for("linux-x86_64", cache_dir=build_cache)
    assert found.prebuilt, "no packaged stubs: run `make stubs` first (make test does)"
    return found.path


@pytest.fixture
def room():
    """A directory under /tmp that both uids can reach, with a home the victim owns (0700)."""
    assert os.geteuid() == 0, "switching users needs root (make test runs as root in CI)"
    d = Path(tempfile.mkdtemp(prefix="bundler-hardening-", dir="/tmp"))
    d.chmod(0o755)
    (d / "home").mkdir(mode=0o700)
    os.chown(d / "home", VICTIM, VICTIM)
    try:
        yield d
    finally:
        shutil.rmtree(d)


def _artifact(stub: Path, block: bytes, room: Path) -> Path:
    path = st.write_artifact(stub, block, room / "app")
    return path


def _run(artifact: Path, env: dict[str, str], uid: int = VICTIM) -> subprocess.CompletedProcess:
    return st.run(artifact, env={"PATH": "/usr/bin:/bin", **env}, preexec_fn=as_user(uid))


def _refused_everywhere(artifact: Path, room: Path, words: str) -> None:
    """run, verify and extract:DIR all exit 65 with one line holding *words*; nothing stays behind;
    `bundler inspect --verify` exits 10 with one line."""
    home = room / "home"
    runs = {
        "run": _run(artifact, {"BUNDLER_CACHE_DIR": str(home / "cache"), "HOME": str(home)}),
        "verify": _run(artifact, {"BUNDLER_STUB": "verify"}),
        "extract": _run(artifact, {"BUNDLER_STUB": f"extract:{home / 'out'}"}),
    }
    for mode, proc in runs.items():
        err = proc.stderr.decode("utf-8", "replace")
        assert proc.returncode == DAMAGED, f"{mode}: {proc.returncode} {err}"
        assert err.count("\n") == 1 and words in err, f"{mode}: {err}"
    assert st.cache_entries(home / "cache") == [] and not (home / "out").exists()
    assert cli.main(["inspect", "--verify", str(artifact)]) == 10


def _chain(depth: int = 12) -> tuple[list[tuple], str]:
    """`d0/…/d11/up -> ../..(12)` (inside), `esc -> d0/…/d11/up/../..(12)` (inside by its text,
    really the file system's root)."""
    dirs = ["/".join(f"d{i}" for i in range(n + 1)) for n in range(depth)]
    up = f"{dirs[-1]}/up"
    entries = [(pl.DIR, d, b"") for d in dirs]
    entries.append((pl.SYMLINK, up, "/".join([".."] * depth)))
    entries.append((pl.SYMLINK, "esc", up + "/" + "/".join([".."] * depth)))
    return entries, "esc"


def test_a_link_that_goes_up_after_a_link_is_refused(stub, room, capsys):
    entries, _esc = _chain()
    artifact = _artifact(stub, st.raw_block([entries]), room)
    _refused_everywhere(artifact, room, "the symlink esc goes up ('..') after the symlink d0/d1/d2")
    assert "goes up ('..') after the symlink" in capsys.readouterr().err


def test_a_link_through_a_link_without_going_up_is_fine(stub, room):
    """`lib/current -> v2`, `bin/tool -> ../lib/current/tool`: through a link, then down only."""
    entries = [(pl.DIR, "bin", b""), (pl.DIR, "lib", b""), (pl.DIR, "lib/v2", b""), (pl.FILE, "lib/v2/tool", b"x"),
               (pl.SYMLINK, "lib/current", "v2"), (pl.SYMLINK, "bin/tool", "../lib/current/tool")]
    artifact = _artifact(stub, st.raw_block([entries]), room)
    proc = _run(artifact, {"BUNDLER_STUB": "verify"})
    assert proc.returncode == 0, proc.stderr
    assert cli.main(["inspect", "--verify", str(artifact)]) == 0


def test_a_write_through_the_chain_lands_nowhere(stub, room, capsys):
    entries, esc = _chain()
    outside = Path(tempfile.mkdtemp(prefix="bundler-escape-", dir="/tmp"))  # where the escape would write
    outside.chmod(0o777)
    try:
        entries.append((pl.FILE, f"{esc}{outside}/pwned", b"owned\n"))
        artifact = _artifact(stub, st.raw_block([entries]), room)
        _refused_everywhere(artifact, room, "lies under a file or a symlink of the payload")
        with pytest.raises(PayloadError, match="lies under a file or a symlink"):
            pl.extract(artifact, room / "py-out")
        assert os.listdir(outside) == [] and not (room / "py-out").exists()
    finally:
        shutil.rmtree(outside)
    capsys.readouterr()


def test_every_mode_refuses_the_same_payloads(stub, room, capsys):
    cases = {
        "a directory twice": ([(pl.DIR, "lib", b""), (pl.DIR, "lib", b"")], "lib appears twice in the payload"),
        "the marker's name": ([(pl.FILE, ".bundler-complete", b"")], "the payload contains the reserved name .bundler-complete"),
        "a file under a file": ([(pl.FILE, "lib", b""), (pl.FILE, "lib/x", b"")], "lib/x lies under a file or a symlink"),
    }
    for name, (entries, words) in cases.items():
        artifact = _artifact(stub, st.raw_block([entries]), room / name.replace(" ", "-"))
        _refused_everywhere(artifact, room, words)
    # a default entry point that is not one: refused before anything runs, by verify too
    bad_default = _artifact(stub, st.raw_block([[(pl.FILE, "bin/hello", b"")]], overrides={"default_entry": "nope"}), room / "d")
    proc = _run(bad_default, {"BUNDLER_STUB": "verify"})
    assert proc.returncode == DAMAGED and b"the default entry point nope is not in the manifest" in proc.stderr
    assert cli.main(["inspect", "--verify", str(bad_default)]) == 10
    capsys.readouterr()


def _payload_sha(artifact: Path) -> str:
    return pl.read_manifest(artifact).payload.sha256


def test_a_payload_that_claims_another_apps_digest_plants_nothing(stub, room):
    home = room / "home"
    env = {"BUNDLER_CACHE_DIR": str(home / "cache"), "HOME": str(home)}
    victim = st.write_artifact(stub, st.build_block(st.make_tree(room / "tree")), room / "victim" / APP)
    key = _payload_sha(victim)[:16]
    evil = st.raw_block([[(pl.DIR, "bin", b""), (pl.FILE, "bin/python3.11", b"#!/bin/sh\necho planted\n"),
                          (pl.FILE, "bin/hello", b"")]], payload_sha256=_payload_sha(victim))
    attacker = st.write_artifact(stub, evil, room / "attacker" / APP)
    proc = _run(attacker, env)
    assert proc.returncode == DAMAGED and proc.stderr.count(b"\n") == 1 and b"payload checksum mismatch" in proc.stderr
    assert key not in st.cache_entries(home / "cache")
    report = st.parse(_run(victim, env))
    assert report.returncode == 0 and report.args[:1] == ["-I"], report.stderr  # the victim's own python ran


def _plant(app_dir: Path, key: str, marker: Path) -> None:
    """The attacker's "complete" tree under the victim's key, as the attacker."""
    tree = app_dir / key
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "python3.11").write_text(f"#!/bin/sh\necho planted > {marker}\n")
    (tree / "bin" / "python3.11").chmod(0o755)
    (tree / ".bundler-complete").write_text(key + "\n")


@pytest.mark.parametrize("hole", ["a cache root others can write (1777)", "an app directory others can write"])
def test_a_cache_others_can_write_is_not_trusted(stub, room, hole):
    victim = st.write_artifact(stub, st.build_block(st.make_tree(room / "tree")), room / "victim" / APP)
    key = _payload_sha(victim)[:16]
    cache = room / "cache"  # the victim's, somewhere the attacker can reach
    marker = room / "attack" / "ran"
    (room / "attack").mkdir(mode=0o777)
    (room / "attack").chmod(0o777)
    cache.mkdir()
    os.chown(cache, VICTIM, VICTIM)
    if hole.startswith("a cache root"):
        cache.chmod(0o1777)
        (cache / APP).mkdir()  # made as root here, handed to the attacker below
        os.chown(cache / APP, ATTACKER, ATTACKER)
    else:
        cache.chmod(0o755)
        (cache / APP).mkdir()
        os.chown(cache / APP, VICTIM, VICTIM)
        (cache / APP).chmod(0o777)  # the victim's own, but everyone may write into it
    pid = os.fork()
    if pid == 0:  # the attacker plants his tree, as himself
        code = 1
        try:
            os.setgroups([])
            os.setgid(ATTACKER)
            os.setuid(ATTACKER)
            _plant(cache / APP, key, marker)
            code = 0
        except BaseException:
            traceback.print_exc()  # shown by pytest on failure
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    tmp = room / "tmp"
    tmp.mkdir(mode=0o777)
    tmp.chmod(0o777)
    report = st.parse(_run(victim, {"BUNDLER_CACHE_DIR": str(cache), "HOME": str(room / "home"), "TMPDIR": str(tmp)}))
    assert report.returncode == 0, report.stderr
    assert not marker.exists()  # the attacker's code never ran
    assert report.args[:1] == ["-I"] and report.args[1].startswith(f"{tmp}/bundler-{VICTIM}/")  # a private fallback


def _rewrite_manifest(block: bytes, edit) -> bytes:
    """*block* with its manifest text passed through *edit* (str -> str), trailer recomputed."""
    _magic, _v, _t, p_len, m_len, _sha, _end = pl.TRAILER.unpack(block[-pl.TRAILER_SIZE:])
    payload, manifest = block[:p_len], block[p_len:p_len + m_len].decode()
    new = edit(manifest).encode()
    return payload + new + pl.trailer_bytes(p_len, new)


@pytest.mark.parametrize(("edit", "words"), [
    (lambda m: m.replace('"length":', '"length":"', 1).replace(',"sha256"', '","sha256"', 1), "the manifest is not valid"),
    (lambda m: m.replace(',"sha256"', '.0,"sha256"', 1), "the manifest is not valid"),
    (lambda m: m.replace('"version":"2.0"', '"version":"2.0\\u001b[2J"', 1), "bad application version or target"),
    (lambda m: m.replace('"hello":"bin/hello"', '"hel\\u001blo":"bin/hello"', 1), "bad entry point name"),
])
def test_the_manifest_is_read_strictly(stub, room, edit, words, capsys):
    block = _rewrite_manifest(st.raw_block([[(pl.FILE, "bin/hello", b"")]]), edit)
    artifact = _artifact(stub, block, room)
    proc = _run(artifact, {"BUNDLER_STUB": "verify"})
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == DAMAGED and err.count("\n") == 1 and words in err, err
    assert "\x1b" not in err  # no terminal escape reaches the user's terminal
    assert cli.main(["inspect", "--verify", str(artifact)]) == 10
    assert "\x1b" not in capsys.readouterr().err


@pytest.mark.parametrize("name", ["bin/a\x1b[2Jb", "bin/\udcff"])
def test_entry_names_are_text(stub, room, name, capsys):
    artifact = _artifact(stub, st.raw_block([[(pl.FILE, name, b"")]]), room)
    _refused_everywhere(artifact, room, "is not UTF-8 or holds a control character")
    assert "\x1b" not in capsys.readouterr().err


def test_extract_honours_the_umask(stub, room):
    entries = [(pl.DIR, "d", b""), (pl.FILE, "d/f", b"x")]
    artifact = _artifact(stub, st.raw_block([entries], dir_mode=0o777, file_mode=0o666), room)  # world-writable in the payload
    dest = room / "home" / "out"

    def with_umask():
        os.umask(0o022)
        as_user(VICTIM)()

    proc = st.run(artifact, env={"PATH": "/usr/bin:/bin", "BUNDLER_STUB": f"extract:{dest}"}, preexec_fn=with_umask)
    assert proc.returncode == 0, proc.stderr
    assert (dest / "d").stat().st_mode & 0o777 == 0o755 and (dest / "d" / "f").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("lie", [+5, -5])
def test_a_frame_size_that_lies_is_refused_by_both(stub, room, lie, capsys):
    artifact = _artifact(stub, st.raw_block([[(pl.FILE, "bin/hello", b"x" * 100)]], size_lie=lie), room)
    proc = _run(artifact, {"BUNDLER_STUB": "verify"})
    assert proc.returncode == DAMAGED and proc.stderr.count(b"\n") == 1, proc.stderr
    assert cli.main(["inspect", "--verify", str(artifact)]) == 10
    assert capsys.readouterr().err.count("\n") == 1


def test_a_size_zstd_cannot_expand_to_is_refused_before_any_allocation(stub, room, capsys):
    artifact = _artifact(stub, st.raw_block([[(pl.FILE, "bin/hello", b"x")]], size_lie=1 << 40), room)
    for env in ({"BUNDLER_STUB": "verify"}, {"BUNDLER_CACHE_DIR": str(room / "home" / "cache"), "HOME": str(room / "home")}):
        proc = _run(artifact, env)
        err = proc.stderr.decode()
        assert proc.returncode == DAMAGED and err.count("\n") == 1 and "claims more bytes than zstd can expand" in err, err
    assert cli.main(["inspect", "--verify", str(artifact)]) == 10
    assert "more than zstd can expand" in capsys.readouterr().err


@pytest.fixture
def small_disk(room):
    """An 8 MB tmpfs the victim owns (0755), unmounted after the test."""
    mnt = room / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size=8m,mode=0755,uid={VICTIM},gid={VICTIM}", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_tree_that_cannot_fit_is_refused_before_writing(stub, room, small_disk):
    """200 MB of zeros (a 6 KB frame) into 8 MB: refused from the free space, before the frame is
    decompressed; the 128 MB address-space limit proves it (decompressing would need 200 MB)."""
    import resource

    artifact = _artifact(stub, st.raw_block([[(pl.DIR, "lib", b""), (pl.FILE, "lib/zeros", bytes(200 << 20))]]), room)

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (128 << 20, 128 << 20))
        as_user(VICTIM)()

    for env, dest in (({"BUNDLER_CACHE_DIR": str(small_disk / "cache"), "HOME": str(room / "home")}, small_disk / "cache"),
                      ({"BUNDLER_STUB": f"extract:{small_disk / 'out'}"}, small_disk / "out")):
        proc = st.run(artifact, env={"PATH": "/usr/bin:/bin", **env}, preexec_fn=limited)
        err = proc.stderr.decode()
        assert proc.returncode == 74 and err.count("\n") == 1, err
        assert "not enough disk space to unpack" in err and "(needs about 201 MB)" in err, err
        assert not dest.exists() or os.listdir(dest) == []  # nothing written: no <app>/, no tree


def test_large_frames_are_streamed_in_bounded_memory(stub, room, capsys):
    """A 48 MB incompressible file and 64 MB of zeros, one frame each: extracted and verified
    under a 96 MB address-space limit, which holding either frame whole (compressed + plain)
    would exceed."""
    import resource

    noise, zeros = os.urandom(48 << 20), bytes(64 << 20)
    entries = [(pl.DIR, "lib", b""), (pl.FILE, "lib/noise.bin", noise), (pl.FILE, "lib/zeros.bin", zeros),
               (pl.SYMLINK, "lib/link", "zeros.bin"), (pl.FILE, "lib/small", b"after the big ones")]
    artifact = _artifact(stub, st.raw_block([entries[:2], entries[2:3], entries[3:]]), room)
    dest = room / "home" / "out"

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (96 << 20, 96 << 20))
        as_user(VICTIM)()

    for env in ({"BUNDLER_STUB": "verify"}, {"BUNDLER_STUB": f"extract:{dest}"}):
        proc = st.run(artifact, env={"PATH": "/usr/bin:/bin", **env}, preexec_fn=limited)
        assert proc.returncode == 0, proc.stderr
    assert hashlib.sha256((dest / "lib/noise.bin").read_bytes()).digest() == hashlib.sha256(noise).digest()
    assert (dest / "lib/zeros.bin").stat().st_size == 64 << 20 and os.readlink(dest / "lib/link") == "zeros.bin"
    assert (dest / "lib/small").read_bytes() == b"after the big ones"


def test_a_streamed_frame_that_lies_is_refused(stub, room):
    """The checks of the whole-frame path hold when streaming: a size that lies, an entry cut short."""
    big = bytes(40 << 20)
    for block, words in ((st.raw_block([[(pl.FILE, "big", big)]], size_lie=+7), "has 41943067 bytes, not 41943074"),
                         (st.raw_block([[(pl.FILE, "big", big)]], size_lie=-7), "has more than 41943060 bytes")):
        artifact = _artifact(stub, block, room)
        proc = _run(artifact, {"BUNDLER_STUB": "verify"})
        err = proc.stderr.decode()
        assert proc.returncode == DAMAGED and err.count("\n") == 1 and words in err, err


def test_inspect_verify_streams_large_frames_too(tmp_path):
    """300 MB of zeros in one 10 KB frame: `bundler inspect --verify` under a 256 MB address-space
    limit (reading the frame whole raised MemoryError, an internal error)."""
    import resource
    import sys

    artifact = tmp_path / "app"
    artifact.write_bytes(b"\0" * 64 + st.raw_block([[(pl.FILE, "zeros", bytes(300 << 20))]]))
    proc = subprocess.run([sys.executable, "-m", "bundler", "inspect", "--verify", str(artifact)],
                          capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(pl.__file__).parents[2])},
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (256 << 20, 256 << 20)))
    assert proc.returncode == 0, proc.stderr
    assert "verified: payload, every frame and every entry are intact" in proc.stdout
