"""base/probe: ``--python`` found and run once; anything but a working CPython 3.9+ on Linux refused in one line.

The refusals use small executables written here: a shell script that prints
what a probe of another interpreter would print.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
from pathlib import Path

import pytest

from bundler.base.probe import find_python, probe
from bundler.errors import InterpreterError


def _fake(tmp_path: Path, stdout: str, stderr: str = "") -> Path:
    exe = tmp_path / "python3"
    exe.write_text(f"#!/bin/sh\ncat <<'EOF'\n{stdout}\nEOF\nprintf '%s\\n' '{stderr}' >&2\n")
    exe.chmod(0o755)
    return exe


def test_probe_describes_the_running_interpreter():
    interp = probe(Path(sys.executable))
    assert interp.version == tuple(sys.version_info[:3])
    assert interp.full_version == sys.version.split()[0]
    assert interp.executable == Path(sys.executable) or interp.executable.resolve() == Path(sys.executable).resolve()
    assert interp.prefix == Path(sys.base_prefix)
    assert interp.stdlib == Path(sysconfig.get_paths()["stdlib"]) and (interp.stdlib / "os.py").is_file()
    assert interp.dynload.is_dir()
    assert interp.ext_suffix == sysconfig.get_config_var("EXT_SUFFIX")
    assert (interp.system, interp.machine, interp.runnable, interp.sysroot) == ("Linux", "x86_64", True, None)
    assert interp.glibc and dict(interp.markers)["implementation_name"] == "cpython"


def test_find_python(tmp_path):
    assert find_python(None) == Path(sys.executable)
    assert find_python(sys.executable) == Path(sys.executable)
    assert find_python("sh") == Path(os.popen("command -v sh").read().strip())  # a command on PATH
    prefix = Path(sys.base_prefix)
    if (prefix / "bin" / "python3").exists():
        assert find_python(str(prefix)) == prefix / "bin" / "python3"  # a prefix directory
    with pytest.raises(InterpreterError, match=f"--python {tmp_path}: directory has no bin/python3"):
        find_python(str(tmp_path))
    with pytest.raises(InterpreterError, match="--python no-such-python-here: no such file or command"):
        find_python("no-such-python-here")


def test_probe_refuses_what_is_not_a_working_cpython(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(InterpreterError, match=f"--python {text}: not executable"):
        probe(text)
    silent = _fake(tmp_path, "", stderr="Segmentation fault")
    with pytest.raises(InterpreterError, match=r"not a working Python 3\.9\+ interpreter \(probe failed: Segmentation fault\)"):
        probe(silent)
    pypy = _fake(tmp_path, json.dumps({"implementation": "pypy"}))
    with pytest.raises(InterpreterError, match="is pypy, not CPython; bundler relocates CPython only"):
        probe(pypy)
    old = _fake(tmp_path, json.dumps({"implementation": "cpython", "version": [3, 8, 18], "full_version": "3.8.18"}))
    with pytest.raises(InterpreterError, match=r"is Python 3\.8\.18; bundler needs CPython 3\.9 or newer"):
        probe(old)
    windows = _fake(tmp_path, json.dumps({"implementation": "cpython", "version": [3, 11, 9], "full_version": "3.11.9",
                                          "system": "Windows"}))
    with pytest.raises(InterpreterError, match="runs on Windows; only Linux hosts are supported so far"):
        probe(windows)
