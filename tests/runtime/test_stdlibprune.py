"""stdlib = "imported": which imports count, the closure, the vendored libraries still needed, the zip.

Sources are real Python files; the closure runs over this machine's real standard library (the
Python running the tests). The whole path through a real runtime, a clean room and the friendly
error is in tests/integration/test_lean_stdlib.py.
"""

from __future__ import annotations

import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from bundler.errors import ConfigError
from bundler.pipeline import lean_stdlib
from bundler.report import Reporter
from bundler.runtime import stdlibprune as sp
from bundler.runtime.stage import StagedRuntime


def test_imports_count_wherever_they_run_except_for_main_and_type_checking():
    source = '''
import os, xml.dom.minidom as md
from email.mime import text
from . import sibling
from .pkg import other
from typing import TYPE_CHECKING
import importlib
def later():
    import sqlite3
    importlib.import_module("json.decoder")
    __import__("csv")
    importlib.import_module(name_from_somewhere)
try:
    import lzma
except ImportError:
    lzma = None
if TYPE_CHECKING:
    import decimal
if __name__ == "__main__":
    import doctest
else:
    import bz2
'''
    found = sp.imports_in(source)
    assert sp.top_levels(found) == {"os", "xml", "email", "typing", "importlib", "sqlite3", "json", "csv",
                                    "lzma", "bz2"}
    assert {"xml.dom.minidom", "email.mime", "email.mime.text", "json.decoder"} <= found


def test_source_this_python_cannot_parse_is_read_line_by_line():
    source = "import os\nfrom json import loads\ntype Alias[T] = list[T]  # a newer Python's syntax\nmatch = ((\n"
    assert sp.top_levels(sp.imports_in(source)) == {"os", "json"}


def test_the_closure_follows_imports_and_names_who_asked():
    graph = {"a": {"b"}, "b": {"c", "outside"}, "c": {"a"}, "d": {"e"}, "_sysconfigdata_x": set()}
    plan = sp.plan_prune({"a", "b", "c", "d", "e", "_sysconfigdata_x"}, {"a": "app.py", "_sysconfigdata_*": "core"},
                         lambda n: graph.get(n, set()))
    assert plan.keep == {"a", "b", "c", "_sysconfigdata_x"}
    assert plan.drop == ("d", "e")
    assert plan.reason == {"_sysconfigdata_x": "core", "a": "app.py", "b": "a", "c": "b"}


def test_the_real_standard_library_closure_of_a_small_program(tmp_path):
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    names = {p.stem for p in stdlib.glob("*.py")} | {p.name for p in stdlib.iterdir() if (p / "__init__.py").is_file()}
    memo: dict[str, list[str]] = {}

    def imports_of(name: str) -> set[str]:
        single = stdlib / f"{name}.py"
        files = [single] if single.is_file() else sorted((stdlib / name).rglob("*.py"))
        return set().union(*(sp.file_imports(f, memo) for f in files if "test" not in f.parts))

    plan = sp.plan_prune(names, {"json": "app.py", "os": "core"}, imports_of)
    assert {"json", "os", "re", "codecs"} <= plan.keep
    assert {"sqlite3", "tkinter", "lib2to3", "turtle"}.isdisjoint(plan.keep)
    assert memo  # each file read once, by its content


def test_vendored_libraries_still_needed_follow_needed_entries():
    binaries = {
        "bin/python3.11": ("libpython3.11-aa.so.1.0", "libc.so.6"),
        "lib/bundled/libpython3.11-aa.so.1.0": ("libz-bb.so.1",),
        "lib/bundled/libz-bb.so.1": (),
        "lib/dyn/_ssl.so": ("libssl-cc.so.3",),
        "lib/bundled/libssl-cc.so.3": ("libcrypto-dd.so.3",),
        "lib/bundled/libcrypto-dd.so.3": (),
        "lib/dyn/nis.so": ("libnsl-ee.so.2",),
        "lib/bundled/libnsl-ee.so.2": ("libtirpc-ff.so.3",),
        "lib/bundled/libtirpc-ff.so.3": ("libcrypto-dd.so.3",),
    }
    vendored = [b for b in binaries if b.startswith("lib/bundled/")]
    need = sp.needed_libraries(binaries, vendored, lambda rel: rel != "lib/dyn/nis.so")
    assert need == {"lib/bundled/libpython3.11-aa.so.1.0", "lib/bundled/libz-bb.so.1", "lib/bundled/libssl-cc.so.3",
                    "lib/bundled/libcrypto-dd.so.3"}


