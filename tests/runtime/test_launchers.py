"""Launchers run the runtime's interpreter from any location, with no absolute paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bundler.runtime import launchers as launcher


def _fake_runtime(root: Path) -> Path:
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    # the "interpreter" is a symlink to the python running the tests
    os.symlink(os.path.realpath(sys.executable), bin_dir / "python3.11")
    (root / "pkg").mkdir()
    (root / "pkg" / "mod.py").write_text("import sys\ndef main():\n    print('argv', sys.argv[1:])\n    return 3\n")
    script = bin_dir / "tool"
    script.write_text(launcher.entry_script("python3.11", "mod", "main").replace("import os, sys\n", "import os, sys\nsys.path.insert(0, __file__.rsplit('/', 2)[0] + '/pkg')\n", 1))
    script.chmod(0o755)
    return script


def test_no_absolute_path_in_launcher():
    text = launcher.entry_script("python3.11", "hello.cli", "main")
    assert "/root" not in text and "/tmp" not in text
    assert text.startswith("#!/bin/sh\n")
    compile(text, "launcher", "exec")  # valid Python too


def test_runs_via_symlink_path_and_cwd(tmp_path):
    script = _fake_runtime(tmp_path / "rt dir ü")
    args = ["a b", "ü", "'q'", '"dq"', ""]
    # direct, from another cwd
    out = subprocess.run([str(script), *args], capture_output=True, text=True, cwd="/")
    assert out.returncode == 3 and f"argv {args!r}" in out.stdout, out.stderr
    # through a relative symlink in another directory, found via PATH
    links = tmp_path / "links"
    links.mkdir()
    os.symlink(os.path.relpath(script, links), links / "t")
    env = {"PATH": f"{links}:/usr/bin:/bin"}
    out = subprocess.run(["t", *args], capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert out.returncode == 3 and f"argv {args!r}" in out.stdout, out.stderr
    # a chain of symlinks
    os.symlink(links / "t", tmp_path / "t2")
    out = subprocess.run([str(tmp_path / "t2")], capture_output=True, text=True)
    assert out.returncode == 3, out.stderr


def test_rewrite_shebang_only_for_python_placeholder():
    assert launcher.rewrite_shebang(b"#!/bin/bash\necho\n", "python3") == b"#!/bin/bash\necho\n"
    new = launcher.rewrite_shebang(b"#!python\nprint(1)\n", "python3.9")
    assert new.startswith(b"#!/bin/sh\n") and new.endswith(b"print(1)\n") and b"python3.9" in new
