#!/usr/bin/env python3
"""Where bundler's time and bytes go: the measurements behind docs/benchmarks.md's findings.

Run after `make bench` (it uses the artifacts in bench/work/build/):

    .venv/bin/python bench/profile.py [--apps hello,numpy] [--levels 3,9,12,15,19] [--skip-pyspy]

  cold build   a cold `bundler build` under py-spy (installed into bench/.venv), summarised by
               bench/pyspy_top.py, and the stub's compile time alone (fresh cache)
  compression  every frame of the artifact recompressed at each level (all cores, like
               bundler.payload.compress_frames): seconds and bytes
  bytes        the unpacked runtime by kind of file, uncompressed and compressed at level 19
  extraction   BUNDLER_STUB=extract:DIR on the root filesystem, a loop-mounted journaled ext4 and
               tmpfs, next to `cp -a` of the same tree
Prints plain text; writes nothing outside bench/work/.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py)

from bundler.output import payload

PROF = bench.WORK / "profile"


def artifact(app: bench.App) -> Path:
    found = sorted((bench.WORK / "build" / app.key / "bundler-out").glob(f"{app.entry}-*-linux-*"))
    if not found:
        raise SystemExit(f"profile: no bundler artifact for {app.key} in bench/work/build; run `make bench` first")
    return found[-1]


def frames(art: Path) -> list[bytes]:
    trailer = payload.read_trailer(art)
    manifest = payload.read_manifest(art, trailer)
    return [f for _layer, f in payload.iter_frames(art, manifest, trailer)]


def compress_all(blobs: list[bytes], level: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        out = list(pool.map(lambda d: payload.compress(d, level), blobs))
    return time.perf_counter() - t0, sum(map(len, out))


def section(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def cold_build(app: bench.App, wheelhouse: Path, pyspy: bool) -> None:
    section(f"{app.key}: cold build")
    appdir = bench.WORK / "apps" / app.key
    work = bench.fresh(PROF / f"cold-{app.key}")
    cmd = [bench.BUNDLER, "build", appdir, "--cache-dir", work / "cache", "--find-links", wheelhouse, "--offline",
           "--format", "onefile", "--output-dir", work / "out", "--python", bench.base_python(), "--json"]
    if pyspy:
        spy = bench.VENV / "bin" / "py-spy"
        if not spy.exists():
            bench.run([bench.VENV / "bin" / "python", "-m", "pip", "install", "-q", "py-spy"])
        raw = work / "pyspy.txt"
        cmd = [spy, "record", "-r", "50", "-f", "raw", "-o", raw, "--subprocesses", "--", *cmd]
    t0 = time.perf_counter()
    proc = bench.run(cmd, env=bench.clean_env(TMPDIR=str(bench.WORK / "tmp")))
    wall = time.perf_counter() - t0
    summary = bench.json.loads(proc.stdout[proc.stdout.index("{"):proc.stdout.rindex("}") + 1])
    print(f"wall {wall:.1f} s; bundler's stages: {summary['timings']}")
    if pyspy:
        print(subprocess.run([sys.executable, Path(__file__).parent / "pyspy_top.py", raw], text=True,
                             capture_output=True).stdout)


def levels(app: bench.App, levels_: list[int]) -> None:
    section(f"{app.key}: compression levels (every frame, {os.cpu_count()} threads)")
    blobs = frames(artifact(app))
    raw = sum(map(len, blobs))
    print(f"{len(blobs)} frames, {raw / 1e6:.1f} MB uncompressed")
    for level in levels_:
        secs, size = compress_all(blobs, level)
        print(f"level {level:2d}: {secs:6.1f} s  {size / 1e6:6.2f} MB  (ratio {raw / size:.2f})", flush=True)


def kind_of(rel: str, site: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    if rel.startswith(site + "/"):
        top = rel[len(site) + 1:].split("/", 1)[0]
        top = re.sub(r"-[^-]+\.dist-info$", ".dist-info", top)
        sub = ("tests " if "/tests/" in rel or "/testing/" in rel else "")
        ext = ".pyc" if name.endswith(".pyc") else ".py" if name.endswith(".py") else \
            ".so" if ".so" in name else ".pyi" if name.endswith(".pyi") else "other"
        return f"site-packages/{top} {sub}{ext}"
    if rel.startswith("lib/bundled/"):
        return "lib/bundled/" + re.sub(r"-[0-9a-f]{8}", "", name) if "libpython" in name else "lib/bundled/other libs"
    m = re.match(r"lib/python3\.\d+/", rel)
    if m:
        if "/lib-dynload/" in rel:
            return "stdlib lib-dynload/*.so"
        if name.endswith(".pyc"):
            return "stdlib *.pyc"
        if name.endswith(".py"):
            return "stdlib *.py"
        return "stdlib other"
    return rel.split("/", 1)[0] + "/"


def bytes_by_kind(app: bench.App, level: int) -> None:
    section(f"{app.key}: the unpacked runtime by kind of file (compressed: each kind alone, level {level})")
    art = artifact(app)
    groups: dict[str, list[bytes]] = {}
    site = None
    for frame in frames(art):
        for kind, _mode, path, data in payload.decode(frame):
            if kind != payload.FILE:
                continue
            if site is None:
                m = re.match(r"(lib/python3\.\d+/(?:site|dist)-packages)/", path)
                site = m.group(1) if m else None
            groups.setdefault(kind_of(path, site or "lib/python3.11/site-packages"), []).append(data)
    blobs = {k: b"".join(v) for k, v in groups.items()}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        sizes = dict(zip(blobs, pool.map(lambda d: len(payload.compress(d, level)), blobs.values())))
    total_raw = sum(map(len, blobs.values()))
    total_c = sum(sizes.values())
    print(f"{'kind':52s} {'files':>6s} {'MB':>7s} {'MB zst':>7s} {'share':>6s}")
    for k in sorted(blobs, key=lambda k: -sizes[k])[:25]:
        print(f"{k:52s} {len(groups[k]):6d} {len(blobs[k]) / 1e6:7.2f} {sizes[k] / 1e6:7.2f} "
              f"{100 * sizes[k] / total_c:5.1f}%")
    print(f"{'total':52s} {sum(map(len, groups.values())):6d} {total_raw / 1e6:7.2f} {total_c / 1e6:7.2f}")


def extraction(app: bench.App) -> None:
    section(f"{app.key}: BUNDLER_STUB=extract:DIR by filesystem (best of 3, wall / user / sys)")
    art = artifact(app)

    def best_of_3(make_cmd, env_for=lambda dest: None) -> str:
        best = None
        for i in range(3):
            cmd, dest = make_cmd(i)
            r0, t0 = os.times(), time.perf_counter()
            subprocess.run([str(c) for c in cmd], env=env_for(dest), check=True)
            wall, r1 = time.perf_counter() - t0, os.times()
            sample = (wall, r1.children_user - r0.children_user, r1.children_system - r0.children_system)
            best = sample if best is None or wall < best[0] else best
        return f"{best[0] * 1e3:6.0f} ms  (user {best[1] * 1e3:.0f} ms, sys {best[2] * 1e3:.0f} ms)"

    def extract_into(parent: Path, label: str) -> None:
        stub = best_of_3(lambda i: ([art], parent / f"x{i}"),
                         lambda dest: bench.clean_env(BUNDLER_STUB=f"extract:{dest}"))
        copy = best_of_3(lambda i: (["cp", "-a", parent / "x0", parent / f"copy{i}"], None))
        print(f"{label:36s} stub {stub}\n{'':36s} cp -a {copy}", flush=True)

    root = bench.fresh(PROF / f"extract-{app.key}")
    extract_into(root, "root filesystem (bench/work)")
    shm = Path(tempfile.mkdtemp(prefix="bundler-profile-", dir="/dev/shm"))
    try:
        extract_into(shm, "tmpfs (/dev/shm)")
    finally:
        shutil.rmtree(shm)
    fs, label = bench.run_filesystem()
    try:
        if fs != bench.WORK / "run":
            extract_into(bench.fresh(fs / "p"), "loop-mounted journaled ext4")
    finally:
        bench.release_filesystem()
    shutil.rmtree(root)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--apps", default="hello,numpy")
    ap.add_argument("--levels", default="3,9,12,15,17,19")
    ap.add_argument("--skip-pyspy", action="store_true")
    ap.add_argument("--only", default="cold,levels,bytes,extract")
    args = ap.parse_args()
    apps = [bench.APPS[a] for a in args.apps.split(",")]
    only = set(args.only.split(","))
    wheelhouse = bench.WORK / "wheelhouse"
    for app in apps:
        if "cold" in only:
            cold_build(app, wheelhouse, not args.skip_pyspy)
        if "levels" in only:
            levels(app, [int(x) for x in args.levels.split(",")])
        if "bytes" in only:
            bytes_by_kind(app, 19)
        if "extract" in only:
            extraction(app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
