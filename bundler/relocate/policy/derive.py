"""Derive ``windows.json``, the DLLs that are part of Windows, from a documented source.

The source is the set of import libraries a Windows toolchain links against for
the operating system's own DLLs: mingw-w64's module definitions (``*.def``,
``*.def.in``), as shipped inside the pinned Zig (``lib/libc/mingw/lib-common``
and ``lib64``). Each file's ``LIBRARY`` statement names the DLL exactly
(``WINSPOOL.DRV``, ``msi.dll``). From that set come out:

* the API set contracts (``api-ms-win-*``, ``ext-ms-*``): the policy matches
  them by pattern, the loader maps them to whatever DLL implements them;
* :data:`REDISTRIBUTABLE`: DLLs mingw-w64 has import libraries for that a
  stock Windows does not carry (the Visual C++ runtime, debug CRTs, the
  DirectX and XNA redistributables, UWP runtime packages). An app must ship
  those, so they are resolved and vendored like any other DLL;
* kernel-mode modules (``.sys``, ``.exe``), which no program imports.

:data:`ADDITIONS` are System32 DLLs mingw-w64 has no import library for (the
test suite checks each against wine's builtin DLLs, a second, independent
re-implementation of Windows' set).

``python -m bundler.relocate.policy.derive`` rewrites ``windows.json`` from the
installed ``ziglang``; ``tests/relocate/test_windows_policy.py`` checks that the
committed file is what this derivation gives.
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path

#: name patterns the policy matches instead of listing (the loader's API set schema resolves them)
API_SET_PATTERNS = ("api-ms-win-*", "ext-ms-*")

#: DLLs with a mingw-w64 import library that a stock Windows 10/11 does not have in System32
REDISTRIBUTABLE = (
    # the Visual C++ runtime and its debug and UWP builds (ship vcruntime140.dll next to python.exe)
    "vcruntime*", "msvcp1*", "msvcp7*", "msvcp8*", "msvcp9*", "msvcr1*", "msvcr7*", "msvcr8*", "msvcr9*",
    "msvcrtd.dll", "msvcirt.dll", "ucrtbased.dll", "concrt*", "vcomp*", "vccorlib*", "*_app.dll",
    "mfc1*", "mfc7*", "mfc8*", "mfc9*", "mfcm*", "atl1*", "atl7*", "atl8*", "atl9*",
    # the DirectX SDK / XNA redistributables (d3dcompiler_47, xinput1_4, xaudio2_8/9 are part of Windows)
    "d3dx9_*", "d3dx10*", "d3dx11*", "d3dcompiler_3*", "d3dcompiler_4[0-6].dll",
    "xinput1_[123].dll", "xaudio2_[0-7].dll", "x3daudio*", "xapofx*", "xactengine*",
)

#: System32 DLLs with no mingw-w64 import library; each is also one of wine's builtin DLLs
ADDITIONS = (
    "combase.dll",  # COM base, imported through api sets and directly
    "kernelbase.dll",  # kernel32's implementation
    "mscoree.dll",  # the .NET shim loader
    "msvcp60.dll",  # the Windows component's own old C++ runtime
    "msvcp_win.dll",  # the Windows component's C++ runtime
    "msvcrt.dll",  # the Windows component's C runtime (MinGW programs link it)
    "msxml3.dll",
    "msxml6.dll",
    "sechost.dll",
    "taskschd.dll",
    "win32u.dll",
    "wintypes.dll",
)

MINGW_DEF_DIRS = ("lib/libc/mingw/lib-common", "lib/libc/mingw/lib64")
_LIBRARY = re.compile(r'^\s*LIBRARY\s+"?([^"\s;]+)"?', re.IGNORECASE | re.MULTILINE)


def library_names(def_texts: Iterable[str]) -> set[str]:
    """The DLL each module definition names in its ``LIBRARY`` statement, lower case (``.dll`` if none)."""
    names: set[str] = set()
    for text in def_texts:
        m = _LIBRARY.search(text)
        if m is None:
            continue  # a fragment included by other .def.in files
        name = m.group(1).lower()
        names.add(name if "." in name else name + ".dll")
    return names


def is_redistributable(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pat) for pat in REDISTRIBUTABLE)


def system_dlls(import_libraries: Iterable[str]) -> list[str]:
    """The policy's DLL list: the import libraries' DLLs plus :data:`ADDITIONS`, minus the rest (sorted)."""
    keep = set()
    for name in (*import_libraries, *ADDITIONS):
        if not name.endswith((".dll", ".drv", ".cpl", ".ocx")):
            continue  # kernel-mode modules
        if any(fnmatch.fnmatchcase(name, pat) for pat in API_SET_PATTERNS) or is_redistributable(name):
            continue
        keep.add(name)
    return sorted(keep)


def mingw_def_texts(zig_dir: Path) -> list[str]:
    """The module definitions of the Zig installation at *zig_dir* (the ``ziglang`` package directory)."""
    texts = []
    for sub in MINGW_DEF_DIRS:
        directory = zig_dir / sub
        texts += [p.read_text(errors="replace") for p in sorted(directory.iterdir()) if ".def" in p.name]
    if not texts:
        raise FileNotFoundError(f"{zig_dir}: no mingw-w64 module definitions under {MINGW_DEF_DIRS[0]}")
    return texts


def windows_policy(zig_dir: Path, zig_version: str) -> dict:
    """The content of ``windows.json`` derived from the Zig installation at *zig_dir*."""
    return {
        "name": "windows",
        "description": (
            "DLLs that are part of Windows 10 and later (x64, ARM64), never vendored: every DLL mingw-w64 "
            f"has an import library for (as shipped in Zig {zig_version}), minus the redistributables a stock "
            "Windows lacks (Visual C++ runtime, debug CRTs, DirectX/XNA redistributables, UWP packages), plus "
            "System32 DLLs without an import library, each one also a wine builtin; and the API set names "
            "(api-ms-win-*, ext-ms-*). Generated by bundler/relocate/policy/derive.py: do not edit by hand."
        ),
        "case_insensitive": True,
        "system_patterns": list(API_SET_PATTERNS),
        "redistributable_patterns": list(REDISTRIBUTABLE),
        "system_libraries": system_dlls(library_names(mingw_def_texts(zig_dir))),
    }


def render(policy: dict) -> str:
    return json.dumps(policy, indent=1) + "\n"


def main() -> int:
    from importlib import metadata

    import ziglang  # the [stubs] extra

    out = Path(__file__).with_name("windows.json")
    out.write_text(render(windows_policy(Path(ziglang.__file__).parent, metadata.version("ziglang"))))
    print(out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
