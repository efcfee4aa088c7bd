"""Which test directories of a dependency wheel are left out (bundler.runtime.testdirs), on real wheels."""

from __future__ import annotations

import zipfile

import pytest
from support.wheelfactory import make_wheel

from bundler.deps.wheelpaths import installed_path
from bundler.runtime.testdirs import (
    SuitesLeftOut,
    imported_modules,
    mentions_tests,
    plan_wheel,
    suite_dir,
)


@pytest.mark.parametrize("member, expected", [
    ("pkg/tests/test_a.py", "pkg/tests"),
    ("pkg/sub/test/data/x.bin", "pkg/sub/test"),
    ("tests/__init__.py", "tests"),  # a stray top-level test package
    ("pkg.data/purelib/pkg/tests/t.py", "pkg/tests"),
    ("pkg/testing/__init__.py", None),
    ("pkg/tests.py", None),  # a module, not a directory
    ("pkg/_testutils/tests_helper.py", None),
    ("pkg-1.0.dist-info/tests/x", None),
    ("pkg-1.0.data/scripts/tests/run", None),
    ("pkg-1.0.data/data/share/tests/x", None),
])
def test_suite_dir(member, expected):
    assert suite_dir(member) == expected


def test_installed_path():
    assert installed_path("pkg-1.0.data/platlib/pkg/_x.so") == "pkg/_x.so"
    assert installed_path("pkg-1.0.dist-info/METADATA") is None


@pytest.mark.parametrize("source, expected", [
    (b"from .tests.runner import TestRunner\n", True),
    (b"    from scipy.special.tests import data\n", True),
    (b"import pkg.test.helpers as h\n", True),
    (b"from . import tests\n", True),
    (b"import pytest\nfrom numpy.testing import assert_equal\n", False),
    (b"from .tests_helper import x\n", False),
    (b"x = 'tests'\n", False),
])
def test_mentions_tests(source, expected):
    assert mentions_tests(source) is expected


def test_imported_modules_resolves_relative_imports():
    found = imported_modules("pkg/sub/__init__.py", b"from . import tests\nfrom ..other.tests import x\nimport a.b\n")
    assert {"pkg.sub.tests", "pkg.other.tests.x", "a.b"} <= found
    assert imported_modules("pkg/mod.py", b"from .test import y\n") >= {"pkg.test", "pkg.test.y"}
    assert imported_modules("pkg/bad.py", b"print 'python 2'\n") is None


def _plan(tmp_path, files):
    wheel = make_wheel(tmp_path, "pkg", "1.0", files=files)
    with zipfile.ZipFile(wheel) as zf:
        return plan_wheel(zf)


def test_plan_leaves_out_unimported_tests(tmp_path):
    plan = _plan(tmp_path, {
        "pkg/__init__.py": "from .core import f\n",
        "pkg/core.py": "def f(): return 1\n",
        "pkg/tests/__init__.py": "",
        "pkg/tests/test_core.py": "from pkg.core import f\n" * 100,
        "pkg/sub/test/data.bin": b"\0" * 1000,
    })
    assert plan.dirs == {"pkg/tests", "pkg/sub/test"}
    assert plan.files == 3
    assert plan.size == 2300 + 1000
    assert plan.kept == frozenset()
    assert plan.leaves_out("pkg/tests/test_core.py") and not plan.leaves_out("pkg/core.py")


def test_plan_keeps_the_tests_the_package_imports(tmp_path):
    # astropy's pattern: the package's __init__ imports its test runner
    plan = _plan(tmp_path, {
        "pkg/__init__.py": "from .tests.runner import TestRunner\ntest = TestRunner()\n",
        "pkg/tests/runner.py": "class TestRunner: pass\n",
        "pkg/other/tests/test_x.py": "",
    })
    assert plan.kept == {"pkg/tests"}
    assert plan.dirs == {"pkg/other/tests"}


def test_plan_keeps_everything_when_a_mentioning_file_does_not_parse(tmp_path):
    plan = _plan(tmp_path, {
        "pkg/__init__.py": "from .tests import x\nprint 'py2'\n",
        "pkg/tests/x.py": "",
    })
    assert plan.dirs == frozenset() and plan.kept == {"pkg/tests"}


def test_total(tmp_path):
    one = _plan(tmp_path / "a", {"pkg/__init__.py": "", "pkg/tests/t.py": "x = 1\n"})
    two = _plan(tmp_path / "b", {"pkg/__init__.py": "from . import tests\n", "pkg/tests/t.py": ""})
    total = SuitesLeftOut.total([one, two])
    assert (total.dirs, total.files, total.size, total.kept) == (1, 1, 6, ("pkg/tests",))
    assert SuitesLeftOut.total([]) == SuitesLeftOut()
