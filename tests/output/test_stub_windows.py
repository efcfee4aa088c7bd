"""The Windows stub (stubs/sys_windows.zig), built for real and run under wine.

The artifacts are the real console or GUI stub followed by a payload written
by bundler's own writer (bundler.onefile.write_onefile). The runtime's
"interpreter" ``python.exe`` is a small C program compiled with
``zig cc -target x86_64-windows-gnu`` that prints the arguments it received
(from its UTF-16 command line, parsed by the C runtime) and a few environment
variables, one per line in UTF-8, and exits with the code given as ``exit=N``.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pefile
import pytest
from support.signing import SigningCert, make_signing_cert, osslsigncode_verify
from support.winetools import WINE, run_wine

from bundler import cli as climod
from bundler.errors import PayloadError, SignError
from bundler.output import manifest as mf
from bundler.output import onefile, sign, stubbuild
from bundler.output import payload as pl
from bundler.output import stub as stubmod
from bundler.output.layers import LayerMap

TARGET = "windows-x86_64"
APP = "wintest"
DAMAGED = 65
# What the stub must hand to python.exe unchanged, through a Windows command line.
USER_ARGS = ["plain", "with space", "it's \"quoted\"", "Zoë ü 漢字", "", "--flag=1", "trailing\\", "back\\\"slash",
             "a\\\\b c", "%PATH%", "*", "tab\there"]

FAKE_PYTHON_C = r"""
#include <windows.h>
#include <stdlib.h>
#include <wchar.h>

static void out(const wchar_t *prefix, const wchar_t *s) {
    static char buf[200000];
    static wchar_t line[65536];
    DWORD w;
    _snwprintf(line, 65536, L"%ls%ls\n", prefix, s);
    line[65535] = 0;
    int n = WideCharToMultiByte(CP_UTF8, 0, line, -1, buf, sizeof buf, NULL, NULL);
    if (n > 0) WriteFile(GetStdHandle(STD_OUTPUT_HANDLE), buf, n - 1, &w, NULL);
}

static volatile LONG got_ctrl_c = 0;

static BOOL WINAPI on_ctrl(DWORD type) {
    if (type == CTRL_C_EVENT) { InterlockedExchange(&got_ctrl_c, 1); return TRUE; }
    return FALSE;
}

