"""Describe a base CPython from its files: bases for targets the build machine cannot run.

Accepted for ``--python``:

- a python-build-standalone archive (``install_only``, ``install_only_stripped``
  or the full archive; ``PYTHON.json`` is read when present) or its unpacked
  ``python/`` directory;
- the Windows embeddable zip, or an unpacked Windows installation (``python.exe``
  with ``pythonXY.dll``);
- a POSIX prefix, e.g. Debian's arm64 packages unpacked into a directory
  (``<root>/usr/bin/python3.11``): the directory above ``usr`` is then the
  target's system image, where relocation finds the libraries the base needs.

Nothing here runs the base: version, platform, ABI and layout come from its
metadata (``PYTHON.json``, ``_sysconfigdata_*.py``, file names, executable
headers), so the target environment is the base's, never the host's.
"""

from __future__ import annotations

import ast
import json
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from bundler.base.archives import is_archive, unpack
from bundler.base.model import BaseInterpreter, check_version
from bundler.errors import BundlerError, InterpreterError
from bundler.platforms import LINUX, OSES, WINDOWS, Os


@dataclass(frozen=True)
class ExecutableKind:
    """What an executable's header says: the OS family it is for and its CPU."""

    os: Os
    machine: str  # platform.machine() of the target: x86_64, aarch64, arm64, AMD64, ARM64

    @property
    def system(self) -> str:
        """platform.system() of the target: Linux, Darwin, Windows."""
        return self.os.system


def _format(name: str):
    from bundler.binfmt.elf import ElfFormat
    from bundler.binfmt.macho.format import MachOFormat
    from bundler.binfmt.pe import PeFormat

    return {"elf": ElfFormat, "pe": PeFormat, "macho": MachOFormat}[name]()


def executable_kind(path: Path) -> ExecutableKind | None:
    """The target of an ELF, Mach-O or PE executable, read by bundler's format modules;
    None for anything else (a script, a CPU bundler does not target)."""
    real = Path(os.path.realpath(path))
    for system in OSES:
        fmt = _format(system.binary_format)
        if not fmt.is_binary(real):
            continue
        try:
            machine = fmt.machine(real)
        except BundlerError as exc:
            raise InterpreterError(f"--python {path}: {exc}") from exc
        if "+" in machine:
            raise InterpreterError(
                f"--python {path}: is a universal (fat) Mach-O ({machine}); build from a base for one "
                "architecture (python-build-standalone publishes one per CPU), or thin it with lipo"
            )
        spelled = system.machine_of(machine)
        return ExecutableKind(system, spelled) if spelled is not None else None
    return None


def host_can_run(path: Path) -> bool:
    """True if *path* is an executable of this (Linux) host's own architecture."""
    kind = executable_kind(path)
    return kind is not None and kind.system == platform.system() and kind.machine == platform.machine()


# --- layouts ----------------------------------------------------------------------------


def _single_python_dir(root: Path) -> Path:
    """python-build-standalone archives hold everything under ``python/``."""
    if (root / "python").is_dir() and not (root / "bin").exists() and not (root / "python.exe").exists():
        return root / "python"
    return root


def _pbs_metadata(root: Path) -> dict | None:
    path = root / "PYTHON.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InterpreterError(f"--python {path}: not valid JSON ({exc})") from exc
    return data if isinstance(data, dict) else None


def _pbs_path(root: Path, rel: str | None) -> Path | None:
    """A PYTHON.json path; ``install_only`` archives hold the ``install/`` tree at the top."""
    if not rel:
        return None
    for cand in (root / rel, root / rel.removeprefix("install/")):
        if cand.exists():
            return cand
    return None


def _sysconfig_vars(stdlib: Path) -> dict:
    for path in sorted(stdlib.glob("_sysconfigdata_*.py")):
        try:
            tree = ast.parse(path.read_text())
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "build_time_vars" for t in node.targets):
                try:
                    data = ast.literal_eval(node.value)
                except ValueError:
                    continue
                if isinstance(data, dict):
                    return data
    return {}


_VERSION_IN_BINARY = re.compile(rb"\x00(3\.(\d{1,2})\.\d{1,2}(?:(?:a|b|rc)\d{1,2})?\+?)\x00")


def _full_version(files: list[Path], minor: int) -> str | None:
    """CPython's ``PY_VERSION`` string as compiled into its executable or library."""
    for f in files:
        try:
            data = f.read_bytes()
        except OSError:
            continue
        for m in _VERSION_IN_BINARY.finditer(data):
            if int(m.group(2)) == minor:
                return m.group(1).decode()
    return None


