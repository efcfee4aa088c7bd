"""``[tool.bundler]`` in the app's pyproject.toml, overridden by CLI flags → :class:`BundleSpec`.

Every key has a CLI flag of the same name (``output-dir`` ↔ ``--output-dir``).
Paths in pyproject.toml are relative to the project directory; paths given on
the command line are relative to the current directory.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bundler.config.project import read_project
from bundler.errors import ConfigError
from bundler.platforms import TARGET_NAMES

FORMATS = ("onefile", "dir", "archive", "app")
#: the values of ``stdlib``: the whole standard library, or what the bundled code imports
STDLIB_MODES = ("all", "imported")
#: a macOS bundle identifier: reverse DNS of letters, digits and '-'
_BUNDLE_ID = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
#: zstd level: 9 compresses within a few percent of 12 in half the time, and 15x faster than 19
#: (docs/benchmarks.md, "Compression levels")
DEFAULT_LEVEL = 9
#: PyPI's simple index: the default of ``index-url``
PYPI_SIMPLE = "https://pypi.org/simple"
_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\s*=\s*(?P<value>[\w.]+\s*:\s*[\w.]+))?$")

#: key -> (type, description); the README's table is this one.
KEYS: dict[str, tuple[type, str]] = {
    "name": (str, "artifact name (default: [project].name, else the first entry point)"),
    "version": (str, "version in output names (default: [project].version, else the app's own package; letters, digits, . _ - + !)"),
    "lock": (str, "pylock.toml or hashed requirements.txt (default: pylock.toml in the project)"),
    "entry": (list, 'entry points: "NAME" (a console script of a locked package) or "NAME=module:function"'),
    "python": (str, "base CPython: an executable, a prefix directory or a python-build-standalone / "
                    "Windows embeddable archive (default: the interpreter running bundler)"),
    "target": (list, f"targets to build: {', '.join(TARGET_NAMES)} "
                     "(default: the base interpreter's)"),
    "targets": (dict, "per-target settings: [tool.bundler.targets.<target>] python = \"...\""),
    "format": (list, 'outputs: "onefile", "dir", "archive", "app" (a macOS .app bundle and its .app.zip; macos '
                     'targets only) (default: ["onefile"])'),
    "output-dir": (str, "where outputs go (default: <project>/dist, else ./dist)"),
    "find-links": (list, "directories searched for wheels before any download"),
    "lib-path": (list, "directories searched for libraries that binaries need and the target's loader would not find "
                       "(after the loader's own search; like delvewheel's --add-path)"),
    "exclude-lib": (list, "libraries (soname or DLL globs, e.g. \"libtbb.so.*\") left unresolved on purpose: for an "
                          "optional native dependency that no wheel ships and the package runs without"),
    "offline": (bool, "never use the network; missing files are an error"),
    "gui": (bool, "a GUI app: keeps tkinter with Tcl/Tk, pruned otherwise (default: on when an entry point is a "
                  "GUI script or the app imports tkinter, else off)"),
    "keep-tests": (bool, "ship the dependencies' own tests/ and test/ directories (default: false: left out "
                         "unless the package's own code imports them)"),
    "stdlib-sources": (bool, "keep the standard library's sources in lib/pythonXY.zip beside its byte code, for "
                             "tracebacks with source lines (default: false: byte code only)"),
    "stdlib": (str, 'which standard library the runtime carries: "all" (default: any module importable later) or '
                    '"imported" (only what the bundled code imports, followed through the standard library: a '
                    'smaller file; a module named only at run time needs include-module)'),
    "include-module": (list, 'standard library modules (top-level names, e.g. "sqlite3") kept with stdlib = '
                             '"imported" though no bundled code imports them by name'),
    "rebuild-stub": (bool, "compile the single file's stub (and a Windows runtime directory's entry launchers) from "
                           "bundler's stubs/ sources with Zig instead of using the prebuilt ones (needs a checkout or "
                           "the sdist and the [stubs] extra; default: false)"),
    "index-url": (str, f"package index for hashed requirements (default: {PYPI_SIMPLE})"),
    "cache-dir": (str, "build cache (default: $BUNDLER_BUILD_CACHE, $XDG_CACHE_HOME/bundler-build, ~/.cache/bundler-build)"),
    "sign": (str, "PKCS#12 (.pfx) certificate and key to sign the Windows single file with (Authenticode, by "
                  "osslsigncode; its password in $BUNDLER_SIGN_PASSWORD; windows targets only)"),
    "bundle-id": (str, "the app bundle's CFBundleIdentifier, reverse DNS (default: local.<name>; set your own "
                       "before shipping)"),
    "sign-identity": (str, "sign the app bundle with a real identity, hardened runtime and entitlements: a PKCS#12 "
                           "(.p12) file, by rcodesign on any host (the [macos-sign] extra; password in "
                           "$BUNDLER_SIGN_PASSWORD), or a keychain identity name, by Apple's codesign on a Mac "
                           "(default: signed ad hoc)"),
    "entitlements": (str, "entitlements property list for --sign-identity (default: allow-unsigned-executable-memory "
                          "and disable-library-validation, what ctypes and loaded libraries need)"),
    "report": (bool, "write <name>-<version>-<target>.report.html beside the outputs: a page of what the runtime "
                     "holds, what it costs and where it came from (default: false)"),
    "compression-level": (int, "zstd level for onefile and archive outputs, 1-22 (default: 9; 19 is ~13% smaller and ~20x slower to build)"),
}


@dataclass(frozen=True)
class BundleSpec:
    project_dir: Path | None
    name: str
    version: str | None
    lock: Path
    entries: tuple[tuple[str, str | None], ...]
    python: str | None
    formats: tuple[str, ...]
    output_dir: Path
    find_links: tuple[Path, ...]
    offline: bool
    index_url: str
    cache_dir: Path
    compression_level: int
    gui: bool = False
    #: build-machine directories searched for libraries after the loader's own search
    lib_path: tuple[Path, ...] = ()
    #: targets asked for (empty: the one the base interpreter is for)
    targets: tuple[str, ...] = ()
    #: (target, base CPython) for targets that have their own
    pythons: tuple[tuple[str, str], ...] = ()
    #: compile the stub from source instead of using the packaged one
    rebuild_stub: bool = False
    #: ship the dependencies' test directories (testdirs)
    keep_tests: bool = False
    #: gui was given (flag or key, true or false): the pipeline does not turn it on by itself
    gui_set: bool = False
    #: soname/DLL globs left unresolved on purpose (--exclude-lib)
    exclude_libs: tuple[str, ...] = ()
    #: PKCS#12 file the Windows single file is signed with (--sign)
    sign: Path | None = None
    #: write the build report beside the outputs (--report)
    report: bool = False
    #: the app bundle's CFBundleIdentifier (--bundle-id; None: local.<name>)
    bundle_id: str | None = None
    #: a PKCS#12 file or keychain identity the app bundle is signed with (--sign-identity; None: ad hoc)
    sign_identity: str | None = None
    #: entitlements for --sign-identity (None: bundler's defaults)
    entitlements: Path | None = None
    #: keep the standard library's sources in its zip (--stdlib-sources)
    stdlib_sources: bool = False
    #: "all" or "imported" (--stdlib): the whole standard library, or what the bundled code imports
    stdlib: str = "all"
    #: standard library modules kept with stdlib = "imported" though nothing imports them by name
    include_modules: tuple[str, ...] = ()


#: a version as it may appear in a file name (PEP 440 plus what other schemes use; no path separators)
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]*$")


def parse_entry(text: str) -> tuple[str, str | None]:
    m = _ENTRY.match(text.strip())
    if not m:
        raise ConfigError(f"entry point {text!r}: expected NAME or NAME=module:function")
    value = m.group("value")
    return m.group("name"), (re.sub(r"\s+", "", value) if value else None)


#: the environment variable naming the build cache (BUNDLER_CACHE_DIR is where artifacts unpack: not this)
BUILD_CACHE_ENV = "BUNDLER_BUILD_CACHE"


def default_cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """The build cache: $BUNDLER_BUILD_CACHE, else <XDG cache>/bundler-build.

    Never the directory single files unpack into (``BUNDLER_CACHE_DIR``,
    ``<XDG cache>/bundler``): a test run of an artifact must not land in the
    build cache, nor an app named like a build-cache folder collide with it.
    """
    if env.get(BUILD_CACHE_ENV):
        return Path(env[BUILD_CACHE_ENV])
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "bundler-build"
    return Path.home() / ".cache" / "bundler-build"


def read_pyproject(project_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """([project] table, [tool.bundler] table) of *project_dir*/pyproject.toml."""
    path = project_dir / "pyproject.toml"
    if not path.is_file():
        return {}, {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file") from exc
    tool = data.get("tool", {}).get("bundler", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: [tool.bundler] must be a table")
    for key, value in list(tool.items()):
        if key not in KEYS:
            raise ConfigError(f"{path}: unknown key [tool.bundler] {key}; known keys: {', '.join(KEYS)}")
        typ = KEYS[key][0]
        if typ is list and isinstance(value, str):  # format = "onefile" means ["onefile"]
            tool[key] = value = [value]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: [tool.bundler] {key} must be a {typ.__name__}")
        if typ is list and not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{path}: [tool.bundler] {key} must be a list of strings")
    for target, table in tool.get("targets", {}).items():
        if target not in TARGET_NAMES:
            raise ConfigError(f"{path}: [tool.bundler.targets.{target}]: unknown target; known: {', '.join(TARGET_NAMES)}")
        if not isinstance(table, dict) or set(table) - {"python"} or not isinstance(table.get("python", ""), str):
            raise ConfigError(f"{path}: [tool.bundler.targets.{target}] takes one key, python = \"PATH\"")
    return data.get("project", {}) or {}, tool


def _is_project_here(cwd: Path, cli: Mapping[str, Any]) -> bool:
    """Whether a build given no PROJECT_DIR builds the project in *cwd*: its pyproject.toml has a
    [tool.bundler] table, or there is a pyproject.toml and no --lock (a published app's lock named
    with --lock and --entry is not the project of whatever directory it is built from)."""
    path = cwd / "pyproject.toml"
    if not path.is_file():
        return False
    if not cli.get("lock"):
        return True
    try:
        return "bundler" in tomllib.loads(path.read_text()).get("tool", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return True  # read_pyproject reports the broken file


def resolve(project_dir: Path | None, cli: Mapping[str, Any], cwd: Path | None = None) -> BundleSpec:
    """Merge pyproject config and CLI flags (CLI wins; empty/None flags do not count)."""
    cwd = cwd or Path.cwd()
    if project_dir is None and _is_project_here(cwd, cli):
        project_dir = cwd  # `cd my-project && bundler build`
    if project_dir is not None and not project_dir.is_dir():
        raise ConfigError(f"project directory {project_dir}: does not exist")
    project, tool = read_pyproject(project_dir) if project_dir else ({}, {})
    if project_dir and not project.get("name"):  # a setup.py / setup.cfg project: its literal metadata
        meta = read_project(project_dir)
        project = {"name": meta.name, "version": meta.version} if meta.name else project
    base = project_dir or cwd

    def pick(key: str) -> tuple[Any, Path]:
        value = cli.get(key)
        if value not in (None, (), []):
            return value, cwd
        return tool.get(key), base

    lock_value, lock_base = pick("lock")
    if lock_value is None:
        for candidate in ("pylock.toml", "requirements.txt"):
            if project_dir and (project_dir / candidate).is_file():
                lock_value, lock_base = candidate, project_dir
                break
    if lock_value is None:
        where = f"in {project_dir}" if project_dir else "(no project directory given)"
        raise ConfigError(f"no lock file {where}; pass --lock pylock.toml or a hashed requirements.txt")
    lock = (lock_base / lock_value).resolve()

    entry_values, _ = pick("entry")
    entries = tuple(parse_entry(e) for e in (entry_values or ()))
    names = [n for n, _ in entries]
    if len(set(names)) != len(names):
        raise ConfigError(f"entry points named twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")

    formats_value, _ = pick("format")
    formats = tuple(dict.fromkeys(formats_value or ("onefile",)))
    for f in formats:
        if f not in FORMATS:
            raise ConfigError(f"format {f!r}: choose from {', '.join(FORMATS)}")
    if not entries and "onefile" in formats:
        raise ConfigError(
            "no entry point for the single file; pass --entry NAME (a console script) or --entry NAME=module:function, "
            "or set [tool.bundler] entry (a dir or archive runtime may have none)"
        )
    if not entries and "app" in formats:
        raise ConfigError("no entry point for the app bundle to start; pass --entry NAME (a console script) or "
                          "--entry NAME=module:function, or set [tool.bundler] entry")

    name_value, _ = pick("name")
    name = name_value or project.get("name") or (entries[0][0] if entries else None)
    if not name:
        raise ConfigError("no name for the output; pass --name NAME (there is no project and no entry point to name it after)")
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
        raise ConfigError(f"name {name!r}: use letters, digits, '.', '_' and '-' only")
    version_value, _ = pick("version")
    version = version_value or project.get("version")
    if version is not None and (not isinstance(version, str) or not _VERSION.match(version)):
        raise ConfigError(f"version {version!r}: use letters, digits and '.', '_', '-', '+', '!' only "
                          "(it is part of output file names)")

    out_value, out_base = pick("output-dir")
    output_dir = (out_base / out_value) if out_value else base / "dist"

    fl_value, fl_base = pick("find-links")
    find_links = tuple((fl_base / p).resolve() for p in (fl_value or ()))
    for d in find_links:
        if not d.is_dir():
            raise ConfigError(f"--find-links {d}: not a directory")

    def base_path(value: str, where: Path) -> str:
        value = os.path.expanduser(value)
        return str(where / value) if "/" in value and not os.path.isabs(value) else value

    target_values, _ = pick("target")
    targets = tuple(dict.fromkeys(target_values or ()))
    for t in targets:
        if t not in TARGET_NAMES:
            raise ConfigError(f"target {t!r}: choose from {', '.join(TARGET_NAMES)}")
    pythons: dict[str, str] = {
        t: base_path(table["python"], base) for t, table in tool.get("targets", {}).items() if table.get("python")
    }
    lp_value, lp_base = pick("lib-path")
    lib_path = tuple((lp_base / p).resolve() for p in (lp_value or ()))
    for d in lib_path:
        if not d.is_dir():
            raise ConfigError(f"--lib-path {d}: not a directory")
    python_value = None
    cli_pythons = cli.get("python") or ()
    if isinstance(cli_pythons, str):
        cli_pythons = (cli_pythons,)
    for value in cli_pythons:
        t, sep, rest = value.partition("=")
        if sep and t in TARGET_NAMES:
            pythons[t] = base_path(rest, cwd)
        elif sep and "/" not in t and re.fullmatch(r"[a-z]+-[a-z0-9_]+", t):
            raise ConfigError(f"--python {value}: unknown target {t!r}; choose from {', '.join(TARGET_NAMES)}")
        elif python_value is not None:
            raise ConfigError("--python given twice without a target; use --python TARGET=PATH for each target")
        else:
            python_value = base_path(value, cwd)
    named = [v.partition("=")[0] for v in cli_pythons if v.partition("=")[0] in TARGET_NAMES]
    if named and not targets:
        raise ConfigError(
            f"--python {named[0]}=PATH: no --target asked for {named[0]}; add --target {named[0]} "
            "(and --target for every other platform to build)"
        )
    if python_value is None and tool.get("python"):
        python_value = base_path(tool["python"], base)

    level_value, _ = pick("compression-level")
    level = DEFAULT_LEVEL if level_value is None else int(level_value)
    if not 1 <= level <= 22:
        raise ConfigError(f"compression-level {level}: choose 1 to 22")
    cache_value, cache_base = pick("cache-dir")
    offline_value, _ = pick("offline")
    gui_value, _ = pick("gui")
    rebuild_value, _ = pick("rebuild-stub")
    keep_tests_value, _ = pick("keep-tests")
    stdlib_sources_value, _ = pick("stdlib-sources")
    report_value, _ = pick("report")
    stdlib_value, _ = pick("stdlib")
    stdlib = stdlib_value or "all"
    if stdlib not in STDLIB_MODES:
        raise ConfigError(f"stdlib {stdlib!r}: choose {' or '.join(STDLIB_MODES)}")
    include_value, _ = pick("include-module")
    include_modules = tuple(dict.fromkeys(include_value or ()))
    for m in include_modules:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", m):
            raise ConfigError(f"include-module {m!r}: name a module, e.g. sqlite3 or xml.dom")
    if include_modules and stdlib != "imported":
        raise ConfigError(f"include-module {include_modules[0]}: applies to stdlib = \"imported\" only (the whole "
                          "standard library is kept otherwise); add --stdlib imported or drop it")
    exclude_value, _ = pick("exclude-lib")
    index_value, _ = pick("index-url")
    sign_value, sign_base = pick("sign")
    sign = (sign_base / os.path.expanduser(sign_value)).resolve() if sign_value else None
    if sign is not None and not sign.is_file():
        raise ConfigError(f"--sign {sign}: no such file; pass the PKCS#12 (.pfx) file holding the signing certificate and key")
    if sign is not None and "onefile" not in formats:
        raise ConfigError(f"--sign {sign}: only the single file is signed; add --format onefile or drop --sign")
    bundle_id, _ = pick("bundle-id")
    if bundle_id is not None and not _BUNDLE_ID.match(str(bundle_id)):
        raise ConfigError(f"bundle-id {bundle_id!r}: use reverse DNS of letters, digits and '-' (e.g. org.example.app)")
    identity_value, identity_base = pick("sign-identity")
    identity = str(identity_value) if identity_value else None
    if identity is not None and identity.lower().endswith((".p12", ".pfx")):
        identity = str((identity_base / os.path.expanduser(identity)).resolve())
        if not Path(identity).is_file():
            raise ConfigError(f"--sign-identity {identity}: no such file; pass the PKCS#12 (.p12) file holding the "
                              "Developer ID certificate and key, or a keychain identity name")
    ent_value, ent_base = pick("entitlements")
    entitlements = (ent_base / os.path.expanduser(ent_value)).resolve() if ent_value else None
    if entitlements is not None and not entitlements.is_file():
        raise ConfigError(f"--entitlements {entitlements}: no such file; pass a property list of entitlements")
    if (identity is not None or entitlements is not None or bundle_id is not None) and "app" not in formats:
        flag = "--sign-identity" if identity else "--entitlements" if entitlements else "--bundle-id"
        raise ConfigError(f"{flag}: applies to the app bundle only; add --format app or drop {flag}")
    if entitlements is not None and identity is None:
        raise ConfigError(f"--entitlements {entitlements}: an ad-hoc signature carries no entitlements; add "
                          "--sign-identity or drop --entitlements")
    return BundleSpec(
        project_dir=project_dir.resolve() if project_dir else None,
        name=name,
        version=version,
        lock=lock,
        entries=entries,
        python=python_value,
        formats=formats,
        output_dir=output_dir.resolve(),
        find_links=find_links,
        offline=bool(offline_value),
        index_url=index_value or PYPI_SIMPLE,
        cache_dir=(cache_base / cache_value).resolve() if cache_value else default_cache_dir(),
        compression_level=level,
        gui=bool(gui_value),
        lib_path=lib_path,
        targets=targets,
        pythons=tuple(sorted(pythons.items())),
        bundle_id=str(bundle_id) if bundle_id is not None else None,
        sign_identity=identity,
        entitlements=entitlements,
        rebuild_stub=bool(rebuild_value),
        keep_tests=bool(keep_tests_value),
        stdlib_sources=bool(stdlib_sources_value),
        stdlib=stdlib,
        include_modules=include_modules,
        report=bool(report_value),
        gui_set=gui_value is not None,
        exclude_libs=tuple(dict.fromkeys(exclude_value or ())),
        sign=sign,
    )