int wmain(int argc, wchar_t **argv) {
    static const wchar_t *vars[] = {L"PYTHONHOME", L"PYTHONPATH", L"PYTHONSTARTUP", L"BUNDLER_ARTIFACT",
                                    L"BUNDLER_ARGV0", L"BUNDLER_STUB", L"FAKE_VAR", NULL};
    static wchar_t val[32768];
    int code = 0;
    for (int i = 0; i < argc; i++) {
        out(L"arg:", argv[i]);
        if (wcsncmp(argv[i], L"exit=", 5) == 0) code = _wtoi(argv[i] + 5);
        if (wcscmp(argv[i], L"ctrl-c") == 0) {
            /* Ctrl-C to every process of this console (the stub too), as a keyboard would send it. */
            SetConsoleCtrlHandler(on_ctrl, TRUE);
            if (!GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0)) { out(L"ctrl-c:", L"no console"); return 2; }
            for (int t = 0; t < 100 && !got_ctrl_c; t++) Sleep(50);
            out(L"ctrl-c:", got_ctrl_c ? L"handled" : L"not seen");
        }
    }
    for (int i = 0; vars[i]; i++) {
        DWORD n = GetEnvironmentVariableW(vars[i], val, 32768);
        if (n > 0 || GetLastError() != ERROR_ENVVAR_NOT_FOUND) {
            wchar_t pre[300];
            _snwprintf(pre, 300, L"env:%ls=", vars[i]);
            out(pre, n > 0 ? val : L"");
        }
    }
    return code;
}
"""

# Finds the message box titled argv[1], prints its text (UTF-8) and presses OK.
CLOSER_C = r"""
#include <windows.h>
static wchar_t text[8192];
static BOOL CALLBACK child(HWND h, LPARAM lp) {
    wchar_t cls[64], t[8192];
    GetClassNameW(h, cls, 64);
    if (lstrcmpiW(cls, L"Static") == 0 && GetWindowTextW(h, t, 8192) > lstrlenW(text)) lstrcpyW(text, t);
    return TRUE;
}
int wmain(int argc, wchar_t **argv) {
    for (int i = 0; i < 600; i++) {
        HWND h = FindWindowW(L"#32770", argv[1]);
        if (h) {
            static char buf[32768];
            DWORD w;
            EnumChildWindows(h, child, 0);
            int n = WideCharToMultiByte(CP_UTF8, 0, text, -1, buf, sizeof buf, NULL, NULL);
            WriteFile(GetStdHandle(STD_OUTPUT_HANDLE), buf, n - 1, &w, NULL);
            PostMessageW(h, WM_COMMAND, IDOK, 0);
            return 0;
        }
        Sleep(100);
    }
    return 1;
}
"""


# ---------------------------------------------------------------- helpers


def winpath(p: Path | str) -> str:
    """The Windows name wine gives a Unix path (drive Z: is /)."""
    return "Z:" + str(p).replace("/", "\\")


def zig_cc(source: str, out: Path, *libs: str) -> Path:
    src = out.with_suffix(".c")
    src.write_text(source)
    cmd = [*stubbuild.zig_command(), "cc", "-target", "x86_64-windows-gnu", "-municode", "-O2", "-o", str(out), str(src), *libs]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=out.parent)
    assert proc.returncode == 0, proc.stderr
    return out


@dataclass
class Report:
    """What the fake python.exe printed."""

    returncode: int
    args: list[str]  # argv[0] (its own path) first
    env: dict[str, str]
    lines: list[str]
    stderr: str


def parse(proc: subprocess.CompletedProcess) -> Report:
    args, env, lines = [], {}, proc.stdout.decode("utf-8").split("\n")[:-1]
    for line in lines:
        kind, _, value = line.partition(":")
        if kind == "arg":
            args.append(value)
        elif kind == "env":
            name, _, val = value.partition("=")
            env[name] = val
    return Report(proc.returncode, args, env, lines, proc.stderr.decode("utf-8", "replace"))


def make_tree(root: Path, python: Path, extra: dict[str, bytes] | None = None) -> Path:
    """A small Windows runtime: python.exe, two entry scripts, a package, symlinks to copy."""
    (root / "bin").mkdir(parents=True)
    shutil.copy(python, root / "python.exe")
    (root / "bin/hello").write_text("print('hello')\n")
    (root / "bin/other").write_text("print('other')\n")
    (root / "Lib/site-packages/dep").mkdir(parents=True)
    (root / "Lib/real.py").write_text("REAL = 1\n")
    (root / "Lib/site-packages/dep/__init__.py").write_text("VALUE = 1\n")
    (root / "Lib/site-packages/dep/data.bin").write_bytes(bytes(range(256)) * 64)
    (root / "share").mkdir()
    (root / "share/naïve ü 漢.txt").write_text("non-ASCII name\n", encoding="utf-8")
    os.symlink("real.py", root / "Lib/link.py")  # a file link
    os.symlink("site-packages/dep", root / "Lib/deplink")  # a directory link
    os.symlink("../Lib/deplink/__init__.py", root / "bin/chain.py")  # through another link
    os.symlink("missing.py", root / "Lib/dangling.py")
    for rel, data in (extra or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def write_artifact(stub: Path, tree: Path, dest: Path, app: str = APP) -> Path:
    manifest = {
        "format": 1,
        "app": {"name": app, "version": "1.0"},
        "target": TARGET,
        "python": {"version": "3.11.0", "executable": "python.exe"},
        "entry_points": {"hello": "bin/hello", "other": "bin/other"},
        "default_entry": "hello",
        "build": {"bundler": "test", "source_date_epoch": 0},
    }
    layers = LayerMap("Lib/site-packages", {"bin/hello": "app", "bin/other": "app"}, {"dep": "dependencies"})
    dest.parent.mkdir(parents=True, exist_ok=True)
    onefile.write_onefile(tree, dest, stub=stub, layers=layers, manifest=mf.parse(manifest, "test manifest"), level=3, cache=pl.FrameCache(None))
    return dest


def key_of(artifact: Path) -> str:
    return pl.read_manifest(artifact).payload.key


def one_tree(cache: Path, app: str = APP) -> Path:
    names = sorted(os.listdir(cache / app))
    assert len(names) == 1 and not names[0].startswith(".tmp-"), names
    return cache / app / names[0]


def assert_damaged(proc: subprocess.CompletedProcess, artifact: Path) -> None:
    err = proc.stderr.decode("utf-8")
    assert proc.returncode == DAMAGED, err
    assert err.count("\n") == 1, err
    assert err.startswith(f"bundler: {winpath(artifact)} is damaged or truncated (") and err.endswith("; download it again.\n"), err


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def console_stub(build_cache) -> Path:
    return stubmod.stub_for(TARGET, cache_dir=build_cache).path


@pytest.fixture(scope="session")
def gui_stub(build_cache) -> Path:
    return stubmod.stub_for(TARGET, cache_dir=build_cache, gui=True).path


@pytest.fixture(scope="session")
def windows_tools(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("wintools")
    return {"python": zig_cc(FAKE_PYTHON_C, d / "python.exe"), "closer": zig_cc(CLOSER_C, d / "closer.exe", "-luser32")}


@pytest.fixture(scope="session")
def win_tree(windows_tools, tmp_path_factory) -> Path:
    return make_tree(tmp_path_factory.mktemp("wintree") / "tree", windows_tools["python"])


@pytest.fixture(scope="session")
def app(console_stub, win_tree, tmp_path_factory) -> Path:
    """The console artifact, in a directory whose name has a space and non-ASCII letters."""
    return write_artifact(console_stub, win_tree, tmp_path_factory.mktemp("winapp") / "dir ü 漢字" / "app.exe")


@pytest.fixture(scope="session")
def gui_app(gui_stub, win_tree, tmp_path_factory) -> Path:
    return write_artifact(gui_stub, win_tree, tmp_path_factory.mktemp("winguiapp") / "dir ü 漢字" / "gui app.exe")


@pytest.fixture
def cache(tmp_path) -> Path:
    """A cache root with non-ASCII letters and a space in its name."""
    return tmp_path / "cache ü 漢"


def run(artifact: Path, *args: str, wine: dict, cache: Path | None, **extra: str) -> subprocess.CompletedProcess:
    env = {"BUNDLER_CACHE_DIR": winpath(cache)} if cache is not None else {}
    env.update(extra)
    return run_wine(artifact, *args, env=wine, extra_env=env)


# ---------------------------------------------------------------- the executables


def test_console_and_gui_stubs_are_pe32_plus_amd64(console_stub, gui_stub):
    assert console_stub.name == "bundler-stub-windows-x86_64-console.exe"
    assert gui_stub.name == "bundler-stub-windows-x86_64-gui.exe"
    for path, subsystem in ((console_stub, pefile.SUBSYSTEM_TYPE["IMAGE_SUBSYSTEM_WINDOWS_CUI"]),
                            (gui_stub, pefile.SUBSYSTEM_TYPE["IMAGE_SUBSYSTEM_WINDOWS_GUI"])):
        pe = pefile.PE(str(path), fast_load=True)
        pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"]])
        assert pe.FILE_HEADER.Machine == pefile.MACHINE_TYPE["IMAGE_FILE_MACHINE_AMD64"]
        assert pe.OPTIONAL_HEADER.Magic == pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS
        assert pe.OPTIONAL_HEADER.Subsystem == subsystem, path
        dlls = {e.dll.decode().lower() for e in pe.DIRECTORY_ENTRY_IMPORT}
        assert {"kernel32.dll", "ntdll.dll"} <= dlls
        assert "user32.dll" not in dlls  # loaded only to show a failure of the GUI stub
        assert path.stat().st_size < 400_000



# ---------------------------------------------------------------- running


def test_first_run_unpacks_and_passes_args_env_and_exit_code(app, cache, wine):
    r = parse(run(app, *USER_ARGS, "exit=3", wine=wine, cache=cache,
                  PYTHONHOME="C:\\elsewhere", PythonPath="C:\\x", PYTHONSTARTUP="s.py", BUNDLER_ARGV0="stale", FAKE_VAR="kept ü"))
    assert r.returncode == 3, r.stderr
    tree = one_tree(cache)
    key = pl.read_manifest(app).payload.sha256
    assert tree.name == key[:16]
    assert (tree / ".bundler-complete").read_text() == key + "\n"
    wtree = winpath(tree)
    assert r.args == [f"{wtree}\\python.exe", "-I", f"{wtree}\\bin\\hello", *USER_ARGS, "exit=3"]
    # PYTHON* stripped (names are case-insensitive on Windows), the launcher's variables set.
    assert r.env == {"BUNDLER_ARTIFACT": winpath(app), "BUNDLER_ARGV0": winpath(app), "FAKE_VAR": "kept ü"}
    assert r.stderr == ""


@pytest.mark.parametrize("code", [0, 255])
def test_exit_code_passes_through(app, cache, wine, code):
    r = parse(run(app, f"exit={code}", wine=wine, cache=cache))
    assert r.returncode == code, r.stderr
    assert r.args[-1] == f"exit={code}"


def test_second_run_uses_the_cache(app, cache, wine):
    assert run(app, wine=wine, cache=cache).returncode == 0
    tree = one_tree(cache)
    marker, python = tree / ".bundler-complete", tree / "python.exe"
    before = (marker.stat().st_mtime_ns, python.stat().st_mtime_ns, python.stat().st_ino)
    time.sleep(0.05)
    r = parse(run(app, "again", wine=wine, cache=cache))
    assert r.returncode == 0, r.stderr
    assert one_tree(cache) == tree
    assert (marker.stat().st_mtime_ns, python.stat().st_mtime_ns, python.stat().st_ino) == before
    assert r.args[1:] == ["-I", f"{winpath(tree)}\\bin\\hello", "again"]


def test_symlinks_become_copies(app, cache, wine):
    assert run(app, wine=wine, cache=cache).returncode == 0
    tree = one_tree(cache)
    assert not (tree / "Lib/link.py").is_symlink() and (tree / "Lib/link.py").read_text() == "REAL = 1\n"
    dep = tree / "Lib/deplink"
    assert dep.is_dir() and not dep.is_symlink()
    assert sorted(os.listdir(dep)) == ["__init__.py", "data.bin"]
    assert (dep / "data.bin").read_bytes() == bytes(range(256)) * 64
    assert (tree / "bin/chain.py").read_text() == "VALUE = 1\n"  # a link through a link
    assert not (tree / "Lib/dangling.py").exists()  # a dangling link makes nothing
    assert (tree / "share/naïve ü 漢.txt").read_text(encoding="utf-8") == "non-ASCII name\n"


def test_default_cache_root_is_localappdata(console_stub, win_tree, tmp_path, wine):
    app_name = f"wintest-local-{os.getpid()}"
    artifact = write_artifact(console_stub, win_tree, tmp_path / "local.exe", app=app_name)
    r = parse(run(artifact, wine=wine, cache=None))
    assert r.returncode == 0, r.stderr
    roots = list(Path(wine["WINEPREFIX"]).glob(f"drive_c/users/*/AppData/Local/bundler/{app_name}"))
    assert len(roots) == 1, roots
    try:
        tree = one_tree(roots[0].parent, app_name)
        assert (tree / ".bundler-complete").is_file()
        assert re.fullmatch(rf"C:\\users\\[^\\]+\\AppData\\Local\\bundler\\{app_name}\\{key_of(artifact)}\\python\.exe", r.args[0]), r.args
    finally:
        shutil.rmtree(roots[0])


def test_entry_point_named_like_the_program(app, cache, tmp_path, wine):
    other = Path(shutil.copy(app, tmp_path / "other.exe"))
    r = parse(run(other, "x", wine=wine, cache=cache))
    assert r.returncode == 0, r.stderr
    assert r.args[1:] == ["-I", f"{winpath(one_tree(cache))}\\bin\\other", "x"]
    assert r.env["BUNDLER_ARGV0"] == winpath(other)


def test_isolate_off_keeps_python_variables_and_drops_dash_i(app, cache, wine):
    r = parse(run(app, "a", wine=wine, cache=cache, PYTHONHOME="C:\\py", BUNDLER_ISOLATE="0"))
    assert r.returncode == 0, r.stderr
    assert r.env["PYTHONHOME"] == "C:\\py"
    assert r.args[1:] == [f"{winpath(one_tree(cache))}\\bin\\hello", "a"]


def test_python_mode_runs_the_interpreter_without_the_entry(app, cache, wine):
    r = parse(run(app, "-c", "pass", wine=wine, cache=cache, BUNDLER_STUB="python"))
    assert r.returncode == 0, r.stderr
    assert r.args[1:] == ["-I", "-c", "pass"]
    assert "BUNDLER_STUB" not in r.env


def test_stale_temp_tree_is_removed(app, cache, wine):
    stale = cache / APP / f".tmp-{key_of(app)}-999999-00ff00ff00ff00ff"
    (stale / "Lib").mkdir(parents=True)
    (stale / "Lib/half.py").write_text("half")
    assert run(app, wine=wine, cache=cache).returncode == 0
    assert not stale.exists()
    assert (one_tree(cache) / "python.exe").is_file()


def test_concurrent_first_runs_share_one_tree(console_stub, windows_tools, cache, tmp_path, wine):
    extra = {f"Lib/data{i}.bin": os.urandom(3 << 20) for i in range(4)}
    artifact = write_artifact(console_stub, make_tree(tmp_path / "tree", windows_tools["python"], extra), tmp_path / "race.exe")
    env = dict(wine, BUNDLER_CACHE_DIR=winpath(cache))
    procs = [subprocess.Popen([WINE, str(artifact), str(i)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(4)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    tree = one_tree(cache)
    for i, (rc, out, err) in enumerate(results):
        assert rc == 0, err
        assert out.decode().split("\n")[2:4] == [f"arg:{winpath(tree)}\\bin\\hello", f"arg:{i}"]
    assert (tree / "Lib/data3.bin").read_bytes() == extra["Lib/data3.bin"]


def test_ctrl_c_goes_to_python_and_the_stub_returns_its_code(app, cache, wine):
    """In a console (wine makes one for a terminal), Ctrl-C reaches every process
    attached to it: python.exe handles it; the stub ignores it and waits."""
    master, slave = pty.openpty()
    env = dict(wine, BUNDLER_CACHE_DIR=winpath(cache))
    proc = subprocess.Popen([WINE, str(app), "ctrl-c", "exit=42"], env=env, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    output = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the terminal's last writer is gone
                    break
                if not chunk:
                    break
                output += chunk
            elif proc.poll() is not None:
                break
        rc = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode("utf-8", "replace")).replace("\r", "")
    assert "ctrl-c:handled" in text, text
    assert rc == 42, text


# ---------------------------------------------------------------- BUNDLER_STUB modes


def test_info_prints_the_manifest(app, wine):
    proc = run(app, wine=wine, cache=None, BUNDLER_STUB="info")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    cache = info.pop("cache")  # where the tree is or would be, under %LOCALAPPDATA%
    assert info == pl.read_manifest_json(app)
    assert cache["tree"].lower().endswith(f"\\bundler\\{APP}\\{pl.read_manifest(app).payload.sha256[:16]}")


def test_verify_says_ok(app, wine):
    proc = run(app, wine=wine, cache=None, BUNDLER_STUB="verify")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"ok {APP} 1.0 {TARGET}\n".encode(), b"")


def test_extract_makes_the_runtime(app, win_tree, tmp_path, wine):
    dest = tmp_path / "out ü" / "runtime"
    proc = run(app, wine=wine, cache=None, BUNDLER_STUB=f"extract:{winpath(dest)}")
    assert proc.returncode == 0, proc.stderr
    assert (dest / "python.exe").read_bytes() == (win_tree / "python.exe").read_bytes()
    assert (dest / "Lib/site-packages/dep/data.bin").read_bytes() == bytes(range(256)) * 64
    assert (dest / "Lib/link.py").read_text() == "REAL = 1\n" and not (dest / "Lib/link.py").is_symlink()
    assert not (dest / ".bundler-complete").exists()
    again = run(app, wine=wine, cache=None, BUNDLER_STUB=f"extract:{winpath(dest)}")
    assert again.returncode == 64 and b"is not empty" in again.stderr


def test_bad_mode_is_a_usage_error(app, cache, wine):
    proc = run(app, wine=wine, cache=cache, BUNDLER_STUB="bogus")
    err = proc.stderr.decode()
    assert proc.returncode == 64 and err.count("\n") == 1 and "info, verify, python, uninstall or extract:DIR" in err
    assert not (cache / APP).exists()


def test_a_new_version_replaces_the_old_one_and_uninstall_removes_it(app, console_stub, windows_tools, cache, wine,
                                                                     tmp_path):
    """The cache's clean-up on Windows: the second version's first run removes the first one's tree
    (renamed away first: Windows refuses that while a file of it is open); uninstall removes the rest."""
    tree = make_tree(tmp_path / "tree2", windows_tools["python"])
    (tree / "Lib/version.txt").write_text("2\n")
    v2 = write_artifact(console_stub, tree, tmp_path / "v2" / "app.exe")
    assert run(app, "x", wine=wine, cache=cache).returncode == 0
    first = sorted(os.listdir(cache / APP))
    assert run(v2, "x", wine=wine, cache=cache).returncode == 0
    second = sorted(os.listdir(cache / APP))
    assert len(first) == len(second) == 1 and first != second
    proc = run(app, wine=wine, cache=cache, BUNDLER_STUB="uninstall")
    assert proc.returncode == 0 and proc.stdout.decode().startswith(f"removed 1 unpacked copy of {APP} (")
    assert not (cache / APP).exists()


def test_two_apps_share_a_layer_by_hard_links(app, console_stub, win_tree, cache, wine, tmp_path):
    """Windows links shared layers too (NTFS hard links, FileLinkInformation): a second app's
    dependencies layer is the first app's files. The runtime layer here holds symlinks, which
    Windows unpacks as copies, so each tree gets its own; the app layers are the same here."""
    other = write_artifact(console_stub, win_tree, tmp_path / "other" / "other.exe", app="wintest-other")
    assert run(app, "x", wine=wine, cache=cache).returncode == 0
    proc = run(other, "x", wine=wine, cache=cache)
    assert proc.returncode == 0, proc.stderr
    a, b = one_tree(cache), one_tree(cache, "wintest-other")
    dep = "Lib/site-packages/dep/data.bin"
    assert (a / dep).stat().st_ino == (b / dep).stat().st_ino and (b / dep).stat().st_nlink == 2
    assert (b / "Lib/real.py").stat().st_nlink == 1 and (b / "Lib/link.py").read_text() == "REAL = 1\n"
    assert (b / "Lib/deplink/data.bin").read_bytes() == (a / dep).read_bytes()  # a copy of a linked layer's dir
    info = json.loads(run(other, wine=wine, cache=cache, BUNDLER_STUB="info").stdout)
    assert {l["name"]: l["trees"] for l in info["cache"]["layers"]} == {"runtime": 0, "dependencies": 2, "app": 2}
    for artifact in (app, other):
        assert run(artifact, wine=wine, cache=cache, BUNDLER_STUB="uninstall").returncode == 0
    assert os.listdir(cache) == []


# ---------------------------------------------------------------- damage


@pytest.mark.parametrize("where", ["payload", "trailer"])
def test_truncated_artifact(app, cache, tmp_path, wine, where):
    trailer = pl.read_trailer(app)
    cut = {"payload": trailer.payload_offset + trailer.payload_length // 2, "trailer": app.stat().st_size - 40}[where]
    bad = tmp_path / "bad ü.exe"
    bad.write_bytes(app.read_bytes()[:cut])
    assert_damaged(run(bad, wine=wine, cache=cache), bad)
    assert not (cache / APP).exists()


def test_damaged_frame_leaves_nothing_behind(app, cache, tmp_path, wine):
    trailer = pl.read_trailer(app)
    manifest = pl.read_manifest(app, trailer)
    last = manifest.payload.layers[-1].frames[-1]
    data = bytearray(app.read_bytes())
    data[trailer.payload_offset + last.offset + last.length // 2] ^= 0x55
    bad = tmp_path / "bad.exe"
    bad.write_bytes(bytes(data))
    assert_damaged(run(bad, wine=wine, cache=cache), bad)
    assert not (cache / APP).exists()  # the temp tree and the empty app dir are removed


# ---------------------------------------------------------------- cache roots and failures


def unix_path(wine: dict, windows_path: str) -> Path:
    """Where a C:\\ path of the wine prefix is on this host."""
    assert windows_path[:3].upper() == "C:\\", windows_path
    return Path(wine["WINEPREFIX"]) / "drive_c" / windows_path[3:].replace("\\", "/")


def test_unusable_cache_dir_falls_back_to_temp(console_stub, win_tree, tmp_path, wine):
    app_name = f"wintest-temp-{os.getpid()}"
    artifact = write_artifact(console_stub, win_tree, tmp_path / "temp.exe", app=app_name)
    (tmp_path / "file").write_text("not a directory")
    r = parse(run(artifact, wine=wine, cache=tmp_path / "file" / "cache"))
    assert r.returncode == 0, r.stderr
    root, sep, rest = r.args[0].partition(f"\\bundler\\{app_name}\\")
    assert sep and rest == f"{key_of(artifact)}\\python.exe", r.args
    temp = unix_path(wine, root)
    try:
        assert temp.name.lower() == "temp"  # %TEMP%, which wine keeps in the prefix
        assert (temp / "bundler" / app_name / key_of(artifact) / ".bundler-complete").is_file()
    finally:
        shutil.rmtree(temp / "bundler" / app_name)


def test_no_usable_cache_directory(app, tmp_path, wine):
    (tmp_path / "file").write_text("not a directory")
    unusable = tmp_path / "file" / "cache"
    probe = parse(run(app, wine=wine, cache=unusable, BUNDLER_STUB="python"))  # falls back to %TEMP%\bundler
    assert probe.returncode == 0, probe.stderr
    temp_root = probe.args[0].split(f"\\{APP}\\")[0]
    assert temp_root.lower().endswith("\\temp\\bundler"), probe.args
    blocker = unix_path(wine, temp_root)
    shutil.rmtree(blocker)
    blocker.write_text("in the way")
    try:
        proc = run(app, wine=wine, cache=unusable)
    finally:
        blocker.unlink()
    err = proc.stderr.decode("utf-8")
    assert proc.returncode == 73, err
    assert err.count("\n") == 1 and err.startswith(f"bundler: no usable cache directory to unpack {APP} into (tried "), err
    assert f"{winpath(unusable)} (" in err and f"{temp_root} (" in err
    assert err.endswith("); set BUNDLER_CACHE_DIR to a writable directory.\n"), err


def test_missing_interpreter_is_an_exec_failure(console_stub, tmp_path, cache, wine):
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin/hello").write_text("print('hello')\n")
    artifact = write_artifact(console_stub, tree, tmp_path / "nopython.exe")
    proc = run(artifact, wine=wine, cache=cache)
    err = proc.stderr.decode("utf-8")
    rt = winpath(one_tree(cache))
    assert proc.returncode == 71, err
    assert re.fullmatch(re.escape(f"bundler: cannot start {rt}\\python.exe (") + r"[^()\n]+"
                        + re.escape(f"); delete {rt} so that the next run unpacks it again.\n"), err), err


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MB tmpfs, unmounted after the test."""
    assert os.geteuid() == 0, "mounting a tmpfs needs root (make test runs as root in CI)"
    mnt = tmp_path / "tiny disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    assert proc.returncode == 0, f"cannot mount a tmpfs: {proc.stderr}"
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_disk_full_is_reported_and_cleaned_up(console_stub, windows_tools, tiny_disk, tmp_path, wine):
    tree = make_tree(tmp_path / "tree", windows_tools["python"], {"Lib/big.bin": os.urandom(3 << 20)})
    artifact = write_artifact(console_stub, tree, tmp_path / "big.exe")
    need = -(-pl.read_manifest(artifact).payload.uncompressed_size // (1 << 20))
    proc = run(artifact, wine=wine, cache=tiny_disk)
    err = proc.stderr.decode("utf-8")
    assert proc.returncode == 74, err
    assert err == (f"bundler: not enough disk space to unpack {APP} into {winpath(tiny_disk)} (needs about {need} MB); "
                   "free space or set BUNDLER_CACHE_DIR to another disk.\n")
    assert os.listdir(tiny_disk) == []


# ---------------------------------------------------------------- the GUI stub


def test_gui_stub_runs_the_app(gui_app, cache, wine):
    r = parse(run(gui_app, "with space", "Zoë", "exit=7", wine=wine, cache=cache))
    assert r.returncode == 7, r.stderr
    assert r.args[1:] == ["-I", f"{winpath(one_tree(cache))}\\bin\\hello", "with space", "Zoë", "exit=7"]
    assert r.env["BUNDLER_ARTIFACT"] == winpath(gui_app)


@pytest.fixture
def display():
    """A private X server (Xvfb) for wine's windows; its DISPLAY value."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as f:
            number = f.readline().strip()
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=30)


def test_gui_failure_is_shown_in_a_message_box(gui_app, windows_tools, cache, tmp_path, wine, display):
    trailer = pl.read_trailer(gui_app)
    manifest = pl.read_manifest(gui_app, trailer)
    first = manifest.payload.layers[0].frames[0]
    data = bytearray(gui_app.read_bytes())
    data[trailer.payload_offset + first.offset + first.length // 2] ^= 0x55
    bad = tmp_path / "bad gui.exe"
    bad.write_bytes(bytes(data))
    env = dict(wine, DISPLAY=display, BUNDLER_CACHE_DIR=winpath(cache))
    stub = subprocess.Popen([WINE, str(bad)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # The box is titled with the application's name and waits for OK.
        closer = run_wine(windows_tools["closer"], APP, env=dict(wine, DISPLAY=display), timeout=120)
        out, err = stub.communicate(timeout=60)
    finally:
        if stub.poll() is None:
            stub.kill()
    assert closer.returncode == 0, "no message box appeared"
    shown = closer.stdout.decode("utf-8")
    assert stub.returncode == DAMAGED, err
    assert err.decode("utf-8") == shown + "\n"  # the same sentence on stderr
    assert shown.startswith(f"bundler: {winpath(bad)} is damaged or truncated (frame 0 of layer runtime: checksum mismatch)")
    assert not (cache / APP).exists()


# ---------------------------------------------------------------- Authenticode signing


@pytest.fixture(scope="session")
def signing_cert(tmp_path_factory) -> SigningCert:
    return make_signing_cert(tmp_path_factory.mktemp("signing"))


@pytest.fixture(scope="session")
def signed_app(app, signing_cert, tmp_path_factory) -> Path:
    """The console artifact signed by bundler's own signing step (osslsigncode)."""
    signed = tmp_path_factory.mktemp("signed") / "signed ü.exe"
    shutil.copy(app, signed)
    sign.sign_file(signed, signing_cert.pfx, APP, env={sign.PASSWORD_ENV: signing_cert.password})
    return signed


def _osslsign(src: Path, dest: Path, cert: SigningCert) -> None:
    """osslsigncode alone, without bundler's check of the result."""
    cmd = sign.sign_command(sign.OSSLSIGNCODE, cert.pfx, APP, src, dest)
    proc = subprocess.run(cmd, input=cert.password.encode(), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_signed_artifact_carries_a_verifying_signature_after_the_trailer(app, signed_app, signing_cert):
    osslsigncode_verify(signed_app, signing_cert)
    size = signed_app.stat().st_size
    table = pl.certificate_table(signed_app.read_bytes()[:pl.HEAD_SIZE], size)
    assert table is not None and table % 8 == 0 and app.stat().st_size <= table < size
    assert pl.trailer_end(signed_app) == app.stat().st_size  # the padding is skipped
    assert pl.read_trailer(signed_app) == pl.read_trailer(app)
    assert pl.certificate_table(app.read_bytes()[:pl.HEAD_SIZE], app.stat().st_size) is None


def test_signed_artifact_runs_like_the_unsigned_one(app, signed_app, tmp_path, wine):
    def outcome(artifact: Path, cache: Path) -> tuple:
        r = parse(run(artifact, "with space", "Zoë", "exit=7", wine=wine, cache=cache))
        lines = [l.replace(winpath(cache), "CACHE").replace(winpath(artifact), "ARTIFACT") for l in r.lines]
        return r.returncode, lines, r.stderr

    unsigned = outcome(app, tmp_path / "cache-unsigned")
    assert unsigned[0] == 7 and unsigned[2] == "", unsigned
    assert outcome(signed_app, tmp_path / "cache-signed") == unsigned


def test_signed_artifact_passes_verify_mode_and_inspect_verify(signed_app, wine, capsys):
    proc = run(signed_app, wine=wine, cache=None, BUNDLER_STUB="verify")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"ok {APP} 1.0 {TARGET}\n".encode(), b"")
    assert climod.main(["inspect", "--verify", str(signed_app)]) == 0
    assert "verified: payload, every frame and every entry are intact" in capsys.readouterr().out


@pytest.mark.parametrize("extra", [b"junk", b"\x00\x00\x00\x00\x00\x00\x00\x00", b"\x00\x01"],
                         ids=["text", "8-zeros", "non-zero"])
def test_bytes_between_trailer_and_signature_are_damage(app, signing_cert, tmp_path, wine, extra):
    padded = tmp_path / "padded.exe"
    padded.write_bytes(app.read_bytes() + extra)
    bad = tmp_path / "bad ü.exe"
    _osslsign(padded, bad, signing_cert)
    osslsigncode_verify(bad, signing_cert)  # a valid signature: the damage is bundler's to see
    assert_damaged(run(bad, wine=wine, cache=None, BUNDLER_STUB="verify"), bad)
    with pytest.raises(PayloadError, match="no bundler trailer before its signature"):
        pl.read_trailer(bad)
    assert climod.main(["inspect", "--verify", str(bad)]) == PayloadError.exit_code
    with pytest.raises(SignError, match="no longer has a readable bundler trailer"):  # bundler never publishes it
        sign.sign_file(padded, signing_cert.pfx, APP, env={sign.PASSWORD_ENV: signing_cert.password})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad ü.exe", "padded.exe"]


def test_wrong_password_is_a_sign_error_and_leaves_the_file(app, signing_cert, tmp_path):
    target = tmp_path / "app.exe"
    shutil.copy(app, target)
    with pytest.raises(SignError, match=r"could not sign app.exe .*BUNDLER_SIGN_PASSWORD"):
        sign.sign_file(target, signing_cert.pfx, APP, env={sign.PASSWORD_ENV: "wrong"})
    assert target.read_bytes() == app.read_bytes() and os.listdir(tmp_path) == ["app.exe"]


def test_a_pfx_without_a_password_signs_with_the_variable_unset(app, signing_cert, tmp_path):
    nopass = tmp_path / "nopass.pfx"
    subprocess.run(["openssl", "pkcs12", "-export", "-inkey", str(signing_cert.pem.parent / "key.pem"),
                    "-in", str(signing_cert.pem), "-out", str(nopass), "-passout", "pass:"], check=True, capture_output=True)
    target = tmp_path / "app.exe"
    shutil.copy(app, target)
    sign.sign_file(target, nopass, APP, env={})
    osslsigncode_verify(target, signing_cert)
    assert pl.read_trailer(target) == pl.read_trailer(app)
