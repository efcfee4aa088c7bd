"""Bases for other platforms, described from their files (nothing runs them)."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest
from packaging.tags import Tag
from support.bases import macos_pbs_archive, windows_embeddable_zip, windows_helper_dll
from support.native import universal, zig_cc

from bundler.base import files as basemeta
from bundler.base.archives import unpack
from bundler.base.load import load_base
from bundler.base.target import target_for
from bundler.config.spec import resolve
from bundler.errors import ConfigError, InterpreterError
from bundler.pipeline import bases_for


def _linux_prefix(root: Path, target: str = "aarch64-linux-gnu.2.17") -> Path:
    zig_cc(root / "bin" / "python3.11", {"p.c": 'const char v[] = "\\0" "3.11.4";\nint main(){return v[1];}\n'},
           target=target)
    (root / "lib" / "python3.11").mkdir(parents=True)
    (root / "lib" / "python3.11" / "os.py").write_text("# landmark\n")
    (root / "lib" / "python3.11" / "_sysconfigdata__linux_aarch64-linux-gnu.py").write_text(
        "build_time_vars = {'MULTIARCH': 'aarch64-linux-gnu', 'EXT_SUFFIX': '.cpython-311-aarch64-linux-gnu.so'}\n")
    return root


def test_windows_embeddable_zip(tmp_path: Path) -> None:
    windows_helper_dll(tmp_path / "libs")
    interp = basemeta.describe(windows_embeddable_zip(tmp_path, tmp_path / "libs"), tmp_path / "cache")
    target = target_for(interp)
    assert (target.name, interp.full_version, interp.runnable) == ("windows-x86_64", "3.11.9", False)
    assert interp.stdlib.name == "python311.zip" and interp.executable.name == "python.exe"
    assert target.environment["sys_platform"] == "win32" and target.environment["platform_machine"] == "AMD64"
    assert target.environment["os_name"] == "nt" and target.environment["python_full_version"] == "3.11.9"
    assert target.tags[0] == Tag("cp311", "cp311", "win_amd64")
    assert target.tag_rank(Tag("py3", "none", "any")) is not None
    assert target.tag_rank(Tag("cp311", "cp311", "manylinux_2_17_x86_64")) is None


def test_python_build_standalone_archive_for_macos(tmp_path: Path) -> None:
    archive = macos_pbs_archive(tmp_path)
    interp = basemeta.describe(archive, tmp_path / "cache")
    target = target_for(interp)
    assert target.name == "macos-arm64" and interp.full_version == "3.11.9"
    assert target.macos_minimum == (11, 0) and target.environment["sys_platform"] == "darwin"
    assert target.tag_rank(Tag("cp311", "cp311", "macosx_11_0_arm64")) is not None
    assert target.tag_rank(Tag("cp311", "cp311", "macosx_12_0_arm64")) is None  # newer than the base supports
    assert target.tag_rank(Tag("cp311", "cp311", "macosx_11_0_x86_64")) is None
    # unpacked once, content-addressed
    again = basemeta.describe(archive, tmp_path / "cache")
    assert again.executable == interp.executable
    assert len(list((tmp_path / "cache" / "bases").iterdir())) == 1


def test_macos_minimum_from_the_executable_without_python_json(tmp_path: Path) -> None:
    archive = macos_pbs_archive(tmp_path)
    root = unpack(archive, tmp_path / "cache") / "python"
    (root / "PYTHON.json").unlink()
    interp = basemeta.describe(root, tmp_path / "cache")
    assert interp.macos_minimum == "11.0" and interp.full_version == "3.11.9"


def test_linux_aarch64_prefix_from_its_files(tmp_path: Path) -> None:
    root = _linux_prefix(tmp_path / "py")
    interp = load_base(str(root / "bin" / "python3.11"), tmp_path / "cache")
    target = target_for(interp)
    assert (target.name, interp.full_version, interp.runnable) == ("linux-aarch64", "3.11.4", False)
    assert interp.glibc == "2.17" and interp.multiarch == "aarch64-linux-gnu"
    assert target.tags[0] == Tag("cp311", "cp311", "manylinux_2_17_aarch64")
    assert target.environment["platform_machine"] == "aarch64"


def test_a_system_image_is_a_sysroot(tmp_path: Path) -> None:
    image = tmp_path / "image"
    _linux_prefix(image / "usr")
    interp = load_base(str(image), tmp_path / "cache")
    assert interp.sysroot == image and interp.prefix == image / "usr"
    assert interp.sitepackages[0] == str(image / "usr" / "lib" / "python3" / "dist-packages")


def test_host_interpreter_is_probed(tmp_path: Path) -> None:
    interp = load_base(sys.executable, tmp_path / "cache")
    assert interp.runnable and interp.system == "Linux"


@pytest.mark.parametrize("layout", ["empty", "escape", "fat"])
def test_bad_bases_are_clear_errors(tmp_path: Path, layout: str) -> None:
    if layout == "empty":
        (tmp_path / "base").mkdir()
        arg, words = tmp_path / "base", "found no CPython"
    elif layout == "escape":
        arg, words = tmp_path / "evil.tar.gz", "outside the directory"
        with tarfile.open(arg, "w:gz") as tf:
            info = tarfile.TarInfo("../../etc/evil")
            info.size = 1
            tf.addfile(info, io.BytesIO(b"x"))
    else:  # a real universal file of two zig-built slices
        thin = [zig_cc(tmp_path / f"p-{t}", {"p.c": "int main(){return 0;}\n"}, target=t)
                for t in ("aarch64-macos.11.0", "x86_64-macos.10.13")]
        (tmp_path / "base" / "lib" / "python3.11").mkdir(parents=True)
        (tmp_path / "base" / "bin").mkdir()
        universal(tmp_path / "base" / "bin" / "python3.11", *thin)
        arg, words = tmp_path / "base", "universal"
    with pytest.raises(InterpreterError, match=words):
        load_base(str(arg), tmp_path / "cache")


def _spec(tmp_path: Path, **cli):
    (tmp_path / "pylock.toml").write_text('lock-version = "1.0"\ncreated-by = "t"\n')
    return resolve(tmp_path, {"entry": ("x=m:f",), "cache-dir": str(tmp_path / "cache"), **cli}, cwd=tmp_path)


def test_python_per_target_and_targets_table(tmp_path: Path) -> None:
    spec = _spec(tmp_path, python=("linux-aarch64=py/bin/python3.11", "/usr/bin/python3"),
                 target=("linux-aarch64", "linux-x86_64"))
    assert spec.python == "/usr/bin/python3"
    assert spec.pythons == (("linux-aarch64", str(tmp_path / "py/bin/python3.11")),)
    assert spec.targets == ("linux-aarch64", "linux-x86_64")
    with pytest.raises(ConfigError, match="no --target asked for linux-aarch64"):
        _spec(tmp_path, python=("linux-aarch64=py/bin/python3.11",))
    with pytest.raises(ConfigError, match="unknown target 'linux-riscv'"):
        _spec(tmp_path, python=("linux-riscv=/x",))
    with pytest.raises(ConfigError, match="target 'beos-x86'"):
        _spec(tmp_path, target=("beos-x86",))
    (tmp_path / "pyproject.toml").write_text('[tool.bundler.targets.linux-aarch64]\npython = "a"\nglibc = "2.28"\n')
    with pytest.raises(ConfigError, match="takes one key"):
        _spec(tmp_path)


def test_each_target_gets_its_own_base(tmp_path: Path) -> None:
    _linux_prefix(tmp_path / "py")
    spec = _spec(tmp_path, python=("linux-aarch64=./py",), target=("linux-x86_64", "linux-aarch64"))
    assert [t.name for _i, t in bases_for(spec)] == ["linux-x86_64", "linux-aarch64"]
    with pytest.raises(ConfigError, match="needs a CPython built for it"):
        bases_for(_spec(tmp_path, target=("windows-x86_64",)))
    with pytest.raises(InterpreterError, match="is a CPython for linux-aarch64, not for macos-arm64"):
        bases_for(_spec(tmp_path, python=("macos-arm64=./py",), target=("macos-arm64",)))
    # a plain --python serves the target it is for
    assert [t.name for _i, t in bases_for(_spec(tmp_path, python=("./py",), target=("linux-aarch64",)))] == ["linux-aarch64"]
