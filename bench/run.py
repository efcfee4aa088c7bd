#!/usr/bin/env python3
"""`make bench`: bundler and PyInstaller side by side, on this machine, in one run.

Both tools get the same apps (copies of examples/hello and examples/numpy), the
same base interpreter (the base CPython of bundler's venv) and the same locked
wheel files (fetched once by bundler from the lock's URLs and verified against
its sha256s; PyInstaller's venv installs those very files). Nothing is fetched
while a build is timed: bundler builds with `--find-links WHEELHOUSE --offline`.

Measured (median, min-max over the runs):
  size            the single file (PyInstaller --onedir: the whole directory)
  cold build      empty caches: a fresh --cache-dir and HOME for bundler (the
                  stub is the prebuilt one from its wheel, as for a user);
                  --clean and a fresh workpath and config dir for PyInstaller
  rebuild         after an app-only change (a string in the app's source)
  first run       bundler with an empty BUNDLER_CACHE_DIR (extraction included);
                  PyInstaller --onefile extracts on every run
  shared first    bundler's first run with only another app (the next one in
                  --apps) unpacked in the cache: the layers they share are
                  linked, not unpacked
  warm start      bundler with the runtime already unpacked
  runtime direct  <cache>/<app>/<key>/bin/python3.11 -I <cache>/.../bin/<entry> ARGS
  python -c pass  the runtime's interpreter doing nothing: the floor
and the stub's decoder against `zstd -d` on the same frames.

Writes the tables to stdout and between the markers in docs/benchmarks.md.
Scratch space: bench/work/ and bench/.venv/ (both disposable).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / "work"
VENV = BENCH / ".venv"
DOC = ROOT / "docs" / "benchmarks.md"
BUNDLER = ROOT / ".venv" / "bin" / "bundler"
REQUIREMENTS = BENCH / "requirements.txt"
BUILD_REQUIREMENTS = ["setuptools==80.9.0"]  # the apps' [build-system] requires, for the wheelhouse
BEGIN, END = "<!-- bench:begin (written by bench/run.py) -->", "<!-- bench:end -->"

sys.path.insert(0, str(ROOT))  # bundler.payload / bundler.stub, for the decoder part


@dataclass
class App:
    key: str  # short name used in the tables
    example: str  # examples/<dir>
    package: str  # import package under src/
    entry: str  # console script = bundler entry = PyInstaller --name
    module: str  # module:function for the PyInstaller entry script
    args: list[str]  # the --version-style command (first run, warm start, the targets)
    what: str  # how that command reads in the tables
    work_args: list[str] | None = None  # a command that does real work (warm starts only)
    work_what: str = ""


APPS = {
    "hello": App("hello", "hello", "hello", "hello", "hello.cli:main", ["--version"], "hello --version"),
    "numpy": App("numpy", "numpy", "numpy_demo", "numpy-demo", "numpy_demo.cli:main", ["--version"],
                 "numpy-demo --version", [], "numpy-demo (imports numpy, solves a 200x200 system)"),
    "sklearn": App("sklearn", "sklearn", "sklearn_demo", "sklearn-demo", "sklearn_demo.cli:main", ["--version"],
                   "sklearn-demo --version", [], "sklearn-demo (imports scikit-learn, fits a classifier on iris)"),
}
#: zstd levels of the level table (each also with long-distance matching and a 128 MiB window, `--long=27`)
LEVELS = (3, 6, 9, 12, 15, 19)

TOOLS = ("bundler", "pyi-onefile", "pyi-onedir")
REFS = ("pyi-strip", "pyi-onedir")  # reference columns: PyInstaller --onefile --strip, --onedir


@dataclass
class Results:
    # results[app][metric][tool] = list of samples (seconds or bytes)
    data: dict = field(default_factory=dict)
    stages: dict = field(default_factory=dict)  # app -> {"cold": [timings...], "rebuild": [...]}
    decoder: dict = field(default_factory=dict)  # app -> {...}
    levels: dict = field(default_factory=dict)  # app -> {"other": stub+manifest bytes, "rows": [(level, long, bytes, s)]}
    composition: dict = field(default_factory=dict)  # app -> {...}
    outputs: dict = field(default_factory=dict)  # app -> tool -> stdout of one run
    notes: dict = field(default_factory=dict)  # app -> [what failed]
    shared: dict = field(default_factory=dict)  # app -> the app that ran before its "first-shared" runs

    def add(self, app: str, metric: str, tool: str, value: float) -> None:
        self.data.setdefault(app, {}).setdefault(metric, {}).setdefault(tool, []).append(value)

    def extend(self, app: str, metric: str, tool: str, values: list[float]) -> None:
        for v in values:
            self.add(app, metric, tool, v)

    def get(self, app: str, metric: str, tool: str) -> list[float]:
        return self.data.get(app, {}).get(metric, {}).get(tool, [])


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd: list, *, env: dict | None = None, cwd: Path | None = None, capture: bool = True,
        check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, text=True, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE if capture else None)
    if check and proc.returncode != 0:
        detail = (proc.stderr or "")[-3000:] if capture else ""
        raise SystemExit(f"bench: command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{detail}")
    return proc


def clean_env(**extra: str) -> dict:
    """A plain user's environment: no PYTHON*, PIP_* or BUNDLER_* settings leak into the measurement."""
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "TERM", "USER", "LOGNAME", "SHELL")}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["LC_ALL"] = "C.UTF-8"
    env.update(extra)
    return env


def rmtree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def fresh(path: Path) -> Path:
    rmtree(path)
    path.mkdir(parents=True)
    return path


def dir_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


# ------------------------------------------------------------------ machine


def machine() -> dict:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    base = base_python()
    pyver = run([base, "-c", "import platform; print(platform.python_version())"]).stdout.strip()
    pyi = run([VENV / "bin" / "python", "-c", "import PyInstaller; print(PyInstaller.__version__)"]).stdout.strip()
    bundler_version = run([BUNDLER, "--version"]).stdout.strip().split()[-1]
    commit = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    dirty = run(["git", "-C", ROOT, "status", "--porcelain", "--", "bundler", "stubs"], check=False).stdout.strip()
    hf = run(["hyperfine", "--version"]).stdout.strip()
    zstd = run(["zstd", "--version"]).stdout.strip()
    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": f"CPython {pyver} ({base})",
        "pyinstaller": pyi,
        "bundler": f"{bundler_version} @ {commit}{' + uncommitted changes in bundler/ or stubs/' if dirty else ''}",
        "tools": f"{hf}; {zstd.strip('* ').split(',')[0]}",
        "load": "%.2f %.2f %.2f" % os.getloadavg(),
    }


