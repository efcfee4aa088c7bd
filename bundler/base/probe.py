"""Probe a base CPython: version, ABI, layout and build-time paths.

The probe runs the interpreter itself (the host can run linux-x86_64 CPython),
with a self-contained script that needs nothing outside the standard library.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from bundler.base.model import BaseInterpreter, TclTk, check_version
from bundler.errors import InterpreterError
from bundler.platforms import LINUX, os_of_system

_PROBE = r"""
import json, os, platform, site, ssl, sys, sysconfig
cv = sysconfig.get_config_var
paths = sysconfig.get_paths()
try:
    vp = ssl.get_default_verify_paths()
    cafile, capath = vp.openssl_cafile, vp.openssl_capath
except Exception:
    cafile = capath = None

def tcltk():
    # Tcl/Tk script libraries (init.tcl, tk.tcl, ...) that _tkinter needs at run time.
    # Tk cannot be loaded without a display, so its library is looked up the way Tk's
    # own tcl_findLibrary does: next to Tcl's library, then on Tcl's auto_path.
    try:
        import _tkinter, tkinter
        tcl = tkinter.Tcl()
        library = os.path.realpath(tcl.eval("info library"))
        tcl_version = tcl.eval("info tclversion")
        if not os.path.isfile(os.path.join(library, "init.tcl")):
            return None
        tk_version = str(_tkinter.TK_VERSION)
        dirs = [os.path.dirname(library)] + [str(d) for d in tcl.splitlist(tcl.eval("set auto_path"))]
        tk_library = None
        for d in dirs:
            cand = os.path.join(d, "tk" + tk_version)
            if os.path.isfile(os.path.join(cand, "tk.tcl")):
                tk_library = os.path.realpath(cand)
                break
        # Tcl's own modules (msgcat, http, ...): the module path entries inside its
        # library (Debian: tcl8.6/tcl8) or in the upstream layout's <lib>/tcl8/8.x
        own = (library + os.sep, os.path.join(os.path.dirname(library), "tcl" + tcl_version.split(".")[0]) + os.sep)
        modules = []
        for d in tcl.splitlist(tcl.eval("::tcl::tm::path list")):
            d = os.path.realpath(str(d))
            if os.path.isdir(d) and d.startswith(own) and d not in modules:
                modules.append(d)
        return {
            "tcl_library": library,
            "tcl_version": tcl_version,
            "tcl_patchlevel": tcl.eval("info patchlevel"),
            "tcl_modules": sorted(modules),
            "tk_library": tk_library,
            "tk_version": tk_version,
        }
    except Exception:  # no tkinter, no Tcl library: the runtime simply has no Tk
        return None

print(json.dumps({
    "implementation": sys.implementation.name,
    "version": list(sys.version_info[:3]),
    "full_version": platform.python_version(),
    "abiflags": getattr(sys, "abiflags", ""),
    "gil_disabled": bool(cv("Py_GIL_DISABLED")),
    "executable": os.path.realpath(sys.executable),
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "exec_prefix": sys.exec_prefix,
    "stdlib": paths["stdlib"],
    "platstdlib": paths["platstdlib"],
    "dynload": cv("DESTSHARED") or "",
    "libdir": cv("LIBDIR") or "",
    "ldlibrary": cv("LDLIBRARY") or "",
    "instsoname": cv("INSTSONAME") or "",
    "shared": bool(cv("Py_ENABLE_SHARED")),
    "multiarch": cv("MULTIARCH") or "",
    "ext_suffix": cv("EXT_SUFFIX") or "",
    "sitepackages": site.getsitepackages(),
    "machine": platform.machine(),
    "system": platform.system(),
    "libc": list(platform.libc_ver()),
    "markers": {
        "implementation_name": sys.implementation.name,
        "implementation_version": "{0.major}.{0.minor}.{0.micro}".format(sys.implementation.version),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    },
    "openssl_cafile": cafile,
    "openssl_capath": capath,
    "tcltk": tcltk(),
}))
"""


def find_python(spec: str | None) -> Path:
    """Resolve ``--python`` (a path or a command on PATH); default: the running interpreter."""
    import sys

    if spec is None:
        return Path(sys.executable)
    candidate = Path(spec).expanduser()
    if candidate.is_dir():
        for name in ("bin/python3", "bin/python"):
            if (candidate / name).exists():
                return candidate / name
        raise InterpreterError(
            f"--python {spec}: directory has no bin/python3; pass the interpreter executable itself"
        )
    if candidate.exists():
        return candidate
    found = shutil.which(spec)
    if found:
        return Path(found)
    raise InterpreterError(
        f"--python {spec}: no such file or command; pass the path of a CPython 3.9+ executable"
    )


def probe(python: Path) -> BaseInterpreter:
    """Run *python* and describe it; refuse anything but CPython 3.9+ on Linux."""
    if not os.access(python, os.X_OK):
        raise InterpreterError(f"--python {python}: not executable; pass a CPython 3.9+ executable")
    try:
        proc = subprocess.run(
            [str(python), "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
        )
    except OSError as exc:
        raise InterpreterError(f"--python {python}: cannot run it ({exc.strerror}); pass a CPython 3.9+ executable") from exc
    except subprocess.TimeoutExpired as exc:
        raise InterpreterError(f"--python {python}: did not answer within 60 s; is it a Python interpreter?") from exc
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError) as exc:
        raise InterpreterError(
            f"--python {python}: not a working Python 3.9+ interpreter (probe failed: "
            f"{(proc.stderr.strip().splitlines() or ['no output'])[-1]})"
        ) from exc
    if data["implementation"] != "cpython":
        raise InterpreterError(
            f"--python {python}: is {data['implementation']}, not CPython; bundler relocates CPython only"
        )
    major, minor, micro = (int(n) for n in data["version"][:3])
    version = (major, minor, micro)
    check_version(python, version, data["full_version"])
    if os_of_system(data["system"]) is not LINUX:
        raise InterpreterError(f"--python {python}: runs on {data['system']}; only Linux hosts are supported so far")
    libc = data["libc"]
    return BaseInterpreter(
        executable=Path(data["executable"]),
        version=version,
        full_version=data["full_version"],
        abiflags=data["abiflags"],
        gil_disabled=data["gil_disabled"],
        prefix=Path(data["base_prefix"]),
        stdlib=Path(data["stdlib"]),
        platstdlib=Path(data["platstdlib"]),
        dynload=Path(data["dynload"]) if data["dynload"] else Path(data["platstdlib"]) / "lib-dynload",
        libdir=Path(data["libdir"]),
        ldlibrary=data["ldlibrary"],
        shared=data["shared"],
        multiarch=data["multiarch"],
        ext_suffix=data["ext_suffix"],
        sitepackages=tuple(data["sitepackages"]),
        machine=data["machine"],
        system=data["system"],
        glibc=libc[1] if libc[0] == "glibc" else "",
        markers=tuple(sorted(data["markers"].items())),
        openssl_cafile=data["openssl_cafile"],
        openssl_capath=data["openssl_capath"],
        tcltk=_tcltk(data.get("tcltk")),
    )


def _tcltk(data: dict | None) -> TclTk | None:
    if not data:
        return None
    return TclTk(
        tcl_library=Path(data["tcl_library"]),
        tcl_version=data["tcl_version"],
        tcl_patchlevel=data["tcl_patchlevel"],
        tcl_modules=tuple(Path(m) for m in data["tcl_modules"]),
        tk_library=Path(data["tk_library"]) if data["tk_library"] else None,
        tk_version=data["tk_version"],
    )