def test_the_zip_is_written_again_with_what_is_kept_and_the_same_bytes_each_time(tmp_path):
    zpath = tmp_path / "python311.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for name in ("json/", "json/__init__.pyc", "json/decoder.pyc", "sqlite3/", "sqlite3/__init__.pyc", "os2.pyc"):
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), b"" if name.endswith("/") else name.encode())
    keep = {"json"}
    assert sp.rewrite_zip(zpath, lambda e: sp._top_of_entry(e) in keep) == (2, len(b"sqlite3/__init__.pyc") + len(b"os2.pyc"))
    first = zpath.read_bytes()
    assert zipfile.ZipFile(zpath).namelist() == ["json/", "json/__init__.pyc", "json/decoder.pyc"]
    assert not (tmp_path / "python311.zip.tmp").exists()
    sp.rewrite_zip(zpath, lambda e: True)
    assert zpath.read_bytes() == first




def test_memo_survives_garbage_and_round_trips(tmp_path):
    path = tmp_path / "imports" / "x.json"
    assert sp.load_memo(path) == {}
    path.parent.mkdir()
    path.write_text("[not a memo")
    assert sp.load_memo(path) == {}
    path.write_text('{"k": ["os"], "bad": [1], "worse": "x"}')
    assert sp.load_memo(path) == {"k": ["os"]}
    sp.save_memo(path, {"a": ["json"], "b": []})
    assert sp.load_memo(path) == {"a": ["json"], "b": []}


def test_a_windows_runtime_is_refused_before_anything_is_removed(tmp_path):
    from bundler.relocate.model import RelocationReport

    (tmp_path / "Lib").mkdir()
    staged = StagedRuntime(root=tmp_path, python="python.exe", stdlib="Lib", dynload="DLLs",
                           sitepackages="Lib/site-packages", origins=(), build_prefixes=())

    class Interp:  # what lean_stdlib reads of the base: its system and its sources
        system = "Windows"
        stdlib = Path(sys.prefix)

    class Spec:
        include_modules = ()
        cache_dir = tmp_path / "cache"

    rel = RelocationReport(binaries=0, vendored=(), rewritten=0, system=(), glibc_floor=None)
    with pytest.raises(ConfigError, match='stdlib = "imported": the Windows runtime keeps its standard library'):
        lean_stdlib(staged, Interp(), Spec(), rel, Reporter())  # type: ignore[arg-type]
    assert (tmp_path / "Lib").is_dir()