def base_python() -> Path:
    """The base CPython behind bundler's venv (pyenv 3.11.7 here): both tools build from it."""
    base = getattr(sys, "_base_executable", sys.executable)
    return Path(base)


# ------------------------------------------------------------------ setup


def ensure_hyperfine() -> None:
    if shutil.which("hyperfine"):
        return
    log("installing hyperfine (Debian package)")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if run([*sudo, "apt-get", "install", "-y", "-qq", "hyperfine"], env=env, check=False).returncode != 0:
        run([*sudo, "apt-get", "update", "-qq"], env=env)
        run([*sudo, "apt-get", "install", "-y", "-qq", "hyperfine"], env=env)


def locked_wheels(app: App) -> list[Path]:
    """The app's locked wheels (not the app itself), fetched and verified by bundler's own code."""
    from bundler.base.probe import find_python, probe
    from bundler.base.target import target_for
    from bundler.deps.fetch import fetch_all
    from bundler.deps.lock import WheelRef, read_lock
    from bundler.deps.options import FetchOptions

    target = target_for(probe(find_python(str(base_python()))))
    items = [i for i in read_lock(ROOT / "examples" / app.example / "pylock.toml", target) if isinstance(i, WheelRef)]
    options = FetchOptions(find_links=(), offline=False, cache_dir=WORK / "seed-cache")
    return [w.path for w in fetch_all(items, target, options)]


