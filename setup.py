"""Build hook: the wheel carries a prebuilt stub for every target (bundler/_stubs/).

Everything else is declared in pyproject.toml. The stubs are compiled from
stubs/ (Zig sources and libzstd's decoder, both in the sdist) by
bundler/output/stubbuild.py with the pinned Zig, a build requirement; nothing is
fetched. That module needs only the standard library and bundler/platforms.py,
so it is imported from this source tree: bundler's runtime dependencies are not
installed in the build environment.
"""

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _stubbuild():
    sys.path.insert(0, str(HERE))
    try:
        from bundler.output import stubbuild
    finally:
        sys.path.remove(str(HERE))
    return stubbuild


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
