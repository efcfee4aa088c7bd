"""Building single files: inspect, verify, and a rebuild after an app-only change."""

from __future__ import annotations

import shutil
import subprocess

from support.e2e import HELLO, run_bundler

ART = "hello-1.0.0-linux-x86_64"


def test_inspect_verifies_real_artifact(runtimes):
    proc = run_bundler("inspect", "--verify", str(runtimes["pyenv"] / ART))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "hello 1.0.0 for linux-x86_64 (format 1)" in out
    assert "entries   hello (default), yamlcheck" in out
    for layer in ("runtime", "dependencies", "app"):
        assert f"    {layer}" in out
    assert "verified:" in out


def test_inspect_refuses_damaged_file(runtimes, tmp_path):
    bad = tmp_path / "bad"
    data = bytearray((runtimes["pyenv"] / ART).read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    proc = run_bundler("inspect", "--verify", str(bad))
    assert proc.returncode == 10
    assert proc.stderr.count("\n") == 1 and "damaged" in proc.stderr and "Traceback" not in proc.stderr


def test_app_only_change_recompresses_only_the_app(tmp_path, cache_dir):
    project = tmp_path / "hello"
    shutil.copytree(HELLO, project, ignore=shutil.ignore_patterns("dist", "build", "*.egg-info"))
    args = ("build", str(project), "--format", "onefile", "--compression-level", "3", "--cache-dir", str(cache_dir))
    first = run_bundler(*args)
    assert first.returncode == 0, first.stderr
    cli = project / "src" / "hello" / "cli.py"
    cli.write_text(cli.read_text().replace("Hello, {name}!", "Howdy, {name}!"))
    second = run_bundler(*args)
    assert second.returncode == 0, second.stderr
    line = next(l for l in second.stderr.splitlines() if " compressed, " in l)
    assert " 1 frame compressed" in line, second.stderr  # only the app layer's frame
    out = subprocess.run([str(project / "dist" / ART), "--name", "x"], capture_output=True, text=True,
                         env={"BUNDLER_CACHE_DIR": str(tmp_path / "run-cache"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and "Howdy, x!" in out.stdout, out.stderr


def _lock(path, *wheels) -> None:
    from support.wheelfactory import sha256_of

    lines = ['lock-version = "1.0"', 'created-by = "tests"']
    for w in wheels:
        name, version = w.name.split("-")[:2]
        lines += ["", "[[packages]]", f'name = "{name}"', f'version = "{version}"',
                  f'wheels = [{{name = "{w.name}", path = "{w}", hashes = {{sha256 = "{sha256_of(w)}"}}}}]']
    path.write_text("\n".join(lines) + "\n")


def test_a_second_app_on_the_same_base_reuses_the_interpreter_and_its_frames(tmp_path):
    """The staged interpreter is cached per base, not per base + dependencies; runtime frames are shared."""
    import json

    from support.wheelfactory import make_wheel

    cache = tmp_path / "cache"
    common = make_wheel(tmp_path / "w", "common", "1.0")
    summaries = []
    for app in ("alpha", "beta"):
        wheel = make_wheel(tmp_path / "w", app, "1.0", files={f"{app}/__init__.py": "def main():\n    print('hi')\n"},
                           entry_points={"console_scripts": {app: f"{app}:main"}})
        deps = [common] if app == "alpha" else [common, make_wheel(tmp_path / "w", "extra", "2.0")]
        lock = tmp_path / f"lock-{app}" / "pylock.toml"
        lock.parent.mkdir()
        _lock(lock, wheel, *deps)
        proc = run_bundler("build", "--lock", str(lock), "--entry", app, "--json",
                           "--output-dir", str(tmp_path / app), "--cache-dir", str(cache))
        assert proc.returncode == 0, proc.stderr
        summaries.append(json.loads(proc.stdout))
    first, second = summaries
    runtime_frames = next(l["frames"] for l in second["layers"] if l["name"] == "runtime")
    assert first["frames"]["reused"] == 0
    assert second["frames"]["reused"] >= runtime_frames > 0
    # one interpreter entry and two interpreter + dependencies entries in the build cache
    assert len([p for p in (cache / "runtimes").iterdir() if not p.name.startswith(".")]) == 3