def _runtime(tmp_path: Path) -> tuple[Path, Path]:
    """A small runtime (zip, lib-dynload, vendored libraries, site-packages, CA bundle) and its base's sources."""
    root, base = tmp_path / "rt", tmp_path / "base"
    sources = {
        "json/__init__.py": "from .decoder import x\nimport re\n",
        "json/decoder.py": "import _json\n",
        "re.py": "import enum\n",
        "enum.py": "",
        "sqlite3/__init__.py": "import _sqlite3\n",
        "ssl.py": "import _ssl, socket\n",
        "socket.py": "import _socket\n",
        "nis.py": "",
        "site.py": "import os\n",
        "encodings/__init__.py": "import codecs\n",
        "codecs.py": "",
    }
    for rel, text in sources.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_text(text)
    (root / "lib/python3.11/lib-dynload").mkdir(parents=True)
    with zipfile.ZipFile(root / "lib/python311.zip", "w") as zf:
        for rel in sources:
            zf.writestr(rel[:-3] + ".pyc", b"byte code")
    (root / "lib/python3.11/os.py").write_text("")
    for mod in ("_json", "_sqlite3", "_ssl", "_socket", "nis"):
        (root / f"lib/python3.11/lib-dynload/{mod}.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    (root / "lib/bundled").mkdir()
    for lib in ("libsqlite3-aa.so.0", "libssl-bb.so.3", "libcrypto-cc.so.3", "libnsl-dd.so.2"):
        (root / "lib/bundled" / lib).write_bytes(b"\x7fELF" + lib.encode())
    (root / "etc/ssl").mkdir(parents=True)
    (root / "etc/ssl/cert.pem").write_text("certificates")
    site = root / "lib/python3.11/site-packages"
    (site / "app").mkdir(parents=True)
    (site / "app/__init__.py").write_text("import json\ndef later():\n    import importlib\n"
                                          "    return importlib.import_module('sqlite3')\n")
    return root, base


def _binaries() -> dict[str, tuple[str, ...]]:
    dyn = "lib/python3.11/lib-dynload"
    return {
        f"{dyn}/_sqlite3.cpython-311-x86_64-linux-gnu.so": ("libsqlite3-aa.so.0",),
        f"{dyn}/_ssl.cpython-311-x86_64-linux-gnu.so": ("libssl-bb.so.3", "libcrypto-cc.so.3"),
        f"{dyn}/nis.cpython-311-x86_64-linux-gnu.so": ("libnsl-dd.so.2",),
        "lib/bundled/libssl-bb.so.3": ("libcrypto-cc.so.3",),
    }


def _prune(root: Path, base: Path, includes=()):
    return sp.prune_runtime(
        root, stdlib="lib/python3.11", dynload="lib/python3.11/lib-dynload", zip_path="lib/python311.zip",
        sitepackages="lib/python3.11/site-packages", base_stdlib=base, includes=includes, binaries=_binaries(),
        vendored=[f"lib/bundled/{p}" for p in ("libsqlite3-aa.so.0", "libssl-bb.so.3", "libcrypto-cc.so.3",
                                               "libnsl-dd.so.2")],
    )


def test_pruning_a_runtime_takes_modules_extensions_libraries_and_their_data_together(tmp_path):
    root, base = _runtime(tmp_path)
    plan, pruned = _prune(root, base)
    assert pruned.modules == ("_socket", "_ssl", "nis", "socket", "ssl") and plan.drop == pruned.modules
    assert plan.reason["sqlite3"] == "lib/python3.11/site-packages/app/__init__.py"
    assert plan.reason["_json"] == "json" and plan.reason["enum"] == "re"
    names = zipfile.ZipFile(root / "lib/python311.zip").namelist()
    assert "ssl.pyc" not in names and "nis.pyc" not in names and "json/decoder.pyc" in names
    dyn = sorted(p.name.split(".")[0] for p in (root / "lib/python3.11/lib-dynload").iterdir())
    assert dyn == ["_json", "_sqlite3"]
    assert sorted(p.name for p in (root / "lib/bundled").iterdir()) == ["libsqlite3-aa.so.0"]
    assert pruned.libraries == ("lib/bundled/libcrypto-cc.so.3", "lib/bundled/libnsl-dd.so.2",
                                "lib/bundled/libssl-bb.so.3")
    assert not (root / "etc/ssl").exists()  # the CA bundle goes with the last module that reads it
    assert (root / "lib/python3.11/site-packages" / sp.LEFT_OUT_LIST).read_text() == "_socket\n_ssl\nnis\nsocket\nssl\n"
    assert pruned.binaries == tuple(sorted(f"lib/python3.11/lib-dynload/{m}.cpython-311-x86_64-linux-gnu.so"
                                           for m in ("_socket", "_ssl", "nis")))


def test_include_module_keeps_what_nothing_names(tmp_path):
    root, base = _runtime(tmp_path)
    plan, pruned = _prune(root, base, includes=["ssl"])
    assert pruned.modules == ("nis",) and plan.reason["ssl"] == "include-module" and plan.reason["_socket"] == "socket"
    assert (root / "etc/ssl/cert.pem").is_file()
    assert sorted(p.name for p in (root / "lib/bundled").iterdir()) == ["libcrypto-cc.so.3", "libsqlite3-aa.so.0",
                                                                        "libssl-bb.so.3"]


def test_a_base_without_sources_is_refused_before_anything_is_removed(tmp_path):
    root, base = _runtime(tmp_path)
    (base / "json/decoder.py").unlink()
    before = (root / "lib/python311.zip").read_bytes()
    with pytest.raises(ConfigError, match=r'has no sources for json/decoder.py, so their imports cannot be read; '
                                          r'build with stdlib = "all"'):
        _prune(root, base)
    assert (root / "lib/python311.zip").read_bytes() == before
    assert len(list((root / "lib/bundled").iterdir())) == 4


def test_include_module_must_name_a_module_of_the_standard_library(tmp_path):
    root, base = _runtime(tmp_path)
    inv = sp.inventory(root, "lib/python3.11", "lib/python3.11/lib-dynload", "lib/python311.zip")
    for name in ("json", "json.decoder", "_sqlite3", "encodings"):
        assert sp.has_module(root, inv, "lib/python3.11", name), name
    for name in ("json.nothere", "requests", "decoder", "sqlite3.dbapi2"):
        assert not sp.has_module(root, inv, "lib/python3.11", name), name
    with pytest.raises(ConfigError, match="include-module: json.nothere, requests is not a module of this base's "
                                          "standard library that could be left out"):
        _prune(root, base, includes=["json", "json.nothere", "requests"])
    assert len(list((root / "lib/bundled").iterdir())) == 4  # refused before anything was removed


def test_data_stays_when_a_module_that_reads_it_is_built_in(tmp_path):
    root, base = _runtime(tmp_path)
    for so in (root / "lib/python3.11/lib-dynload").glob("_ssl.*"):
        so.unlink()  # _ssl compiled into libpython, as some builds have it: never in the inventory
    (root / "lib/python3.11/site-packages/app/__init__.py").write_text("import json\n")
    plan, _pruned = _prune(root, base)
    assert "ssl" in plan.drop and "_ssl" not in plan.drop
    assert (root / "etc/ssl/cert.pem").is_file()
