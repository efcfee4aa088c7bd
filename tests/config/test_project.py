"""projectmeta: a local project's name, version and scripts, read statically from its files."""

from __future__ import annotations

from bundler.config.project import read_project


def test_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "My_App"\nversion = "1.2"\n[project.scripts]\nb = "m:b"\na = "m:a"\n'
        '[project.gui-scripts]\ng = "m:g"\n[tool.bundler]\nentry = ["a"]\n')
    meta = read_project(tmp_path)
    assert (meta.name, meta.canonical_name, meta.version) == ("My_App", "my-app", "1.2")
    assert meta.scripts == ("a=m:a", "b=m:b") and meta.gui_scripts == ("g=m:g",) and meta.has_bundler_table


def test_dynamic_version_is_unknown(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndynamic = ["version"]\n')
    assert read_project(tmp_path).version is None


def test_setup_cfg_then_setup_py(tmp_path):
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = from-cfg\nversion = file: VERSION\n")
    (tmp_path / "setup.py").write_text("from setuptools import setup\nsetup(name='from-py', version='9')\n")
    meta = read_project(tmp_path)
    assert (meta.name, meta.version, meta.source.name) == ("from-cfg", None, "setup.cfg")
    (tmp_path / "setup.cfg").unlink()
    meta = read_project(tmp_path)
    assert (meta.name, meta.version, meta.source.name) == ("from-py", "9", "setup.py")


def test_setup_py_with_computed_values(tmp_path):
    (tmp_path / "setup.py").write_text(
        "import setuptools\nNAME = 'x'\nsetuptools.setup(name=NAME, version=open('V').read(),\n"
        "    entry_points={'console_scripts': 'tool = x.cli:main\\nother=x:o'})\n")
    meta = read_project(tmp_path)
    assert meta.name is None and meta.version is None  # not literals: unknown, never guessed
    assert meta.scripts == ("other=x:o", "tool=x.cli:main")


def test_nothing_there(tmp_path):
    meta = read_project(tmp_path)
    assert meta.source is None and meta.name is None
