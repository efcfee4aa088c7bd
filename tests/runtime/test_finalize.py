"""Build-machine paths in _sysconfigdata follow the runtime's location at run time."""

from __future__ import annotations

import subprocess
import sys

from bundler.runtime.finalize import sysconfigdata_source

ORIGINAL = """# system configuration generated and used by the sysconfig module
build_time_vars = {'prefix': '/root/.pyenv/versions/3.11.7',
 'LIBDIR': '/root/.pyenv/versions/3.11.7/lib',
 'CONFIG_ARGS': "'--prefix=/root/.pyenv/versions/3.11.7' '--enable-shared'",
 'LDFLAGS': '-L/root/.pyenv/versions/3.11.7/lib -Wl,-rpath,/root/.pyenv/versions/3.11.7/lib',
 'OTHER': '/root/.pyenv/versions/3.11.70/lib',
 'NESTED': '/x/root/.pyenv/versions/3.11.7/lib',
 'CPPFLAGS': '-I. -I/root/.pyenv/versions/3.11.7/include',
 'SIZEOF_INT': 4}
"""


def test_prefix_becomes_base_prefix_at_run_time(tmp_path):
    src = sysconfigdata_source(ORIGINAL, ("/root/.pyenv/versions/3.11.7",))
    assert "/root/.pyenv/versions/3.11.7'" not in src
    mod = tmp_path / "_sysconfigdata_test.py"
    mod.write_text(src)
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import _sysconfigdata_test as m; print(repr(m.build_time_vars))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    data = eval(out)
    base = sys.base_prefix
    assert data["prefix"] == base
    assert data["LIBDIR"] == f"{base}/lib"
    assert data["CONFIG_ARGS"] == f"'--prefix={base}' '--enable-shared'"
    assert data["LDFLAGS"] == f"-L{base}/lib -Wl,-rpath,{base}/lib"
    assert data["OTHER"] == "/root/.pyenv/versions/3.11.70/lib"  # only whole path components
    assert data["NESTED"] == "/x/root/.pyenv/versions/3.11.7/lib"
    assert data["CPPFLAGS"] == f"-I. -I{base}/include"
    assert data["SIZEOF_INT"] == 4
