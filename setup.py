"""Build hook: the wheel carries a prebuilt stub for every target (bundler/_stubs/).

Everything else is declared in pyproject.toml. The stubs are compiled from
stubs/ (Zig sources and libzstd's decoder, both in the sdist) by
bundler/output/stubbuild.py with the pinned Zig, a build requirement; nothing is
fetched. The module is loaded by its path: bundler's runtime dependencies
are not installed in the build environment.
"""

import importlib.util
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _stubbuild():
    spec = importlib.util.spec_from_file_location("_bundler_stubbuild", HERE / "bundler" / "output" / "stubbuild.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


class BuildPyWithStubs(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install uses `make stubs` (bundler/_stubs in the checkout)
            return
        stubbuild = _stubbuild()
        out = Path(self.build_lib) / "bundler" / "_stubs"
        try:
            stubbuild.build_all(HERE / "stubs", out, log=lambda line: print(line, flush=True))
        except stubbuild.StubBuildError as exc:
            sys.exit(f"error: {exc}")


setup(cmdclass={"build_py": BuildPyWithStubs})
