"""Make the relocated runtime's own view of itself location-independent.

- ``_sysconfigdata_*.py``: build-machine prefixes become ``sys.base_prefix``, read at run time.
- CA certificates and terminfo: a start-up hook picks the host's, else bundled copies.
- Byte-compile everything with unchecked-hash pycs (extraction changes mtimes).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from bundler.base.model import BaseInterpreter
from bundler.errors import RelocationError
from bundler.platforms import WINDOWS
from bundler.runtime.stage import StagedRuntime
from bundler.runtime.stdlibzip import zip_name

PLACEHOLDER = "@BUNDLER_PREFIX@"
#: terminfo entries bundled for hosts that have none (a bare container, say).
TERMINFO_ENTRIES = (
    "ansi", "dumb", "linux", "vt100", "vt102", "vt220", "xterm", "xterm-color", "xterm-256color",
    "screen", "screen-256color", "tmux", "tmux-256color", "rxvt", "rxvt-unicode", "rxvt-unicode-256color",
)
TERMINFO_SOURCES = ("/usr/share/terminfo", "/lib/terminfo", "/etc/terminfo")


def _prefix_pattern(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    alts = "|".join(re.escape(p.rstrip("/")) for p in sorted(prefixes, key=len, reverse=True) if p.rstrip("/"))
    # A whole path: at the start, after a separator or quote, or right after -L/-I/-R.
    return re.compile(rf"(?:(?<![^\s'\"=:,(])|(?<=-[LIR]))(?:{alts})(?=/|$|[\s'\";:=,)])")


def sysconfigdata_source(original: str, prefixes: tuple[str, ...]) -> str:
    """A ``_sysconfigdata`` module whose paths follow ``sys.base_prefix`` at run time."""
    tree = ast.parse(original)
    data = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "build_time_vars" for t in node.targets
        ):
            data = ast.literal_eval(node.value)
    if not isinstance(data, dict):
        raise RelocationError("_sysconfigdata has no build_time_vars dict; this CPython build is not supported")
    pattern = _prefix_pattern(prefixes)
    rewritten = {
        k: pattern.sub(PLACEHOLDER, v) if isinstance(v, str) else v for k, v in sorted(data.items())
    }
    lines = [
        "# Rewritten by bundler: paths of the build machine follow sys.base_prefix at run time.",
        "import sys as _sys",
        "",
        "def _p(v, _b=_sys.base_prefix):",
        f"    return v.replace({PLACEHOLDER!r}, _b) if isinstance(v, str) else v",
        "",
        "build_time_vars = {k: _p(v) for k, v in {",
    ]
    lines += [f"    {k!r}: {v!r}," for k, v in rewritten.items()]
    lines += ["}.items()}", ""]
    return "\n".join(lines)


def rewrite_sysconfigdata(staged: StagedRuntime) -> list[Path]:
    done = []
    for path in sorted((staged.root / staged.stdlib).glob("_sysconfigdata_*.py")):
        if path.is_symlink():
            continue
        path.write_text(sysconfigdata_source(path.read_text(), staged.build_prefixes))
        done.append(path)
    return done


def install_runtime_hook(staged: StagedRuntime) -> None:
    site = staged.root / staged.sitepackages
    src = resources.files("bundler.runtime").joinpath("_bundler_runtime.py").read_text()
    (site / "_bundler_runtime.py").write_text(src)
    (site / "_bundler_runtime.pth").write_text("import _bundler_runtime\n")


def bundle_ca_certificates(staged: StagedRuntime, interp: BaseInterpreter) -> Path | None:
    """Copy the build machine's CA bundle into ``etc/ssl/cert.pem`` (the fallback)."""
    candidates = [interp.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]
    for cand in candidates:
        if cand and os.path.isfile(cand):
            dest = staged.root / "etc" / "ssl" / "cert.pem"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(os.path.realpath(cand), dest)
            return dest
    return None


def bundle_terminfo(staged: StagedRuntime, sources: tuple[str, ...] = TERMINFO_SOURCES) -> int:
    count = 0
    for name in TERMINFO_ENTRIES:
        for base in sources:
            src = Path(base) / name[0] / name
            if src.is_file():
                dest = staged.root / "share" / "terminfo" / name[0] / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(os.path.realpath(src), dest)
                count += 1
                break
    return count


