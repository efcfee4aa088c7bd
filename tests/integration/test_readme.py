"""The README's quickstart, run verbatim, and `build --json` on a real build."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from support.e2e import REPO, run_bundler


def quickstart() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- quickstart.*?-->\s*```sh\n(.*?)```\s*<!-- /quickstart -->", text, re.S)
    assert block, "README lost its quickstart block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_quickstart_verbatim(tmp_path, cache_dir):
    work = tmp_path / "repo"
    shutil.copytree(REPO / "examples", work / "examples", ignore=shutil.ignore_patterns("dist", "build", "*.egg-info"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
               BUNDLER_BUILD_CACHE=str(cache_dir), BUNDLER_CACHE_DIR=str(tmp_path / "unpack"))
    outputs = []
    for line in quickstart():
        proc = subprocess.run(line, shell=True, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{line}\n{proc.stderr}"
        outputs.append(proc.stdout)
    assert "Hello, you!" in outputs[1]
    assert "verified:" in outputs[2]


def test_readme_own_project_line_verbatim(tmp_path, cache_dir):
    """The README's "for your own project" line, run as written beside a small setuptools project."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- quickstart-project.*?-->\s*```sh\n(.*?)```\s*<!-- /quickstart-project -->", text, re.S)
    assert block, "README lost its own-project block"
    (line,) = [l for l in block.group(1).splitlines() if l.strip()]
    project = tmp_path / "my-project"
    (project / "src" / "mytool").mkdir(parents=True)
    (project / "src" / "mytool" / "__init__.py").write_text("def main():\n    print('mytool ran')\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "mytool"\nversion = "0.3"\n\n[project.scripts]\nmytool = "mytool:main"\n')
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
               BUNDLER_BUILD_CACHE=str(cache_dir), BUNDLER_CACHE_DIR=str(tmp_path / "unpack"))
    proc = subprocess.run(line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"{line}\n{proc.stderr}"
    out = subprocess.run([str(project / "dist" / "mytool-0.3-linux-x86_64")], env=env, capture_output=True, text=True)
    assert out.stdout == "mytool ran\n", out.stderr


def test_build_json_summary(tmp_path, cache_dir, app_lock):
    proc = run_bundler("build", "--lock", str(app_lock), "--entry", "hello", "--format", "onefile", "--format", "dir",
                       "--output-dir", str(tmp_path), "--cache-dir", str(cache_dir), "--compression-level", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress with --json
    s = json.loads(proc.stdout)
    assert s["name"] == "hello" and s["target"] == "linux-x86_64" and s["glibc_floor"]
    assert [o["format"] for o in s["outputs"]] == ["onefile", "dir"]
    assert all(Path(o["path"]).exists() and o["size"] > 1_000_000 for o in s["outputs"])
    assert [l["name"] for l in s["layers"]] == ["runtime", "dependencies", "app"]
    assert any(v.startswith("libssl-") for v in s["vendored"])
    assert set(s["timings"]) == {"lock", "fetch", "base", "app", "output"}


def test_build_summary_on_stderr_paths_on_stdout(tmp_path, cache_dir, app_lock):
    proc = run_bundler("build", "--lock", str(app_lock), "--entry", "hello", "--format", "dir",
                       "--output-dir", str(tmp_path), "--cache-dir", str(cache_dir))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "hello")
    assert "built hello 1.0.0 for linux-x86_64" in proc.stderr
    assert "vendored" in proc.stderr and "time" in proc.stderr
    assert "\033[" not in proc.stderr  # not a terminal: no colour, no bars
    quiet = run_bundler("build", "--lock", str(app_lock), "--entry", "hello", "--format", "dir",
                        "--output-dir", str(tmp_path), "--cache-dir", str(cache_dir), "-q")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