def setup(apps: list[App]) -> Path:
    """hyperfine, the wheelhouse (locked wheels + build requirements), bench/.venv."""
    ensure_hyperfine()
    wheelhouse = WORK / "wheelhouse"
    wheelhouse.mkdir(parents=True, exist_ok=True)
    wheels: list[Path] = []
    for app in apps:
        wheels += locked_wheels(app)
    wheels = list({w.name: w for w in wheels}.values())  # apps share wheels (numpy): install each once
    for f in wheels:
        if not (wheelhouse / f.name).exists():
            shutil.copy2(f, wheelhouse / f.name)
    reqs = REQUIREMENTS.read_text()
    if not list(wheelhouse.glob("setuptools-*.whl")):
        # the apps' PEP 517 build requirement, for bundler's isolated (offline) build of the app itself
        run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", wheelhouse, *BUILD_REQUIREMENTS])

    stamp_key = hashlib.sha256((reqs + "".join(sorted(w.name for w in wheels))).encode()).hexdigest()[:16]
    stamp = VENV / f".installed-{stamp_key}"
    if not stamp.exists():
        log(f"creating {VENV.relative_to(ROOT)} (PyInstaller + the locked wheels)")
        rmtree(VENV)
        run([base_python(), "-m", "venv", VENV])
        pip = [VENV / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        run([*pip, "-r", REQUIREMENTS])
        run([*pip, "--no-deps", *sorted(set(wheels))])  # the same verified files bundler uses
        stamp.touch()
    return wheelhouse


def prepare_apps(apps: list[App]) -> dict[str, Path]:
    """Private copies of the examples (builds write into them, and the rebuild edits them)."""
    dirs = {}
    for app in apps:
        dest = fresh(WORK / "apps" / app.key)
        src = ROOT / "examples" / app.example
        for item in ("pyproject.toml", "pylock.toml", "src"):
            if (src / item).is_dir():
                shutil.copytree(src / item, dest / item, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
            else:
                shutil.copy2(src / item, dest / item)
        module, func = app.module.split(":")
        (dest / "pyi_entry.py").write_text(f"import sys\nfrom {module} import {func}\nsys.exit({func}())\n")
        dirs[app.key] = dest
    return dirs


def edit_app(appdir: Path, app: App, n: int) -> None:
    """An app-only change: a different string in the app's own source.

    Made at least 1.1 s after the previous build ended, as a person would: PyInstaller compares
    whole-second mtimes (``os.stat()[8]``), so an edit within the same second goes unnoticed.
    """
    global _last_edit
    time.sleep(max(0.0, _last_build_end + 1.1 - time.time()))
    init = appdir / "src" / app.package / "__init__.py"
    text = re.sub(r'\nBENCH_EDIT = ".*"\n', "\n", init.read_text())
    _last_edit = f"edit {n} at {time.time()}"
    init.write_text(text + f'\nBENCH_EDIT = "{_last_edit}"\n')


PYI_CHECK = """
import sys
from PyInstaller.archive.readers import CArchiveReader
pkg = CArchiveReader(sys.argv[1])
pyz = pkg.open_embedded_archive("PYZ.pyz")
code = pyz.extract(sys.argv[2])
sys.exit(0 if sys.argv[3] in code.co_consts else 1)
"""


def check_edit(app: App, tool: str, artifact: Path) -> None:
    """The rebuilt artifact holds the last edit (so the rebuild time is that of a real rebuild)."""
    if tool == "bundler":
        from bundler.output import payload

        trailer = payload.read_trailer(artifact)
        manifest = payload.read_manifest(artifact, trailer)
        found = any(p.endswith(f"site-packages/{app.package}/__init__.py") and _last_edit.encode() in data
                    for _layer, frame in payload.iter_frames(artifact, manifest, trailer)
                    for _k, _m, p, data in payload.decode(frame))
    else:
        exe = artifact if artifact.is_file() else artifact / app.entry
        found = run([VENV / "bin" / "python", "-c", PYI_CHECK, exe, app.package, _last_edit],
                    check=False).returncode == 0
    if not found:
        raise SystemExit(f"bench: {tool}'s rebuilt {app.key} does not contain the last edit ({_last_edit!r})")


# ------------------------------------------------------------------ builds

_last_build_end = 0.0
_last_edit = ""


def _build_ended() -> None:
    global _last_build_end
    _last_build_end = time.time()


#: the lean builds measured beside the default one: tool name -> extra flags
LEAN = {
    "bundler-lean": ("--stdlib", "imported"),
    "bundler-lean19": ("--stdlib", "imported", "--compression-level", "19"),
}


def bundler_build(appdir: Path, cache: Path, out: Path, wheelhouse: Path, home: Path,
                  extra: tuple[str, ...] = ()) -> tuple[float, dict]:
    cmd = [BUNDLER, "build", appdir, "--cache-dir", cache, "--find-links", wheelhouse, "--offline",
           "--format", "onefile", "--output-dir", out, "--python", base_python(), "--json", *extra]
    env = clean_env(TMPDIR=str(WORK / "tmp"), HOME=str(home))
    wait_quiet()
    t0 = time.perf_counter()
    proc = run(cmd, env=env)
    elapsed = time.perf_counter() - t0
    _build_ended()
    return elapsed, json.loads(proc.stdout)


def pyi_build(app: App, appdir: Path, mode: str, work: Path, clean: bool, extra: tuple = ()) -> tuple[float, Path]:
    dist = work / "dist"
    cmd = [VENV / "bin" / "pyinstaller", f"--{mode}", *extra, "--noconfirm", "--log-level", "WARN", "--name", app.entry,
           "--paths", appdir / "src", "--distpath", dist, "--workpath", work / "build", "--specpath", work,
           appdir / "pyi_entry.py"]
    if clean:
        cmd.append("--clean")
    env = clean_env(PYINSTALLER_CONFIG_DIR=str(work / "config"), TMPDIR=str(WORK / "tmp"),
                    HOME=str(fresh(work / "home") if clean else work / "home"))
    wait_quiet()
    t0 = time.perf_counter()
    run(cmd, env=env)
    elapsed = time.perf_counter() - t0
    _build_ended()
    out = dist / app.entry
    return elapsed, out


def builds(app: App, appdir: Path, wheelhouse: Path, res: Results, n_builds: int, n_ref: int) -> dict[str, Path]:
    """Cold builds and app-only rebuilds with both tools; the last artifacts are what gets run."""
    base = WORK / "build" / app.key
    rmtree(base)
    artifacts: dict[str, Path] = {}
    stages = res.stages.setdefault(app.key, {"cold": [], "rebuild": []})

    for i in range(n_builds):
        cache = fresh(base / "bundler-cache")
        out = fresh(base / "bundler-out")
        secs, summary = bundler_build(appdir, cache, out, wheelhouse, fresh(base / "bundler-home"))
        log(f"{app.key}: bundler cold build {i + 1}/{n_builds}: {secs:.1f} s")
        res.add(app.key, "cold", "bundler", secs)
        stages["cold"].append(summary["timings"])
    for i in range(n_builds):
        edit_app(appdir, app, i)
        secs, summary = bundler_build(appdir, base / "bundler-cache", base / "bundler-out", wheelhouse,
                                      base / "bundler-home")
        log(f"{app.key}: bundler rebuild {i + 1}/{n_builds}: {secs:.1f} s")
        res.add(app.key, "rebuild", "bundler", secs)
        stages["rebuild"].append(summary["timings"])
    onefile = [o for o in summary["outputs"] if o["format"] == "onefile"][0]
    artifacts["bundler"] = Path(onefile["path"])
    check_edit(app, "bundler", artifacts["bundler"])
    res.add(app.key, "size", "bundler", artifacts["bundler"].stat().st_size)
    res.composition.setdefault(app.key, {})["bundler_summary"] = summary
    # the same app with only the standard library it imports, at the default level and at 19 (the build
    # cache is warm: what these times add is pruning, the frames of the new runtime layer and the level)
    for tool, extra in LEAN.items():
        secs, lean = bundler_build(appdir, base / "bundler-cache", fresh(base / tool), wheelhouse,
                                   base / "bundler-home", extra)
        log(f"{app.key}: bundler {' '.join(extra)} build: {secs:.1f} s")
        res.add(app.key, "build-warm-cache", tool, secs)
        artifacts[tool] = Path([o for o in lean["outputs"] if o["format"] == "onefile"][0]["path"])
        res.add(app.key, "size", tool, artifacts[tool].stat().st_size)

    variants = (("pyi-onefile", "onefile", (), n_builds, n_builds), ("pyi-onedir", "onedir", (), n_ref, n_ref),
                ("pyi-strip", "onefile", ("--strip",), n_ref, 0))
    for tool, mode, extra, n, n_rebuild in variants:
        work = base / tool
        label = " ".join((f"--{mode}", *extra))
        for i in range(n):
            fresh(work)
            secs, path = pyi_build(app, appdir, mode, work, clean=True, extra=extra)
            log(f"{app.key}: PyInstaller {label} cold build {i + 1}/{n}: {secs:.1f} s")
            res.add(app.key, "cold", tool, secs)
        for i in range(n_rebuild):
            edit_app(appdir, app, 100 + i)
            secs, path = pyi_build(app, appdir, mode, work, clean=False, extra=extra)
            log(f"{app.key}: PyInstaller {label} rebuild {i + 1}/{n_rebuild}: {secs:.1f} s")
            res.add(app.key, "rebuild", tool, secs)
        artifacts[tool] = path
        if n_rebuild:
            check_edit(app, tool, path)
        res.add(app.key, "size", tool, path.stat().st_size if path.is_file() else dir_size(path))
    return artifacts


# ------------------------------------------------------------------ starts


def cpu_busy(interval: float = 0.5) -> float:
    """Fraction of all CPUs busy over *interval* (we are idle meanwhile, so: other people's work)."""
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle
    t0, i0 = sample()
    time.sleep(interval)
    t1, i1 = sample()
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


QUIET = {"threshold": 0.0, "max_wait": 0.0, "waited": 0.0}


def wait_quiet() -> None:
    """Before each measurement: wait (bounded) until the other processes leave the CPUs alone."""
    if not QUIET["threshold"]:
        return
    deadline = time.monotonic() + QUIET["max_wait"]
    t0 = time.monotonic()
    while cpu_busy() > QUIET["threshold"] and time.monotonic() < deadline:
        time.sleep(2)
    QUIET["waited"] += time.monotonic() - t0


def hyperfine(cmd: list, *, env: dict, runs: int, warmup: int, prepare: str | None = None) -> list[float]:
    wait_quiet()
    export = WORK / "hyperfine.json"
    args = ["hyperfine", "-N", "--style", "none", "--runs", str(runs), "--warmup", str(warmup),
            "--export-json", export]
    if prepare:
        args += ["--prepare", prepare]
    args.append(" ".join(str(c) for c in cmd))
    run(args, env=env)
    return json.loads(export.read_text())["results"][0]["times"]


def runtime_tree(cache: Path, app: App) -> Path:
    trees = [p for p in (cache / app.entry).iterdir() if not p.name.startswith(".")]
    if len(trees) != 1:
        raise SystemExit(f"bench: expected one unpacked runtime in {cache / app.entry}, found {trees}")
    return trees[0]


def run_filesystem() -> tuple[Path, str]:
    """Where the runs unpack: a fresh journaled ext4 (mkfs defaults), loop-mounted, when we can.

    This machine's root filesystem is ext4 without a journal, where creating a file right after
    thousands were deleted scans every recently freed inode (``recently_deleted`` in
    ``find_inode_bit``: 70% of an extraction's time in `perf`), and other engineers' test runs
    delete thousands of files all the time. A user's disk (journaled ext4, xfs, btrfs) has no such
    scan. Both tools unpack into the same filesystem.
    """
    mnt, img = WORK / "fs", WORK / "fs.img"
    release_filesystem()
    try:
        rmtree(img)
        fresh(mnt)
        run(["truncate", "-s", "4G", img])
        run(["mkfs.ext4", "-q", "-F", img])
        run(["mount", "-o", "loop", img, mnt])
        return mnt, "a fresh 4 GB ext4 (journaled, mkfs defaults) loop-mounted from bench/work"
    except SystemExit as exc:
        log(f"cannot loop-mount an ext4 for the runs ({str(exc).splitlines()[0]}); using {WORK / 'run'}")
        rmtree(img)
        return WORK / "run", "bench/work on the root filesystem"


def release_filesystem() -> None:
    mnt = WORK / "fs"
    if os.path.ismount(mnt):
        run(["umount", mnt], check=False)
    rmtree(WORK / "fs.img")


def starts(app: App, artifacts: dict[str, Path], res: Results, runs: int, fs: Path) -> Path:
    base = fs / app.key
    rmtree(base)
    first_cache = base / "first-cache"
    warm_cache = fresh(base / "warm-cache")
    pyi_tmp = fresh(base / "pyi-tmp")
    art = artifacts["bundler"]
    outputs = res.outputs.setdefault(app.key, {})

    # One checked run each (exit status, output), which also unpacks the warm cache.
    env_warm = clean_env(BUNDLER_CACHE_DIR=str(warm_cache))
    outputs["bundler"] = run([art, *app.args], env=env_warm).stdout.strip()
    tree = runtime_tree(warm_cache, app)
    py = tree / "bin" / "python3.11"
    pyi_one = artifacts["pyi-onefile"]
    pyi_dir = artifacts["pyi-onedir"] / app.entry
    env_pyi = clean_env(TMPDIR=str(pyi_tmp))
    outputs["pyi-onefile"] = run([pyi_one, *app.args], env=env_pyi).stdout.strip()
    outputs["pyi-onedir"] = run([pyi_dir, *app.args], env=env_pyi).stdout.strip()

    log(f"{app.key}: first runs (empty cache) x{runs}")
    res.extend(app.key, "first", "bundler", hyperfine(
        [art, *app.args], env=clean_env(BUNDLER_CACHE_DIR=str(first_cache)), runs=runs, warmup=1,
        prepare=f"rm -rf {first_cache}"))
    log(f"{app.key}: warm starts x{runs}")
    res.extend(app.key, "warm", "bundler", hyperfine([art, *app.args], env=env_warm, runs=runs, warmup=3))
    res.extend(app.key, "direct", "bundler", hyperfine(
        [py, "-I", tree / "bin" / app.entry, *app.args], env=clean_env(), runs=runs, warmup=3))
    res.extend(app.key, "floor", "bundler", hyperfine([py, "-I", "-c", "pass"], env=clean_env(), runs=runs, warmup=3))
    lean = artifacts["bundler-lean19"]
    lean_warm = fresh(base / "lean-warm-cache")
    lean_first = base / "lean-first-cache"
    env_lean = clean_env(BUNDLER_CACHE_DIR=str(lean_warm))
    outputs["bundler-lean19"] = run([lean, *app.args], env=env_lean).stdout.strip()
    if app.work_args is not None:
        outputs["bundler-lean19 work"] = run([lean, *app.work_args], env=env_lean).stdout.strip()
    log(f"{app.key}: --stdlib imported: first runs and warm starts x{runs}")
    res.extend(app.key, "first", "bundler-lean19", hyperfine(
        [lean, *app.args], env=clean_env(BUNDLER_CACHE_DIR=str(lean_first)), runs=runs, warmup=1,
        prepare=f"rm -rf {lean_first}"))
    res.extend(app.key, "warm", "bundler-lean19", hyperfine([lean, *app.args], env=env_lean, runs=runs, warmup=3))
    pyi_strip = artifacts["pyi-strip"]
    outputs["pyi-strip"] = run([pyi_strip, *app.args], env=env_pyi).stdout.strip()
    for tool, exe in (("pyi-onefile", pyi_one), ("pyi-onedir", pyi_dir), ("pyi-strip", pyi_strip)):
        times = hyperfine([exe, *app.args], env=env_pyi, runs=runs, warmup=3)
        res.extend(app.key, "first", tool, times)  # PyInstaller has no cache: every run is a first run
        res.extend(app.key, "warm", tool, times)
    if app.work_args is not None:
        log(f"{app.key}: `{app.work_what}` x{runs}")
        outputs["work"] = run([art, *app.work_args], env=env_warm).stdout.strip()
        res.extend(app.key, "work", "bundler", hyperfine([art, *app.work_args], env=env_warm, runs=runs, warmup=2))
        res.extend(app.key, "work-direct", "bundler", hyperfine(
            [py, "-I", tree / "bin" / app.entry, *app.work_args], env=clean_env(), runs=runs, warmup=2))
        for tool, exe in (("pyi-onefile", pyi_one), ("pyi-onedir", pyi_dir), ("pyi-strip", pyi_strip)):
            check = run([exe, *app.work_args], env=env_pyi, check=False)
            if check.returncode != 0:
                lines = check.stderr.splitlines()
                why = [ln for ln in lines if "Original error" in ln] or [ln for ln in lines if "rror" in ln] or lines
                res.notes.setdefault(app.key, []).append(
                    f"`{tool}` fails to run `{app.work_what}` (exit {check.returncode}): "
                    f"{why[0].strip() if why else 'no message'}")
                log(f"{app.key}: {res.notes[app.key][-1]}")
                continue
            res.extend(app.key, "work", tool, hyperfine([exe, *app.work_args], env=env_pyi, runs=runs, warmup=2))
    for mine, theirs in (("bundler-lean19", "bundler"), ("bundler-lean19 work", "work")):
        if mine in outputs and outputs[mine] != outputs.get(theirs):
            res.notes.setdefault(app.key, []).append(
                f"`{' '.join(LEAN['bundler-lean19'])}` printed {outputs[mine]!r}, the default build {outputs.get(theirs)!r}")
            log(f"{app.key}: {res.notes[app.key][-1]}")
    leftovers = list(pyi_tmp.iterdir())
    if leftovers:
        log(f"{app.key}: PyInstaller left {len(leftovers)} entries in its TMPDIR")
    return tree


def shared_starts(apps: list[App], artifacts: dict[str, Path], res: Results, runs: int, fs: Path) -> None:
    """First run of each app when the next app in the list already ran in the same cache: the
    layers both have (the runtime, for apps on the same base) are linked from the other's tree."""
    if len(apps) < 2:
        return
    for i, app in enumerate(apps):
        other = apps[(i + 1) % len(apps)]
        cache = fs / f"shared-{app.key}"
        rmtree(cache)
        env = clean_env(BUNDLER_CACHE_DIR=str(cache))
        other_run = " ".join(shlex.quote(str(c)) for c in [artifacts[other.key], *other.args])
        prepare = "sh -c " + shlex.quote(f"rm -rf {shlex.quote(str(cache))} && {other_run} >/dev/null")
        log(f"{app.key}: first runs after {other.key} ran in the same cache x{runs}")
        res.extend(app.key, "first-shared", "bundler", hyperfine(
            [artifacts[app.key], *app.args], env=env, runs=runs, warmup=1, prepare=prepare))
        res.shared[app.key] = other.key
        rmtree(cache)


# ------------------------------------------------------------------ decoder


def bench_zig() -> Path:
    """stubs/bench.zig, built like the stub (bundler.stubbuild's flags and libzstd), cached by its inputs."""
    from bundler.output import stubbuild as sb

    src = sb.CHECKOUT_SOURCES
    zig = sb.zig_command()
    key = hashlib.sha256(f"{sb.source_digest(src)}{sb.zig_version(zig)}".encode()).hexdigest()[:16]
    out = WORK / "bench-zig" / key / "bench"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    log("building stubs/bench.zig (the stub's decoder benchmark)")
    run([*zig, "build-exe", src / "bench.zig", "-cflags", *sb.CFLAGS, "--",
         src / "zstd" / "zstd.c", "-target", "x86_64-linux-musl", *sb.ZIG_FLAGS, "-I", src / "zstd",
         "--name", "bench", f"-femit-bin={out}"], cwd=out.parent)
    return out


def decoder(app: App, artifact: Path, wheelhouse: Path, res: Results, runs: int, fs: Path) -> None:
    from bundler.output import payload

    trailer = payload.read_trailer(artifact)
    manifest = payload.read_manifest(artifact, trailer)
    frames_file = fs / app.key / "frames.zst"
    n_frames = 0
    with open(artifact, "rb") as src, open(frames_file, "wb") as dst:
        for layer in manifest.payload.layers:
            for fr in layer.frames:
                src.seek(trailer.payload_offset + fr.offset)
                dst.write(src.read(fr.length))
                n_frames += 1
    raw = manifest.payload.uncompressed_size
    d: dict = {"frames": n_frames, "compressed": trailer.payload_length, "uncompressed": raw}

    out = run([bench_zig(), artifact]).stdout
    m = re.search(r"libzstd:\s+(\d+) MB/s", out)
    d["bench_libzstd"] = float(m.group(1)) if m else None
    m = re.search(r"std.compress.zstd:\s+(\d+) MB/s", out)
    d["bench_std"] = float(m.group(1)) if m else None

    log(f"{app.key}: zstd -d and BUNDLER_STUB=extract: x{runs}")
    times = hyperfine(["zstd", "-d", "-q", "-f", "-T1", "-o", "/dev/null", frames_file], env=clean_env(),
                      runs=runs, warmup=1)
    d["zstd_cli"] = [raw / t / 1e6 for t in times]
    dest = fs / app.key / "extract"
    times = hyperfine([artifact], env=clean_env(BUNDLER_STUB=f"extract:{dest}"), runs=runs, warmup=1,
                      prepare=f"rm -rf {dest}")
    d["stub_extract"] = [raw / t / 1e6 for t in times]
    d["stub_extract_s"] = times
    res.decoder[app.key] = d


# ------------------------------------------------------------------ compression levels


def levels(app: App, artifact: Path, res: Results) -> None:
    """Every frame of the artifact compressed again at each level, on every CPU, as bundler does."""
    from concurrent.futures import ThreadPoolExecutor

    import zstandard

    from bundler.output import payload

    trailer = payload.read_trailer(artifact)
    manifest = payload.read_manifest(artifact, trailer)
    frames = sorted((f for _layer, f in payload.iter_frames(artifact, manifest, trailer)), key=len, reverse=True)

    def compress(data: bytes, level: int, long: bool) -> int:
        params = zstandard.ZstdCompressionParameters.from_level(
            level, source_size=len(data), write_checksum=True, write_content_size=True,
            **({"enable_ldm": True, "window_log": 27} if long else {}))
        return len(zstandard.ZstdCompressor(compression_params=params).compress(data))

    other = artifact.stat().st_size - trailer.payload_length
    rows = res.levels.setdefault(app.key, {"other": other, "rows": []})["rows"]
    for level in LEVELS:
        for long in (False, True):
            wait_quiet()
            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                size = sum(pool.map(lambda d: compress(d, level, long), frames))
            rows.append((level, long, size, time.perf_counter() - t0))
            log(f"{app.key}: level {level}{' --long' if long else ''}: {size / 1e6:.1f} MB in {rows[-1][3]:.1f} s")


def levels_table(res: Results, apps: list[App]) -> str:
    from bundler.config.spec import DEFAULT_LEVEL

    keys = [a.key for a in apps if a.key in res.levels]
    head = "| level | " + " | ".join(f"{k}: size, compress time" for k in keys) + " |"
    rows = [head, "|---|" + "---|" * len(keys)]
    for i, (level, long, _s, _t) in enumerate(res.levels[keys[0]]["rows"]):
        label = f"{level}{' `--long=27`' if long else ''}" + (" **(default)**" if level == DEFAULT_LEVEL and not long else "")
        cells = []
        for k in keys:
            _l, _g, size, secs = res.levels[k]["rows"][i]
            pyi = res.get(k, "size", "pyi-onefile")
            whole = size + res.levels[k]["other"]
            share = f" = {whole / statistics.median(pyi):.2f}× `--onefile`" if pyi else ""
            cells.append(f"{size / 1e6:.1f} MB{share}, {secs:.1f} s")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    rows += ["", "Size: the payload, every frame compressed again from the artifact's own uncompressed frames; the "
                 "ratio adds the stub and manifest (the whole file) and divides by PyInstaller `--onefile`'s file. "
                 f"Time: wall time on all {os.cpu_count()} CPUs, frames in parallel, largest first, as "
                 "`bundler build` does. `--long=27`: long-distance matching with a 128 MiB window (a frame holds "
                 "at most 8 MiB of whole entries unless one file is larger, so it matches within a frame only)."]
    return "\n".join(rows)


# ------------------------------------------------------------------ composition


def composition(app: App, tree: Path, onedir: Path, res: Results) -> None:
    """Where the bytes go: the unpacked runtime by group, and PyInstaller's onedir by top entry."""
    groups: dict[str, int] = {}
    site = None
    for cand in tree.glob("lib/python3*/*-packages"):
        site = cand
    for dirpath, _dirs, files in os.walk(tree):
        for name in files:
            p = Path(dirpath) / name
            if p.is_symlink():
                continue
            rel = p.relative_to(tree)
            parts = rel.parts
            size = p.stat().st_size
            if site and p.is_relative_to(site):
                top = p.relative_to(site).parts[0]
                top = re.sub(r"-[^-]+\.dist-info$", ".dist-info", top)
                key = f"site-packages/{top}"
            elif parts[:2] == ("lib", "bundled"):
                key = f"lib/bundled/{re.sub(r'-[0-9a-f]{8}', '', name)}"
            elif len(parts) >= 3 and parts[0] == "lib" and parts[1].startswith("python3"):
                if parts[2] == "lib-dynload":
                    key = "stdlib lib-dynload/*.so"
                elif "__pycache__" in parts:
                    key = "stdlib *.pyc"
                else:
                    key = "stdlib sources (*.py etc.)"
            elif parts[0] == "lib" and len(parts) > 1 and parts[1].startswith(("tcl", "tk")):
                key = "lib/tcl*, lib/tk* (tkinter data)"
            else:
                key = "/".join(parts[:2]) if len(parts) > 2 else parts[0]
            groups[key] = groups.get(key, 0) + size
    pyi: dict[str, int] = {}
    for dirpath, _dirs, files in os.walk(onedir):
        for name in files:
            p = Path(dirpath) / name
            if p.is_symlink():
                continue
            rel = p.relative_to(onedir).parts
            key = "/".join(rel[:2]) if rel[0] == "_internal" and len(rel) > 1 else rel[0]
            pyi[key] = pyi.get(key, 0) + p.stat().st_size
    c = res.composition.setdefault(app.key, {})
    c["bundler"] = groups
    c["pyi_onedir"] = pyi


# ------------------------------------------------------------------ report


def stats(xs: list[float]) -> tuple[float, float, float]:
    return statistics.median(xs), min(xs), max(xs)


def fmt_time(xs: list[float]) -> str:
    if not xs:
        return "–"
    med, lo, hi = stats(xs)
    if med < 1:
        return f"{med * 1e3:.1f} ms ({lo * 1e3:.1f}–{hi * 1e3:.1f})"
    return f"{med:.2f} s ({lo:.2f}–{hi:.2f})"


def fmt_size(xs: list[float]) -> str:
    return f"{statistics.median(xs) / 1e6:.1f} MB" if xs else "–"


def ratio(a: list[float], b: list[float]) -> str:
    if not a or not b:
        return "–"
    return f"{statistics.median(a) / statistics.median(b):.2f}×"


METRICS = [
    ("size", "artifact size", fmt_size),
    ("cold", "cold build (empty caches)", fmt_time),
    ("rebuild", "rebuild after an app-only change", fmt_time),
    ("first", "first run, empty cache (PyInstaller: every run)", fmt_time),
    ("warm", "warm start (PyInstaller: every run)", fmt_time),
]


def table(res: Results, app: App, n_builds: int, n_ref: int, runs: int) -> str:
    rows = [f"### {app.key}: `{app.what}`", "",
            "| | bundler | PyInstaller `--onefile` | bundler / onefile | *reference:* `--onefile --strip` "
            "| *reference:* `--onedir` |",
            "|---|---|---|---|---|---|"]
    for metric, label, fmt in METRICS:
        b, o = (res.get(app.key, metric, t) for t in ("bundler", "pyi-onefile"))
        refs = " | ".join(fmt(res.get(app.key, metric, t)) for t in REFS)
        rows.append(f"| {label} | {fmt(b)} | {fmt(o)} | {ratio(b, o)} | {refs} |")
    direct = res.get(app.key, "direct", "bundler")
    floor = res.get(app.key, "floor", "bundler")
    warm = res.get(app.key, "warm", "bundler")
    rows.append(f"| same command, runtime run directly | {fmt_time(direct)} | | warm / direct: {ratio(warm, direct)} | | |")
    rows.append(f"| `python3.11 -I -c pass` of the runtime (floor) | {fmt_time(floor)} | | | | |")
    onefile = res.get(app.key, "size", "pyi-onefile")
    for tool, extra in LEAN.items():
        size_ = res.get(app.key, "size", tool)
        if size_:
            rows.append(f"| artifact size, `{' '.join(extra)}` | {fmt_size(size_)} | | {ratio(size_, onefile)} "
                        f"(default build: {ratio(res.get(app.key, 'size', 'bundler'), onefile)}) | | |")
    lean_first, lean_warm = res.get(app.key, "first", "bundler-lean19"), res.get(app.key, "warm", "bundler-lean19")
    if lean_first:
        flags = " ".join(LEAN["bundler-lean19"])
        rows.append(f"| first run, empty cache, `{flags}` | {fmt_time(lean_first)} | "
                    f"{fmt_time(res.get(app.key, 'first', 'pyi-onefile'))} | "
                    f"{ratio(lean_first, res.get(app.key, 'first', 'pyi-onefile'))}; vs its warm start: "
                    f"{ratio(lean_first, lean_warm)} | | |")
        rows.append(f"| warm start, `{flags}` | {fmt_time(lean_warm)} | | vs the default build's: "
                    f"{ratio(lean_warm, warm)} | | |")
    shared = res.get(app.key, "first-shared", "bundler")
    if shared:
        first = res.get(app.key, "first", "bundler")
        rows.append(f"| first run after {res.shared[app.key]} ran in the same cache (shared layers linked) | "
                    f"{fmt_time(shared)} | | vs empty cache: {ratio(shared, first)}; vs warm: {ratio(shared, warm)} | | |")
    if res.get(app.key, "work", "bundler"):
        b, o = (res.get(app.key, "work", t) for t in ("bundler", "pyi-onefile"))
        refs = " | ".join(fmt_time(res.get(app.key, "work", t)) for t in REFS)
        rows.append(f"| warm run of `{app.work_what}` | {fmt_time(b)} | {fmt_time(o)} | {ratio(b, o)} | {refs} |")
        direct = res.get(app.key, "work-direct", "bundler")
        rows.append(f"| same, runtime run directly | {fmt_time(direct)} | | warm / direct: {ratio(b, direct)} | | |")
    rows.append("")
    rows.append(f"Medians (min–max): builds ×{n_builds} (references ×{n_ref}; `--strip` is not rebuilt), "
                f"runs ×{runs}. Sizes: the single file; `--onedir`: the whole directory.")
    for note in res.notes.get(app.key, []):
        rows += ["", f"Note: {note.replace('pyi-strip', 'PyInstaller --onefile --strip')}"]
    stages = res.stages.get(app.key, {})
    if stages.get("cold"):
        def med_stages(runs_: list[dict]) -> str:
            keys = list(runs_[0])
            return ", ".join(f"{k} {statistics.median(r[k] for r in runs_):.1f}" for k in keys)
        rows.append("")
        rows.append(f"bundler's own stage times (s, median): cold: {med_stages(stages['cold'])}; "
                    f"rebuild: {med_stages(stages['rebuild'])}.")
    return "\n".join(rows)


def decoder_table(res: Results) -> str:
    rows = ["| app | frames | compressed → uncompressed | stub's libzstd, 1 thread (`stubs/bench.zig`) | "
            "Zig `std.compress.zstd` (same) | `zstd -d -T1` CLI to /dev/null | stub `BUNDLER_STUB=extract:DIR` "
            "(SHA-256 + decompress + write, all threads) |",
            "|---|---|---|---|---|---|---|"]
    for key, d in res.decoder.items():
        cli = statistics.median(d["zstd_cli"])
        ext = statistics.median(d["stub_extract"])
        rows.append(
            f"| {key} | {d['frames']} | {d['compressed'] / 1e6:.1f} MB → {d['uncompressed'] / 1e6:.1f} MB | "
            f"{d['bench_libzstd']:.0f} MB/s | {d['bench_std']:.0f} MB/s | {cli:.0f} MB/s | "
            f"{ext:.0f} MB/s ({fmt_time(d['stub_extract_s'])}) |")
    rows.append("")
    rows.append("MB/s of uncompressed output. bench.zig: best of 3 passes over all frames; the others: median "
                "of the runs (process start included).")
    return "\n".join(rows)


def composition_table(res: Results, top: int = 12) -> str:
    out = []
    for key, c in res.composition.items():
        if "bundler" not in c:
            continue
        total = sum(c["bundler"].values())
        summ = c.get("bundler_summary", {})
        layers = ", ".join(f"{l['name']} {l['uncompressed'] / 1e6:.1f} → {l['compressed'] / 1e6:.1f} MB"
                           for l in summ.get("layers", []))
        out.append(f"**{key}**: bundler's unpacked runtime {total / 1e6:.1f} MB (layers: {layers}); "
                   f"PyInstaller `--onedir` {sum(c['pyi_onedir'].values()) / 1e6:.1f} MB.")
        out.append("")
        out.append("| bundler runtime (uncompressed) | MB | PyInstaller `--onedir` | MB |")
        out.append("|---|---|---|---|")
        a = sorted(c["bundler"].items(), key=lambda kv: -kv[1])[:top]
        b = sorted(c["pyi_onedir"].items(), key=lambda kv: -kv[1])[:top]
        for i in range(max(len(a), len(b))):
            left = f"{a[i][0]} | {a[i][1] / 1e6:.2f}" if i < len(a) else " | "
            right = f"{b[i][0]} | {b[i][1] / 1e6:.2f}" if i < len(b) else " | "
            out.append(f"| {left} | {right} |")
        out.append("")
    return "\n".join(out)


def targets(res: Results, apps: list[App]) -> str:
    rows = ["| target | " + " | ".join(a.key for a in apps) + " |", "|---|" + "---|" * len(apps)]

    def med(app, metric, tool):
        xs = res.get(app.key, metric, tool)
        return statistics.median(xs) if xs else None

    def cell(ok, text):
        return f"{'✅' if ok else '❌'} {text}"

    checks = []

    def warm_direct(a):
        w, d = med(a, "warm", "bundler"), med(a, "direct", "bundler")
        return cell(w <= 1.05 * d, f"{w / d:.2f}×")

    def warm_pyi(a):
        w, p = med(a, "warm", "bundler"), med(a, "warm", "pyi-onefile")
        return cell(p >= 4 * w, f"{p / w:.1f}× faster")

    def first(a):
        slowest = max(res.get(a.key, "first", "bundler"))
        fastest = min(res.get(a.key, "first", "pyi-onefile"))
        return cell(slowest < fastest, f"slowest {slowest * 1e3:.0f} ms vs fastest {fastest * 1e3:.0f} ms")

    def size(a):
        b, p = med(a, "size", "bundler"), med(a, "size", "pyi-onefile")
        s = med(a, "size", "pyi-strip")
        return cell(b <= 0.5 * p, f"{b / p:.2f}×" + (f" (vs `--strip`: {b / s:.2f}×)" if s else ""))

    def first_warm(a, tool="bundler"):
        f, w = med(a, "first", tool), med(a, "warm", tool)
        return cell(f <= 2 * w, f"{f / w:.1f}× ({f * 1e3:.0f} ms vs {w * 1e3:.0f} ms)")

    def lean_size(a):
        b, p = med(a, "size", "bundler-lean19"), med(a, "size", "pyi-onefile")
        return cell(b <= 0.5 * p, f"{b / p:.2f}× ({b / 1e6:.1f} MB; `--stdlib imported` alone: "
                                  f"{med(a, 'size', 'bundler-lean') / p:.2f}×)")

    def shared_first(a):
        f, w, e = med(a, "first-shared", "bundler"), med(a, "warm", "bundler"), med(a, "first", "bundler")
        return cell(f <= 2 * w, f"{f / w:.1f}× warm ({f * 1e3:.0f} ms; empty cache {e * 1e3:.0f} ms)")

    def rebuild(a):
        r = med(a, "rebuild", "bundler")
        return cell(r <= 2.0, f"{r:.1f} s")

    def cold(a):
        b, p = med(a, "cold", "bundler"), med(a, "cold", "pyi-onefile")
        return cell(b <= p, f"{b:.0f} s vs {p:.0f} s ({b / p:.1f}×)")

    checks = [
        ("warm start ≤ 1.05× the runtime run directly", warm_direct),
        ("warm start ≥ 4× faster than `--onefile`", warm_pyi),
        ("first run (empty cache) faster than every `--onefile` run", first),
        ("first run (empty cache) ≤ 2× the warm start", first_warm),
        ("first run after another app on the same base ≤ 2× the warm start", shared_first),
        ("artifact ≤ 0.5× `--onefile`", size),
        ("artifact ≤ 0.5× `--onefile`, built with `--stdlib imported --compression-level 19`", lean_size),
        ("first run (empty cache) ≤ 2× the warm start, `--stdlib imported --compression-level 19`",
         lambda a: first_warm(a, "bundler-lean19")),
        ("rebuild after an app-only change ≤ 2 s", rebuild),
        ("cold build no slower than `--onefile`", cold),
    ]
    for label, fn in checks:
        cells = []
        for a in apps:
            try:
                cells.append(fn(a))
            except (TypeError, ZeroDivisionError, ValueError):
                cells.append("–")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def report(res: Results, apps: list[App], info: dict, n_builds: int, n_ref: int, runs: int) -> str:
    parts = [
        f"Measured {info['date']} on {info['cpu']}, {info['cores']} cores, Linux {info['kernel']}; "
        f"{info['python']}; PyInstaller {info['pyinstaller']}; bundler {info['bundler']}; {info['tools']}. "
        f"Load average at the start: {info['load']}. Runs unpack into {info['runs_on']}.",
        "",
        "#### Targets",
        "",
        targets(res, apps),
        "",
    ]
    for app in apps:
        parts += [table(res, app, n_builds, n_ref, runs), ""]
    if res.levels:
        parts += ["#### Compression levels", "", levels_table(res, apps), ""]
    if res.decoder:
        parts += ["#### Stub decompression", "", decoder_table(res), ""]
    if res.composition:
        parts += ["#### Where the bytes go", "", composition_table(res)]
    return "\n".join(parts).rstrip() + "\n"


def write_doc(text: str) -> None:
    doc = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in doc or END not in doc:
        doc = doc.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    head, rest = doc.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{text}{END}{tail}")


# ------------------------------------------------------------------ main


def wait_idle(threshold: float, max_wait: float) -> None:
    deadline = time.monotonic() + max_wait
    while True:
        load = os.getloadavg()[0]
        if load < threshold or time.monotonic() >= deadline:
            log(f"load average {load:.2f} (threshold {threshold})")
            return
        log(f"load average {load:.2f} ≥ {threshold}: waiting")
        time.sleep(min(30, max(1, deadline - time.monotonic())))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--apps", default="hello,numpy,sklearn", help="comma-separated: hello,numpy,sklearn")
    ap.add_argument("--runs", type=int, default=10, help="runs per start measurement (default 10)")
    ap.add_argument("--builds", type=int, default=3, help="builds per build measurement (default 3)")
    ap.add_argument("--ref-builds", type=int, default=1, help="PyInstaller --onedir builds (reference; default 1)")
    ap.add_argument("--quick", action="store_true", help="1 build, 3 runs: to try the script")
    ap.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="LOAD",
                    help="first wait (up to --wait-max s) for the 1-minute load average to drop below LOAD")
    ap.add_argument("--wait-max", type=float, default=600.0)
    ap.add_argument("--quiet-cpu", type=float, default=0.25, metavar="FRACTION",
                    help="before each measurement wait (up to --quiet-max s) until other processes use less than "
                         "FRACTION of the CPUs (default 0.25; 0 disables)")
    ap.add_argument("--quiet-max", type=float, default=30.0)
    ap.add_argument("--skip-decoder", action="store_true")
    ap.add_argument("--skip-levels", action="store_true", help="no compression-level table")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.builds, args.ref_builds = 3, 1, 1
    apps = [APPS[a] for a in args.apps.split(",")]

    t_start = time.monotonic()
    QUIET.update(threshold=args.quiet_cpu, max_wait=args.quiet_max)
    WORK.mkdir(parents=True, exist_ok=True)
    fresh(WORK / "tmp")
    wheelhouse = setup(list(APPS.values()))
    appdirs = prepare_apps(apps)
    if args.wait_idle:
        wait_idle(args.wait_idle, args.wait_max)
    info = machine()
    res = Results()
    fs, info["runs_on"] = run_filesystem()
    singles: dict[str, Path] = {}
    try:
        for app in apps:
            artifacts = builds(app, appdirs[app.key], wheelhouse, res, args.builds, args.ref_builds)
            singles[app.key] = artifacts["bundler"]
            tree = starts(app, artifacts, res, args.runs, fs)
            if not args.skip_decoder:
                decoder(app, artifacts["bundler"], wheelhouse, res, args.runs, fs)
            if not args.skip_levels:
                levels(app, artifacts["bundler"], res)
            composition(app, tree, artifacts["pyi-onedir"], res)
            for tool, out in res.outputs.get(app.key, {}).items():
                log(f"{app.key}: {tool} says: {out.splitlines()[0] if out else '(nothing)'}")
        shared_starts(apps, singles, res, args.runs, fs)
    finally:
        release_filesystem()
    text = report(res, apps, info, args.builds, args.ref_builds, args.runs)
    print(text)
    (WORK / "results.json").write_text(json.dumps(
        {"machine": info, "data": res.data, "stages": res.stages, "decoder": res.decoder,
         "levels": res.levels, "composition": {k: {kk: vv for kk, vv in v.items() if kk != "bundler_summary"}
                         for k, v in res.composition.items()}}, indent=1))
    if not args.no_doc:
        write_doc(text)
        log(f"wrote {DOC.relative_to(ROOT)}")
    log(f"done in {time.monotonic() - t_start:.0f} s ({QUIET['waited']:.0f} s of it waiting for quiet CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