def compiler_for(staged: StagedRuntime, interp: BaseInterpreter) -> Path | None:
    """The interpreter that byte-compiles the runtime: its own; for a base this machine cannot
    run, the one running bundler if it is the same Python version (byte code depends on the
    version only); else None (no pycs: Python compiles in memory at import)."""
    if interp.runnable:
        return staged.root / staged.python
    if tuple(sys.version_info[:2]) == tuple(interp.version[:2]) and sys.implementation.name == "cpython":
        return Path(sys.executable)
    return None


def byte_compile(staged: StagedRuntime, paths: list[Path] | None = None, python: Path | None = None,
                 progress: Callable[[int, int], None] = lambda done, total: None,
                 named: tuple[Path, str] | None = None) -> None:
    """Compile *paths* (default: stdlib and site-packages) with *python* (default: the runtime's own).

    The byte code names each file by its path in the runtime (``/lib/...``: it moves); *named*
    ``(dir, as)`` names the files under *dir* as under *as* instead (the standard library's modules
    as in its zip, ``/lib/python311.zip/json/decoder.py``, where Python does not rename them on import).

    *progress(done, total)* counts source files: compileall names each file it
    compiles on stdout, one line each (its workers share the pipe).
    """
    root = staged.root
    targets = paths if paths is not None else [
        p for p in (root / staged.stdlib, root / staged.sitepackages) if p.is_dir()
    ]
    if not targets:
        return
    total = sum(1 for t in targets for _ in ([t] if t.is_file() else t.rglob("*.py")))
    # the paths go in a list file (-i): thousands of them would not fit on a command line
    listing = tempfile.NamedTemporaryFile("w", prefix=".compile-", suffix=".txt", dir=root.parent, delete=False)
    with listing:
        listing.write("".join(f"{t}\n" for t in targets))
    cmd = [
        str(python or root / staged.python), "-I", "-B", "-m", "compileall", "-f", "-j", "0",
        "--invalidation-mode", "unchecked-hash",
        "-s", str(named[0] if named else root), "-p", named[1] if named else "/",
        "-x", r"(/|^)(lib2to3/tests|test|tests)/.*bad",
        "-i", listing.name,
    ]
    env = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8"}
    done = 0
    tail: list[str] = []
    try:
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                              errors="replace", stdin=subprocess.DEVNULL) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("Compiling "):
                    done += 1
                    progress(min(done, total), total)
                elif not line.startswith("Listing "):
                    tail = (tail + [line.strip()])[-5:]
    except OSError as exc:
        raise RelocationError(f"cannot run {cmd[0]} to byte-compile the runtime ({exc})") from exc
    finally:
        os.unlink(listing.name)
    if proc.returncode not in (0, 1):  # 1: some file did not compile (e.g. py2 syntax in a package)
        who = f"the relocated interpreter {staged.python}" if python is None else str(python)
        raise RelocationError(f"byte-compiling the runtime with {who} failed ({(tail or ['no output'])[-1]})")


def finalize(staged: StagedRuntime, interp: BaseInterpreter,
             progress: Callable[[int, int], None] = lambda done, total: None) -> bool:
    """Everything after relocation; returns whether the runtime was byte-compiled."""
    rewrite_sysconfigdata(staged)
    if interp.os is not WINDOWS:  # Windows: Python reads the OS certificate store; no terminfo
        install_runtime_hook(staged)
        bundle_ca_certificates(staged, interp)
        bundle_terminfo(staged)
    python = compiler_for(staged, interp)
    if python is None:
        return False
    zipped = zip_name(staged)
    if zipped is None:
        byte_compile(staged, python=python, progress=progress)
        return True
    root = staged.root
    stdlib = root / staged.stdlib
    byte_compile(staged, sorted(p for p in stdlib.iterdir() if p != root / staged.sitepackages), python=python,
                 progress=progress, named=(stdlib, f"/{zipped}"))
    if (root / staged.sitepackages).is_dir():
        byte_compile(staged, [root / staged.sitepackages], python=python)
    return True