def _markers(system: Os, machine: str, full_version: str) -> tuple[tuple[str, str], ...]:
    major, minor = full_version.split(".")[:2]
    return tuple(sorted({
        "implementation_name": "cpython",
        "implementation_version": re.sub(r"[^0-9.].*$", "", full_version),
        "os_name": system.os_name,
        "platform_machine": machine,
        "platform_release": "",
        "platform_system": system.system,
        "platform_version": "",
        "python_full_version": full_version,
        "platform_python_implementation": "CPython",
        "python_version": f"{major}.{minor}",
        "sys_platform": system.sys_platform,
    }.items()))


def _version_tuple(full: str) -> tuple[int, int, int]:
    nums = [int(m.group()) if (m := re.match(r"\d+", p)) else 0 for p in full.split(".")[:3]] + [0, 0, 0]
    return nums[0], nums[1], nums[2]


# --- glibc / macOS floors ---------------------------------------------------------------


def _glibc_of_sysroot(sysroot: Path, multiarch: str) -> str | None:
    """The glibc version a system image provides: the newest GLIBC_x.y its libc.so.6 defines."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerDefSection

    for d in (f"lib/{multiarch}", f"usr/lib/{multiarch}", "lib64", "usr/lib64", "lib", "usr/lib"):
        libc = sysroot / d / "libc.so.6"
        if not libc.is_file():
            continue
        best: tuple[int, ...] = ()
        try:
            with open(libc, "rb") as f:
                for sec in ELFFile(f).iter_sections():
                    if isinstance(sec, GNUVerDefSection):
                        for verdef, aux in sec.iter_versions():
                            for a in aux:
                                m = re.match(r"^GLIBC_(\d+)\.(\d+)$", a.name)
                                if m:
                                    best = max(best, (int(m.group(1)), int(m.group(2))))
        except (ELFError, OSError):
            continue
        if best:
            return f"{best[0]}.{best[1]}"
    return None


def _glibc_needed(files: list[Path]) -> str:
    """The newest glibc symbol version *files* need, at least 2.17 (the manylinux2014 floor)."""
    from bundler.binfmt.elf import ElfFormat, glibc_floor

    fmt = ElfFormat()
    infos = [fmt.read(f) for f in files if f.is_file() and fmt.is_binary(f)]
    floor = glibc_floor(infos)
    if floor and tuple(int(x) for x in floor.split(".")) > (2, 17):
        return floor
    return "2.17"


def _macos_minimum(exe: Path) -> str:
    from bundler.binfmt.macho.parse import minimum_macos

    return minimum_macos(exe)


# --- describing ------------------------------------------------------------------------


def describe(path: Path, cache_dir: Path):
    """A :class:`~bundler.base.model.BaseInterpreter` for the CPython at *path* (archive, dir or executable)."""
    original = path
    if is_archive(path):
        path = unpack(path, cache_dir)
    if path.is_file():
        # an executable inside a prefix: <prefix>/bin/python3.x or <dir>/python.exe
        prefix = path.parent if path.name.lower().endswith(".exe") else path.parent.parent
        return _describe_dir(prefix, original, exe_hint=path)
    if not path.is_dir():
        raise InterpreterError(f"--python {original}: no such file or directory")
    root = _single_python_dir(path)
    # a system image: <root>/usr/bin/python3.x
    if not (root / "bin").is_dir() and (root / "usr" / "bin").is_dir():
        root = root / "usr"
    return _describe_dir(root, original)


def _describe_dir(root: Path, original: Path, exe_hint: Path | None = None):
    meta = _pbs_metadata(root)
    exe = exe_hint or _pbs_path(root, (meta or {}).get("python_exe"))
    if exe is None:
        for cand in [root / "python.exe", *sorted(root.glob("bin/python3.[0-9]*"), reverse=True),
                     root / "bin" / "python3", root / "bin" / "python"]:
            if cand.is_file() and not cand.name.endswith(("-config", ".py")):
                exe = cand
                break
    if exe is None:
        raise InterpreterError(
            f"--python {original}: found no CPython in it (no python.exe, no bin/python3.X, no PYTHON.json); "
            "pass a python-build-standalone archive, the Windows embeddable zip or an unpacked CPython prefix"
        )
    exe = Path(os.path.realpath(exe))
    kind = executable_kind(exe)
    if kind is None:
        raise InterpreterError(f"--python {exe}: not an executable bundler can target (ELF, Mach-O or PE for x86_64/arm64)")
    if kind.os is WINDOWS:
        return _describe_windows(root, exe, kind, meta, original)
    return _describe_posix(root, exe, kind, meta, original)


def _describe_windows(root: Path, exe: Path, kind: ExecutableKind, meta: dict | None, original: Path):
    dlls = sorted(p for p in root.glob("python3*.dll") if re.fullmatch(r"python3\d+t?\.dll", p.name.lower()))
    if not dlls:
        raise InterpreterError(f"--python {original}: has python.exe but no python3XY.dll next to it; not a CPython for Windows")
    m = re.fullmatch(r"python3(\d+)(t?)\.dll", dlls[-1].name.lower())
    if m is None:  # the glob above kept only names that match
        raise InterpreterError(f"--python {original}: cannot read the version from {dlls[-1].name}")
    minor, free = int(m.group(1)), bool(m.group(2))
    full = (meta or {}).get("python_version") or _full_version([dlls[-1]], minor) or f"3.{minor}.0"
    version = _version_tuple(full)
    check_version(original, version, full)
    zipped = root / f"python3{minor}.zip"
    stdlib = root / "Lib" if (root / "Lib" / "os.py").is_file() else zipped
    if not stdlib.exists():
        raise InterpreterError(f"--python {original}: has no standard library (no Lib/os.py, no {zipped.name})")
    dynload = root / "DLLs" if (root / "DLLs").is_dir() else root
    return BaseInterpreter(
        executable=exe,
        version=version,
        full_version=full,
        abiflags="t" if free else "",
        gil_disabled=free,
        prefix=root,
        stdlib=stdlib,
        platstdlib=stdlib,
        dynload=dynload,
        libdir=root,
        ldlibrary=dlls[-1].name,
        shared=True,
        multiarch="",
        ext_suffix=f".cp3{minor}-win_{'amd64' if kind.machine == 'AMD64' else 'arm64'}.pyd",
        sitepackages=(str(root / "Lib" / "site-packages"),),
        machine=kind.machine,
        system=kind.system,
        glibc="",
        markers=_markers(kind.os, kind.machine, full),
        openssl_cafile=None,
        openssl_capath=None,
        runnable=False,
    )


def _describe_posix(root: Path, exe: Path, kind: ExecutableKind, meta: dict | None, original: Path):
    prefix = exe.parent.parent  # <prefix>/bin/python3.X (a merged-/usr image's bin is usr/bin)
    stdlib = _pbs_path(root, (meta or {}).get("python_stdlib"))
    if stdlib is None:
        libs = sorted(p for p in (prefix / "lib").glob("python3.[0-9]*") if (p / "os.py").is_file())
        if not libs:
            raise InterpreterError(f"--python {original}: has {exe.name} but no lib/python3.X/os.py; not a CPython prefix")
        stdlib = libs[-1]
    minor = int(stdlib.name.split(".")[1].rstrip("t"))
    cv = _sysconfig_vars(stdlib)
    libdir = prefix / "lib"
    ldlibrary = str(cv.get("LDLIBRARY") or "")
    candidates = [exe] + ([libdir / ldlibrary] if ldlibrary else []) + sorted(libdir.glob(f"libpython3.{minor}*"))
    full = (meta or {}).get("python_version") or _full_version(candidates, minor) or f"3.{minor}.0"
    version = _version_tuple(full)
    check_version(original, version, full)
    multiarch = str(cv.get("MULTIARCH") or "")
    dynload = stdlib / "lib-dynload"
    sysroot = prefix.parent if prefix.name == "usr" else None
    site = [str(stdlib / "site-packages")]
    if (prefix / "lib" / "python3" / "dist-packages").is_dir() or sysroot is not None:
        site = [str(prefix / "lib" / "python3" / "dist-packages"), str(stdlib / "dist-packages")]
    glibc = macos = ""
    if kind.os is LINUX:
        crt = " ".join((meta or {}).get("crt_features") or [])
        if "musl" in crt or "musl" in str((meta or {}).get("target_triple", "")):
            glibc = ""
        elif sysroot is not None:
            glibc = _glibc_of_sysroot(sysroot, multiarch or f"{kind.machine}-linux-gnu") or _glibc_needed(candidates)
        else:
            glibc = _glibc_needed(candidates)
    else:
        macos = str((meta or {}).get("apple_sdk_deployment_target") or "") or _macos_minimum(exe)
    free = bool(cv.get("Py_GIL_DISABLED")) or stdlib.name.endswith("t")
    return BaseInterpreter(
        executable=exe,
        version=version,
        full_version=full,
        abiflags=str(cv.get("ABIFLAGS") or ("t" if free else "")),
        gil_disabled=free,
        prefix=prefix,
        stdlib=stdlib,
        platstdlib=stdlib,
        dynload=dynload,
        libdir=libdir,
        ldlibrary=ldlibrary,
        shared=bool(cv.get("Py_ENABLE_SHARED")),
        multiarch=multiarch,
        ext_suffix=str(cv.get("EXT_SUFFIX") or ""),
        sitepackages=tuple(site),
        machine=kind.machine,
        system=kind.system,
        glibc=glibc,
        markers=_markers(kind.os, kind.machine, full),
        openssl_cafile=None,
        openssl_capath=None,
        runnable=False,
        sysroot=sysroot,
        macos_minimum=macos or None,
    )
