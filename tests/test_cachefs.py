"""cachefs: entries published whole by one rename, locks that wait, time out and die with their holder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback
from pathlib import Path

import pytest

from bundler import cachefs
from bundler.errors import CacheError


def test_new_dir_publishes_whole_with_its_marker(tmp_path):
    entry = tmp_path / "cache" / "things" / "abc"
    with cachefs.new_dir(entry, "made by test") as tmp:
        (tmp / "data").write_text("x")
        assert not entry.exists()  # nothing visible until the block ends
    assert cachefs.is_complete(entry) and (entry / "data").read_text() == "x"
    assert (entry / cachefs.COMPLETE).read_text() == "made by test\n"
    assert sorted(p.name for p in entry.parent.iterdir()) == ["abc"]


def test_new_dir_publishes_nothing_on_failure(tmp_path):
    entry = tmp_path / "abc"
    with pytest.raises(RuntimeError):
        with cachefs.new_dir(entry) as tmp:
            (tmp / "half").write_text("x")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_second_publisher_loses_harmlessly(tmp_path):
    entry = tmp_path / "abc"
    with cachefs.new_dir(entry) as first:
        (first / "who").write_text("first")
        with cachefs.new_dir(entry) as second:
            (second / "who").write_text("second")
    # the inner (second) published first; the outer one found a complete entry and was discarded
    assert (entry / "who").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abc"]


def test_leftover_without_marker_is_replaced(tmp_path):
    entry = tmp_path / "abc"
    entry.mkdir()
    (entry / "junk").write_text("from an older bundler")
    with cachefs.new_dir(entry) as tmp:
        (tmp / "data").write_text("new")
    assert sorted(p.name for p in entry.iterdir()) == [cachefs.COMPLETE, "data"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abc"]


def test_new_file_replaces_atomically_or_not_at_all(tmp_path):
    path = tmp_path / "d" / "f.bin"
    cachefs.write_file(path, b"one", mode=0o600)
    assert path.read_bytes() == b"one" and (path.stat().st_mode & 0o777) == 0o600
    with pytest.raises(RuntimeError):
        with cachefs.new_file(path) as out:
            out.write(b"tw")
            raise RuntimeError("killed")
    assert path.read_bytes() == b"one"
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.bin"]


def test_remove_leftovers(tmp_path):
    entry = tmp_path / "abc"
    (tmp_path / ".abc.x1y2.tmp").mkdir()
    (tmp_path / ".abc.q.tmp").write_text("half a file")
    (tmp_path / ".abcd.z.tmp").mkdir()  # another entry's
    cachefs.remove_leftovers(entry)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".abcd.z.tmp"]


def test_lock_path_is_under_locks(tmp_path):
    assert cachefs.lock_path(tmp_path, tmp_path / "runtimes" / "k") == tmp_path / "locks" / "runtimes~k.lock"


HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from bundler import cachefs
    with cachefs.locked(Path(sys.argv[1]), Path(sys.argv[1]) / "entry", "test entry"):
        print("held", flush=True)
        time.sleep(600)
""")


def _holder(cache: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(cache)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_lock_waits_for_its_holder_and_dies_with_it(tmp_path):
    holder = _holder(tmp_path)
    waited: list[bool] = []
    got = threading.Event()

    def take() -> None:
        with cachefs.locked(tmp_path, tmp_path / "entry", "test entry", on_wait=lambda: waited.append(True)):
            got.set()

    thread = threading.Thread(target=take)
    thread.start()
    try:
        time.sleep(0.5)
        assert not got.is_set() and waited == [True]  # waits (and says so once) while the other process holds it
        holder.send_signal(signal.SIGKILL)  # the kernel releases a dead holder's lock
        assert got.wait(60)
    finally:
        holder.kill()
        holder.wait()
        thread.join(60)


def test_lock_times_out_with_one_clear_line(tmp_path, monkeypatch):
    holder = _holder(tmp_path)
    try:
        monkeypatch.setenv("BUNDLER_LOCK_TIMEOUT", "0.3")
        with pytest.raises(CacheError) as info:
            with cachefs.locked(tmp_path, tmp_path / "entry", "test entry"):
                pass
        message = str(info.value)
        assert str(tmp_path / "entry") in message and "test entry" in message and "BUNDLER_LOCK_TIMEOUT" in message
        assert "\n" not in message and info.value.exit_code == 12
    finally:
        holder.kill()
        holder.wait()


def test_unwritable_cache_is_a_cache_error(tmp_path):
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("")
        cache = blocker  # a regular file where the cache directory should be: fails for root too
    else:
        cache = tmp_path / "ro"
        cache.mkdir(mode=0o500)
    with pytest.raises(CacheError, match="check the permissions of the cache directory|cannot create"):
        with cachefs.locked(cache, cache / "entry", "test entry"):
            pass


def test_replacing_keeps_the_mode_and_leaves_nothing_on_failure(tmp_path):
    exe = tmp_path / "lib.so"
    exe.write_bytes(b"old")
    exe.chmod(0o750)
    with cachefs.replacing(exe) as tmp:
        assert tmp.parent == tmp_path and tmp != exe
        tmp.write_bytes(b"new")  # a tool writes it by name
        assert exe.read_bytes() == b"old"
    assert exe.read_bytes() == b"new" and exe.stat().st_mode & 0o777 == 0o750
    with pytest.raises(RuntimeError), cachefs.replacing(exe, 0o644) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError
    assert exe.read_bytes() == b"new" and exe.stat().st_mode & 0o777 == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib.so"]


def test_replacing_tree_swaps_a_directory_for_a_file_whole(tmp_path):
    final = tmp_path / "out"
    (final / "sub").mkdir(parents=True)
    (final / "sub" / "f").write_text("old")
    with pytest.raises(RuntimeError), cachefs.replacing_tree(final) as work:
        work.write_text("half")
        raise RuntimeError
    assert (final / "sub" / "f").read_text() == "old"  # untouched by a failed replacement
    with cachefs.replacing_tree(final) as work:
        assert not work.exists() and work.name == "out"
        work.write_text("new")
    assert final.read_text() == "new"
    with cachefs.replacing_tree(final) as work:
        work.mkdir()
        (work / "g").write_text("dir again")
    assert (final / "g").read_text() == "dir again"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .partial, no old tree


def test_replacing_tree_removes_an_old_tree_its_owner_made_read_only(tmp_path):
    """In a child process as an unprivileged uid (root ignores the modes): the old output's directories are read-only."""
    assert os.geteuid() == 0, "switching users needs root (make test runs as root in CI)"
    uid = 54321
    public = Path(tempfile.mkdtemp(prefix="bundler-cachefs-test-", dir="/tmp"))
    final = public / "out"
    try:
        os.chown(public, uid, uid)
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                (final / "lib" / "deep").mkdir(parents=True)
                (final / "lib" / "deep" / "f").write_text("old")
                for d in (final / "lib" / "deep", final / "lib", final):
                    d.chmod(0o555)
                with cachefs.replacing_tree(final) as work:
                    work.mkdir()
                    (work / "new").write_text("new")
                code = 0
            except BaseException:
                traceback.print_exc()  # shown by pytest on failure
            finally:
                os._exit(code)
        _pid, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert os.listdir(public) == ["out"]  # no hidden .out.*.partial holding the old tree
        assert (final / "new").read_text() == "new"
    finally:
        shutil.rmtree(public)
