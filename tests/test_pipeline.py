"""pipeline: one build, in process, from a lock with a wheel built in tmp_path to every output format.

The build tests are ``slow`` (the first one relocates and compiles the host
CPython into the session's build cache); the app-layer and version rules run
on a tree of dist-info directories.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.wheelfactory import make_wheel, write_pylock

from bundler import pipeline
from bundler.config.spec import resolve
from bundler.deps.lock import DirectoryRef
from bundler.errors import ConfigError
from bundler.output import payload as pl
from bundler.output.tree import read_runtime_manifest
from bundler.report import Reporter
from bundler.runtime.stage import StagedRuntime

APP = {"hi/__init__.py": "", "hi/cli.py": "import sys\ndef main():\n    print('hi from', sys.executable)\n"}


@pytest.fixture(scope="module")
def lock(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("lock")
    wheel = make_wheel(d, "hi", "1.5", files=APP, entry_points={"console_scripts": {"hi": "hi.cli:main"}})
    lock = write_pylock(d / "pylock.toml", [wheel])
    return lock


class Recorder(Reporter):
    def __init__(self) -> None:
        self.stages: list[tuple[str, str]] = []

    def stage(self, stage: str, message: str) -> None:
        self.stages.append((stage, message))


def _spec(lock: Path, out: Path, cache: Path, **cli):
    return resolve(None, {"lock": str(lock), "python": sys.executable, "output-dir": str(out), "cache-dir": str(cache),
                          "compression-level": 3, "offline": True, **cli}, cwd=lock.parent)


@pytest.mark.slow
def test_one_build_writes_every_format_and_only_them(lock, build_cache, tmp_path):
    out = tmp_path / "dist"
    report = Recorder()
    spec = _spec(lock, out, build_cache, entry=("hi",), format=("dir", "archive", "onefile"))
    result = pipeline.build(spec, report)
    assert (result.name, result.version, result.target) == ("hi", "1.5", "linux-x86_64")  # the app wheel's version
    assert result.wheels == ("hi-1.5-py3-none-any.whl",)
    assert sorted(os.listdir(out)) == ["hi", "hi-1.5-linux-x86_64", "hi-1.5-linux-x86_64.cdx.json",
                                       "hi-1.5-linux-x86_64.tar.zst", "hi-1.5-linux-x86_64.tar.zst.cdx.json",
                                       "hi.cdx.json"]  # each output and its SBOM
    assert result.outputs == (out / "hi", out / "hi-1.5-linux-x86_64.tar.zst", out / "hi-1.5-linux-x86_64")
    assert result.sboms == tuple(out / f"{o.name}.cdx.json" for o in result.outputs)
    # the SBOM beside an output is the one inside it: the single file's names the stub, the others do not
    assert (out / "hi.cdx.json").read_text() == (out / "hi" / "bundler.cdx.json").read_text()
    assert '"bom-ref": "stub"' in (out / "hi-1.5-linux-x86_64.cdx.json").read_text()
    assert '"bom-ref": "stub"' not in (out / "hi.cdx.json").read_text()
    assert [s for s, _m in report.stages][:3] == ["python", "lock", "fetch"]
    # the single file and the directory say the same about themselves
    onefile = pl.read_manifest(out / "hi-1.5-linux-x86_64")
    directory = read_runtime_manifest(out / "hi")
    assert onefile.app == directory.app and onefile.entry_points == directory.entry_points == (("hi", "bin/hi"),)
    assert onefile.default_entry == "hi" and onefile.python == directory.python
    assert result.onefile is not None and result.onefile.manifest == onefile
    assert {layer.name for layer in onefile.payload.layers if layer.files} == {"runtime", "app"}
    # both run, each from its own interpreter
    home = tmp_path / "home"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "BUNDLER_CACHE_DIR": str(tmp_path / "run-cache")}
    for exe in (out / "hi" / "bin" / "hi", out / "hi-1.5-linux-x86_64"):
        proc = subprocess.run([str(exe)], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("hi from ") and str(sys.base_prefix) not in proc.stdout
    info = json.loads(subprocess.run([str(out / "hi-1.5-linux-x86_64")], env={**env, "BUNDLER_STUB": "info"},
                                     capture_output=True, text=True, timeout=600).stdout)
    assert info["app"] == {"name": "hi", "version": "1.5"}


@pytest.mark.slow
def test_a_failed_build_writes_nothing(lock, build_cache, tmp_path):
    out = tmp_path / "dist"
    spec = _spec(lock, out, build_cache, entry=("hi=hi.cli:nope",), format=("dir", "onefile"))
    with pytest.raises(ConfigError, match=r"entry point hi=hi\.cli:nope: .*nope"):
        pipeline.build(spec)
    assert not out.exists()  # the build created it: gone again, no staging directory left in it
    out.mkdir()
    (out / "keep.txt").write_text("mine\n")
    with pytest.raises(ConfigError):
        pipeline.build(spec)
    assert os.listdir(out) == ["keep.txt"]  # an existing directory stays, as it was


def _staged(root: Path, dists: dict[str, str]) -> StagedRuntime:
    site = root / "lib/python3.11/site-packages"
    for dist, scripts in dists.items():
        info = site / f"{dist}.dist-info"
        info.mkdir(parents=True)
        if scripts:
            (info / "entry_points.txt").write_text(f"[console_scripts]\n{scripts}\n")
    return StagedRuntime(root=root, python="bin/python3.11", stdlib="lib/python3.11",
                         dynload="lib/python3.11/lib-dynload", sitepackages="lib/python3.11/site-packages",
                         origins=(), build_prefixes=())


def test_which_distributions_are_the_app(lock, tmp_path):
    staged = _staged(tmp_path / "rt", {"httpie-3.2.4": "http = httpie.__main__:main", "numpy-2.1.0": "f2py = numpy.f2py:main",
                                       "my_project-0.3": ""})
    def spec(name, *entries):
        return _spec(lock, tmp_path / "out", tmp_path / "cache", name=name, entry=entries, format=("dir",))
    # a local project in the lock is the app
    assert pipeline.app_distributions(spec("x", "http"), [DirectoryRef("My.Project", tmp_path)], staged) == {"my-project"}
    # else the distribution of the console script the output is named after (by script or distribution)
    assert pipeline.app_distributions(spec("http", "http"), [], staged) == {"httpie"}
    assert pipeline.app_distributions(spec("httpie", "http"), [], staged) == {"httpie"}
    # a console script of another package leaves that package a dependency
    assert pipeline.app_distributions(spec("myapp", "f2py"), [], staged) == set()


def test_where_the_version_comes_from(lock, tmp_path):
    staged = _staged(tmp_path / "rt", {"httpie-3.2.4": "", "other-1.0": "", "third-2.0": ""})
    report = Recorder()

    def version(apps, **cli):
        spec = _spec(lock, tmp_path / "out", tmp_path / "cache", entry=("http",), format=("dir",), **cli)
        return pipeline._version_for(spec, staged, apps, report)

    assert version({"httpie"}, version="9.9") == "9.9"  # --version wins
    assert version({"httpie"}) == "3.2.4"
    assert report.stages == []
    assert version({"other", "third"}) == "0"  # no single version to take
    assert report.stages == [("version", "0: no --version and no single app version to take it from; pass --version")]


def test_an_origin_in_the_build_cache_is_named_from_the_cache_root(tmp_path):
    from bundler.pipeline import origin_text

    cache = tmp_path / "cache"
    assert origin_text(f"{cache}/bases/0123abcd/tree/lib/libz.dylib", cache) == \
        "$BUNDLER_BUILD_CACHE/bases/0123abcd/tree/lib/libz.dylib"
    assert origin_text("/usr/lib/x86_64-linux-gnu/libz.so.1", cache) == "/usr/lib/x86_64-linux-gnu/libz.so.1"
    assert origin_text(f"{cache}-other/libz.so", cache) == f"{cache}-other/libz.so"  # a sibling is not inside
