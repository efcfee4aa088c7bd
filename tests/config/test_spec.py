"""bundler.config: [tool.bundler] in pyproject.toml, overridden by CLI flags, into a BundleSpec."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundler.config.spec import (
    DEFAULT_LEVEL,
    KEYS,
    default_cache_dir,
    parse_entry,
    read_pyproject,
    resolve,
)
from bundler.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_cache_env(monkeypatch, tmp_path):
    monkeypatch.delenv("BUNDLER_CACHE_DIR", raising=False)
    monkeypatch.delenv("BUNDLER_BUILD_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def project(tmp_path: Path, tool: str = "", *, proj: str = '[project]\nname = "app"\nversion = "1.2.3"\n',
            lock: str | None = "pylock.toml", name: str = "proj") -> Path:
    """A project dir under tmp_path with a pyproject.toml (and by default an empty pylock.toml)."""
    d = tmp_path / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "pyproject.toml").write_text(proj + ("\n[tool.bundler]\n" + tool if tool else ""))
    if lock:
        (d / lock).write_text("")
    return d


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    d = tmp_path / "cwd"
    d.mkdir()
    return d


# --- reading [tool.bundler] -----------------------------------------------------------------


def test_every_key_read_from_pyproject(tmp_path, cwd):
    (tmp_path / "proj" / "wheels").mkdir(parents=True)
    d = project(tmp_path, '''
name = "myapp"
version = "9.9"
lock = "locks/pylock.toml"
entry = ["hello", "other = pkg.mod:main"]
python = "/opt/python/bin/python3"
format = ["archive", "dir"]
output-dir = "out"
find-links = ["wheels"]
offline = true
index-url = "https://example.org/simple"
cache-dir = "cache"
compression-level = 7
''')
    spec = resolve(d, {}, cwd=cwd)
    assert spec.project_dir == d.resolve()
    assert spec.name == "myapp"
    assert spec.version == "9.9"
    assert spec.lock == d / "locks" / "pylock.toml"
    assert spec.entries == (("hello", None), ("other", "pkg.mod:main"))
    assert spec.python == "/opt/python/bin/python3"
    assert spec.formats == ("archive", "dir")
    assert spec.output_dir == d / "out"
    assert spec.find_links == (d / "wheels",)
    assert spec.offline is True
    assert spec.index_url == "https://example.org/simple"
    assert spec.cache_dir == d / "cache"
    assert spec.compression_level == 7


def test_defaults(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["hello"]\n')
    spec = resolve(d, {}, cwd=cwd)
    assert spec.name == "app"  # [project].name
    assert spec.version == "1.2.3"  # [project].version
    assert spec.lock == d / "pylock.toml"
    assert spec.python is None
    assert spec.formats == ("onefile",)
    assert spec.output_dir == d / "dist"
    assert spec.find_links == ()
    assert spec.offline is False
    assert spec.index_url == "https://pypi.org/simple"
    assert spec.cache_dir == tmp_path / "home" / ".cache" / "bundler-build"
    assert spec.compression_level == 9 == DEFAULT_LEVEL


def test_without_project_dir(tmp_path, cwd):
    (cwd / "pylock.toml").write_text("")
    spec = resolve(None, {"lock": "pylock.toml", "entry": ("tool",)}, cwd=cwd)
    assert spec.project_dir is None
    assert spec.name == "tool"  # the first entry point
    assert spec.version is None
    assert spec.lock == cwd / "pylock.toml"
    assert spec.output_dir == cwd / "dist"


def test_pyproject_without_tool_table_or_file(tmp_path):
    d = project(tmp_path)
    assert read_pyproject(d) == ({"name": "app", "version": "1.2.3"}, {})
    empty = tmp_path / "empty"
    empty.mkdir()
    assert read_pyproject(empty) == ({}, {})


def test_name_falls_back_to_first_entry(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["first", "second"]\n', proj="")
    spec = resolve(d, {}, cwd=cwd)
    assert spec.name == "first"
    assert spec.version is None


# --- CLI overrides --------------------------------------------------------------------------


def test_cli_overrides_every_key(tmp_path, cwd):
    (cwd / "other.toml").write_text("")
    (cwd / "cliwheels").mkdir()
    d = project(tmp_path, '''
name = "fromconfig"
version = "1"
entry = ["config-entry"]
python = "/config/python3"
format = ["dir"]
output-dir = "out"
find-links = []
offline = false
index-url = "https://config.example/simple"
cache-dir = "cache"
compression-level = 3
''')
    cli = {
        "name": "fromcli",
        "version": "2",
        "lock": "other.toml",
        "entry": ("cli-entry=m:f",),
        "python": "/cli/python3",
        "format": ("archive",),
        "output-dir": "cliout",
        "find-links": ("cliwheels",),
        "offline": True,
        "index-url": "https://cli.example/simple",
        "cache-dir": "clicache",
        "compression-level": 22,
    }
    spec = resolve(d, cli, cwd=cwd)
    assert spec.name == "fromcli"
    assert spec.version == "2"
    assert spec.lock == cwd / "other.toml"
    assert spec.entries == (("cli-entry", "m:f"),)
    assert spec.python == "/cli/python3"
    assert spec.formats == ("archive",)
    assert spec.output_dir == cwd / "cliout"
    assert spec.find_links == (cwd / "cliwheels",)
    assert spec.offline is True
    assert spec.index_url == "https://cli.example/simple"
    assert spec.cache_dir == cwd / "clicache"
    assert spec.compression_level == 22


def test_unset_cli_flags_do_not_override(tmp_path, cwd):
    """What click passes for flags that were not given (None, empty tuples) keeps the config."""
    d = project(tmp_path, 'entry = ["hello"]\nformat = ["archive"]\noffline = true\ncompression-level = 5\n')
    cli = {"lock": None, "entry": (), "python": None, "name": None, "version": None, "format": (),
           "output-dir": None, "find-links": (), "offline": None, "index-url": None, "cache-dir": None,
           "compression-level": None}
    spec = resolve(d, cli, cwd=cwd)
    assert spec.entries == (("hello", None),)
    assert spec.formats == ("archive",)
    assert spec.offline is True
    assert spec.compression_level == 5


def test_cli_entries_replace_config_entries(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["a", "b"]\n')
    assert resolve(d, {"entry": ("c",)}, cwd=cwd).entries == (("c", None),)


# --- relative paths -------------------------------------------------------------------------


def test_relative_paths_in_config_are_project_relative(tmp_path, cwd, monkeypatch):
    monkeypatch.chdir(cwd)
    (tmp_path / "proj" / "fl").mkdir(parents=True)
    d = project(tmp_path, '''
entry = ["x"]
lock = "sub/pylock.toml"
output-dir = "../elsewhere/out"
find-links = ["fl"]
cache-dir = "c"
python = "venv/bin/python3"
''')
    spec = resolve(d, {}, cwd=cwd)
    assert spec.lock == d / "sub" / "pylock.toml"
    assert spec.output_dir == tmp_path / "elsewhere" / "out"
    assert spec.find_links == (d / "fl",)
    assert spec.cache_dir == d / "c"
    assert Path(spec.python) == d / "venv" / "bin" / "python3"


def test_relative_paths_on_cli_are_cwd_relative(tmp_path, cwd, monkeypatch):
    monkeypatch.chdir(cwd)
    (cwd / "fl").mkdir()
    d = project(tmp_path, 'entry = ["x"]\n')
    cli = {"lock": "sub/pylock.toml", "output-dir": "out", "find-links": ("fl",), "cache-dir": "c",
           "python": "venv/bin/python3"}
    spec = resolve(d, cli, cwd=cwd)
    assert spec.lock == cwd / "sub" / "pylock.toml"
    assert spec.output_dir == cwd / "out"
    assert spec.find_links == (cwd / "fl",)
    assert spec.cache_dir == cwd / "c"
    assert Path(spec.python) == cwd / "venv" / "bin" / "python3"


def test_python_command_name_and_absolute_path_are_kept(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["x"]\npython = "python3.12"\n')
    assert resolve(d, {}, cwd=cwd).python == "python3.12"  # looked up on PATH later
    assert resolve(d, {"python": "/usr/bin/python3"}, cwd=cwd).python == "/usr/bin/python3"


def test_absolute_paths_are_kept(tmp_path, cwd):
    lock = tmp_path / "abs" / "pylock.toml"
    d = project(tmp_path, f'entry = ["x"]\nlock = "{lock}"\noutput-dir = "{tmp_path / "absout"}"\n')
    spec = resolve(d, {}, cwd=cwd)
    assert spec.lock == lock
    assert spec.output_dir == tmp_path / "absout"


def test_relative_project_dir(tmp_path, monkeypatch):
    d = project(tmp_path, 'entry = ["x"]\n')
    monkeypatch.chdir(tmp_path)
    spec = resolve(Path("proj"), {})
    assert spec.project_dir == d
    assert spec.lock == d / "pylock.toml"
    assert spec.output_dir == d / "dist"


# --- errors ---------------------------------------------------------------------------------


def test_unknown_key_is_named(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["x"]\nouptut-dir = "typo"\n')
    with pytest.raises(ConfigError, match="ouptut-dir") as info:
        resolve(d, {}, cwd=cwd)
    assert str(d / "pyproject.toml") in str(info.value)
    assert info.value.exit_code == 3


@pytest.mark.parametrize(
    "line, key",
    [
        ('offline = "yes"', "offline"),
        ("offline = 1", "offline"),
        ('compression-level = "19"', "compression-level"),
        ("compression-level = true", "compression-level"),
        ("compression-level = 3.5", "compression-level"),
        ("name = 3", "name"),
        ('lock = ["a", "b"]', "lock"),
        ("python = true", "python"),
        ("output-dir = 1", "output-dir"),
        ("cache-dir = {}", "cache-dir"),
        ("index-url = []", "index-url"),
        ("version = 1.0", "version"),
    ],
)
def test_wrong_type(tmp_path, cwd, line, key):
    d = project(tmp_path, line + "\n")
    with pytest.raises(ConfigError, match=rf"\[tool\.bundler\] {key} must be a") as info:
        resolve(d, {"entry": ("x",)}, cwd=cwd)
    assert str(d / "pyproject.toml") in str(info.value)


@pytest.mark.parametrize(
    "lines, key",
    [
        ("entry = [1]", "entry"),
        ('entry = ["x", {name = "y"}]', "entry"),
        ('entry = ["x"]\nformat = [["dir"]]', "format"),
        ('entry = ["x"]\nfind-links = [true]', "find-links"),
    ],
)
def test_wrong_list_item_type(tmp_path, cwd, lines, key):
    d = project(tmp_path, lines + "\n")
    with pytest.raises(ConfigError, match=rf"\[tool\.bundler\] {key} must be a list of strings") as info:
        resolve(d, {}, cwd=cwd)
    assert str(d / "pyproject.toml") in str(info.value)


def test_tool_bundler_not_a_table(tmp_path, cwd):
    d = tmp_path / "proj"
    d.mkdir()
    (d / "pyproject.toml").write_text('[tool]\nbundler = "yes"\n')
    (d / "pylock.toml").write_text("")
    with pytest.raises(ConfigError, match=r"\[tool\.bundler\] must be a table"):
        resolve(d, {"entry": ("x",)}, cwd=cwd)


def test_invalid_pyproject_toml(tmp_path, cwd):
    d = tmp_path / "proj"
    d.mkdir()
    (d / "pyproject.toml").write_text("[tool.bundler\nentry = \n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        resolve(d, {"entry": ("x",)}, cwd=cwd)
    assert str(d / "pyproject.toml") in str(info.value)


def test_project_dir_does_not_exist(tmp_path, cwd):
    with pytest.raises(ConfigError, match="nosuch"):
        resolve(tmp_path / "nosuch", {"entry": ("x",)}, cwd=cwd)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("hello", ("hello", None)),
        ("hello=pkg.cli:main", ("hello", "pkg.cli:main")),
        ("  hello = pkg.cli : main ", ("hello", "pkg.cli:main")),
        ("my-tool.v2=a_b.c:d.e", ("my-tool.v2", "a_b.c:d.e")),
    ],
)
def test_parse_entry(text, expected):
    assert parse_entry(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "=m:f", "-x", "two words", "x=", "x=mod", "x=:f", "x=mod:", "x=mod:f:g", "x=mod-name:f", "x:y", "x=m:f extra"],
)
def test_bad_entry_syntax(text):
    with pytest.raises(ConfigError, match="expected NAME or NAME=module:function") as info:
        parse_entry(text)
    assert repr(text) in str(info.value)


def test_bad_entry_in_config(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["ok", "not ok=m:f"]\n')
    with pytest.raises(ConfigError, match="not ok=m:f"):
        resolve(d, {}, cwd=cwd)


def test_no_entry(tmp_path, cwd):
    d = project(tmp_path)
    with pytest.raises(ConfigError, match="no entry point"):
        resolve(d, {}, cwd=cwd)
    d2 = project(tmp_path, "entry = []\n", name="proj2")
    with pytest.raises(ConfigError, match="no entry point"):
        resolve(d2, {}, cwd=cwd)


@pytest.mark.parametrize("entries", [("a", "a"), ("a", "b", "a=m:f"), ("a=m:f", "a=n:g")])
def test_duplicate_entry_names(tmp_path, cwd, entries):
    d = project(tmp_path)
    with pytest.raises(ConfigError, match="named twice: a$"):
        resolve(d, {"entry": entries}, cwd=cwd)


def test_duplicate_entry_names_in_config_lists_each_once(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["b", "a", "b=m:f", "a", "c"]\n')
    with pytest.raises(ConfigError, match="named twice: a, b$"):
        resolve(d, {}, cwd=cwd)


@pytest.mark.parametrize("source", ["cli", "config"])
def test_bad_format(tmp_path, cwd, source):
    if source == "cli":
        d = project(tmp_path, 'entry = ["x"]\n')
        cli = {"format": ("dir", "zip")}
    else:
        d = project(tmp_path, 'entry = ["x"]\nformat = ["zip"]\n')
        cli = {}
    with pytest.raises(ConfigError, match="format .zip.: choose from onefile, dir, archive"):
        resolve(d, cli, cwd=cwd)


def test_formats_deduplicated_in_order(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["x"]\nformat = ["archive", "dir", "archive"]\n')
    assert resolve(d, {}, cwd=cwd).formats == ("archive", "dir")


@pytest.mark.parametrize("level", [1, 19, 22])
def test_compression_level_in_range(tmp_path, cwd, level):
    d = project(tmp_path, f'entry = ["x"]\ncompression-level = {level}\n')
    assert resolve(d, {}, cwd=cwd).compression_level == level
    assert resolve(d, {"compression-level": level}, cwd=cwd).compression_level == level


@pytest.mark.parametrize("level", [0, -1, 23, 100])
def test_compression_level_out_of_range(tmp_path, cwd, level):
    d = project(tmp_path, 'entry = ["x"]\n')
    with pytest.raises(ConfigError, match=rf"compression-level {level}: choose 1 to 22"):
        resolve(d, {"compression-level": level}, cwd=cwd)
    d2 = project(tmp_path, f'entry = ["x"]\ncompression-level = {level}\n', name="proj2")
    with pytest.raises(ConfigError, match=rf"compression-level {level}"):
        resolve(d2, {}, cwd=cwd)


@pytest.mark.parametrize("name", ["bad name", "-x", "a/b", "ünïcode"])
def test_bad_name(tmp_path, cwd, name):
    d = project(tmp_path, 'entry = ["x"]\n')
    with pytest.raises(ConfigError, match="name"):
        resolve(d, {"name": name}, cwd=cwd)


def test_find_links_must_be_a_directory(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["x"]\nfind-links = ["missing"]\n')
    with pytest.raises(ConfigError, match="missing: not a directory"):
        resolve(d, {}, cwd=cwd)


# --- lock discovery -------------------------------------------------------------------------


def test_lock_discovery_prefers_pylock(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["x"]\n')
    (d / "requirements.txt").write_text("")
    assert resolve(d, {}, cwd=cwd).lock == d / "pylock.toml"


def test_lock_discovery_falls_back_to_requirements(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["x"]\n', lock="requirements.txt")
    assert resolve(d, {}, cwd=cwd).lock == d / "requirements.txt"


def test_lock_discovery_ignores_other_pylock_names(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["x"]\n', lock="pylock.dev.toml")
    with pytest.raises(ConfigError, match="no lock file in"):
        resolve(d, {}, cwd=cwd)


def test_no_lock_file_in_project(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["x"]\n', lock=None)
    with pytest.raises(ConfigError, match="no lock file in") as info:
        resolve(d, {}, cwd=cwd)
    assert str(d) in str(info.value)


def test_no_lock_without_project_dir_is_not_searched_in_cwd(cwd):
    (cwd / "pylock.toml").write_text("")
    with pytest.raises(ConfigError, match=r"no lock file \(no project directory given\)"):
        resolve(None, {"entry": ("x",)}, cwd=cwd)


def test_explicit_lock_wins_over_discovery(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["x"]\nlock = "locks/custom.txt"\n')
    assert resolve(d, {}, cwd=cwd).lock == d / "locks" / "custom.txt"


# --- default cache dir ----------------------------------------------------------------------


def test_default_cache_dir_order(tmp_path):
    home = Path.home()
    assert default_cache_dir({}) == home / ".cache" / "bundler-build"
    assert default_cache_dir({"XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/bundler-build")
    assert default_cache_dir({"BUNDLER_BUILD_CACHE": "/b", "XDG_CACHE_HOME": "/xdg"}) == Path("/b")
    assert default_cache_dir({"BUNDLER_BUILD_CACHE": "", "XDG_CACHE_HOME": ""}) == home / ".cache" / "bundler-build"
    # where single files unpack is not the build cache
    assert default_cache_dir({"BUNDLER_CACHE_DIR": "/unpack"}) == home / ".cache" / "bundler-build"


def test_default_cache_dir_from_environment(tmp_path, cwd, monkeypatch):
    d = project(tmp_path, 'entry = ["x"]\n')
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve(d, {}, cwd=cwd).cache_dir == tmp_path / "xdg" / "bundler-build"
    monkeypatch.setenv("BUNDLER_CACHE_DIR", str(tmp_path / "unpack"))
    assert resolve(d, {}, cwd=cwd).cache_dir == tmp_path / "xdg" / "bundler-build"
    monkeypatch.setenv("BUNDLER_BUILD_CACHE", str(tmp_path / "bcd"))
    assert resolve(d, {}, cwd=cwd).cache_dir == tmp_path / "bcd"
    # an explicit setting beats the environment
    assert resolve(d, {"cache-dir": "mine"}, cwd=cwd).cache_dir == cwd / "mine"
    d2 = project(tmp_path, 'entry = ["x"]\ncache-dir = "cfg"\n', name="proj2")
    assert resolve(d2, {}, cwd=cwd).cache_dir == d2 / "cfg"


def test_every_key_has_a_description():
    assert set(KEYS) == {"name", "version", "lock", "entry", "python", "format", "output-dir", "find-links",
                         "offline", "gui", "index-url", "cache-dir", "compression-level", "target", "targets", "lib-path",
                         "rebuild-stub", "keep-tests", "exclude-lib", "sign", "report", "bundle-id", "sign-identity",
                         "entitlements", "stdlib-sources", "stdlib", "include-module"}
    assert all(desc for _typ, desc in KEYS.values())


def test_stdlib_mode_and_included_modules(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["x"]\nstdlib = "imported"\ninclude-module = ["sqlite3", "xml.dom", "sqlite3"]\n')
    spec = resolve(d, {}, cwd=cwd)
    assert (spec.stdlib, spec.include_modules) == ("imported", ("sqlite3", "xml.dom"))
    plain = project(tmp_path, 'entry = ["x"]\n', name="plain")
    assert resolve(plain, {}, cwd=cwd).stdlib == "all"
    assert resolve(plain, {"stdlib": "imported", "include-module": ("csv",)}, cwd=cwd).include_modules == ("csv",)
    with pytest.raises(ConfigError, match="stdlib 'some': choose all or imported"):
        resolve(plain, {"stdlib": "some"}, cwd=cwd)
    with pytest.raises(ConfigError, match="include-module 'xml/dom': name a module"):
        resolve(plain, {"stdlib": "imported", "include-module": ("xml/dom",)}, cwd=cwd)
    with pytest.raises(ConfigError, match=r'include-module csv: applies to stdlib = "imported" only'):
        resolve(plain, {"include-module": ("csv",)}, cwd=cwd)


def test_report_from_the_key_or_the_flag(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["x"]\nreport = true\n')
    assert resolve(d, {}, cwd=cwd).report is True
    plain = project(tmp_path, 'entry = ["x"]\n', name="plain")
    assert resolve(plain, {}, cwd=cwd).report is False
    assert resolve(plain, {"report": True}, cwd=cwd).report is True
    with pytest.raises(ConfigError, match="report must be a bool"):
        resolve(project(tmp_path, 'entry = ["x"]\nreport = "yes"\n', name="bad"), {}, cwd=cwd)


def test_runtime_without_entry_points_for_dir_and_archive(tmp_path, cwd):
    """A pure "Python + packages" runtime (air-gapped use) needs no entry point, but a name."""
    lock = cwd / "pylock.toml"
    lock.write_text("")
    spec = resolve(None, {"lock": "pylock.toml", "format": ("archive",), "name": "rt"}, cwd=cwd)
    assert spec.entries == () and spec.name == "rt"
    with pytest.raises(ConfigError, match="no name for the output; pass --name"):
        resolve(None, {"lock": "pylock.toml", "format": ("dir",)}, cwd=cwd)
    with pytest.raises(ConfigError, match="no entry point for the single file"):
        resolve(None, {"lock": "pylock.toml", "format": ("dir", "onefile"), "name": "rt"}, cwd=cwd)


def test_rebuild_stub_from_key_or_flag(tmp_path, cwd):
    assert resolve(project(tmp_path, 'entry = ["x"]\n'), {}, cwd=cwd).rebuild_stub is False
    d = project(tmp_path, 'entry = ["x"]\nrebuild-stub = true\n', name="p2")
    assert resolve(d, {}, cwd=cwd).rebuild_stub is True
    assert resolve(project(tmp_path, 'entry = ["x"]\n', name="p3"), {"rebuild-stub": True}, cwd=cwd).rebuild_stub is True


def test_keep_tests_from_key_or_flag(tmp_path, cwd):
    assert resolve(project(tmp_path, 'entry = ["x"]\n'), {}, cwd=cwd).keep_tests is False
    d = project(tmp_path, 'entry = ["x"]\nkeep-tests = true\n', name="p2")
    assert resolve(d, {}, cwd=cwd).keep_tests is True
    assert resolve(project(tmp_path, 'entry = ["x"]\n', name="p3"), {"keep-tests": True}, cwd=cwd).keep_tests is True


def test_a_string_is_a_one_item_list(tmp_path, cwd):
    d = project(tmp_path, 'entry = "hello"\nformat = "dir"\n')
    spec = resolve(d, {}, cwd=cwd)
    assert spec.entries == (("hello", None),) and spec.formats == ("dir",)


def test_current_directory_is_the_project(tmp_path):
    d = project(tmp_path, 'entry = ["x"]\n')
    (d / "pylock.toml").write_text("")
    spec = resolve(None, {}, cwd=d)
    assert spec.project_dir == d.resolve() and spec.lock == (d / "pylock.toml").resolve()
    assert spec.output_dir == (d / "dist").resolve()


def test_a_published_apps_lock_is_not_the_current_projects(tmp_path):
    """--lock and --entry from inside some project without [tool.bundler]: that project is not used."""
    here = project(tmp_path, "", name="other")
    (tmp_path / "app.lock").write_text("")
    spec = resolve(None, {"lock": str(tmp_path / "app.lock"), "entry": ("httpie",)}, cwd=here)
    assert spec.project_dir is None and spec.name == "httpie"


# --- sign ----------------------------------------------------------------------------------


def test_sign_is_a_project_relative_key_and_a_cwd_relative_flag(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["hello"]\nsign = "keys/app.pfx"\n')
    (d / "keys").mkdir()
    (d / "keys/app.pfx").write_bytes(b"pfx")
    (cwd / "other.pfx").write_bytes(b"pfx")
    assert resolve(d, {}, cwd=cwd).sign == d / "keys/app.pfx"
    assert resolve(d, {"sign": "other.pfx"}, cwd=cwd).sign == cwd / "other.pfx"
    assert resolve(project(tmp_path, 'entry = ["hello"]\n', name="plain"), {}, cwd=cwd).sign is None


def test_sign_needs_the_file_and_a_single_file(tmp_path, cwd):
    d = project(tmp_path, 'entry = ["hello"]\n')
    with pytest.raises(ConfigError, match=r"--sign .*missing.pfx: no such file; pass the PKCS#12"):
        resolve(d, {"sign": "missing.pfx"}, cwd=cwd)
    (cwd / "app.pfx").write_bytes(b"pfx")
    with pytest.raises(ConfigError, match="only the single file is signed; add --format onefile"):
        resolve(d, {"sign": "app.pfx", "format": ("dir",)}, cwd=cwd)
