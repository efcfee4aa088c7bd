"""``policy/windows.json`` is derived, not grown by hand: from mingw-w64's import libraries in the pinned Zig,
cross-checked against wine's builtin DLLs (a second, independent implementation of Windows' set)."""

from __future__ import annotations

import json
from importlib import metadata, resources
from pathlib import Path

import pytest
import ziglang

from bundler.output.stubbuild import ZIG_VERSION
from bundler.relocate.policy import derive, load_policy

WINE_BUILTINS = Path("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows")


def committed() -> str:
    return resources.files("bundler.relocate.policy").joinpath("windows.json").read_text()


def test_committed_policy_is_the_derivation() -> None:
    assert metadata.version("ziglang") == ZIG_VERSION
    derived = derive.render(derive.windows_policy(Path(ziglang.__file__).parent, ZIG_VERSION))
    assert committed() == derived, "run: python -m bundler.relocate.policy.derive"


@pytest.mark.parametrize("dll", [
    # CPython's own extension modules (_msi.pyd on 3.8-3.12) and what real wheels import
    "msi.dll", "ODBC32.dll", "loadperf.dll", "sfc.dll", "LZ32.dll", "query.dll", "RASAPI32.dll",
    "NTDSAPI.dll", "ACTIVEDS.dll", "ACLUI.dll", "bcryptprimitives.dll", "KERNEL32.dll", "winspool.drv",
    "ucrtbase.dll", "api-ms-win-crt-runtime-l1-1-0.dll", "d3dcompiler_47.dll", "xinput1_4.dll",
])
def test_windows_components_are_system(dll: str) -> None:
    assert load_policy("windows").is_system(dll)


@pytest.mark.parametrize("dll", [
    # shipped by the app (CPython ships vcruntime140*.dll beside python.exe; wheels ship the rest)
    "vcruntime140.dll", "VCRUNTIME140_1.dll", "msvcp140.dll", "msvcp140_1.dll", "concrt140.dll", "vcomp140.dll",
    "ucrtbased.dll", "msvcr100.dll", "python3.dll", "python311.dll", "libgcc_s_seh-1.dll", "libstdc++-6.dll",
    "libwinpthread-1.dll", "zlib1.dll", "d3dx9_43.dll", "xinput1_3.dll", "d3dcompiler_43.dll", "mfc140u.dll",
    "libopenblas64__v0.3.23-293-gc2f4bdbb-gcc_10_3_0-2cd4b8e0ee7b0d8ef6f4de4f5e7e37ff.dll",
])
def test_redistributables_are_not_system(dll: str) -> None:
    assert not load_policy("windows").is_system(dll)


def test_cross_checked_against_wine() -> None:
    assert WINE_BUILTINS.is_dir(), "wine's builtin DLLs are missing; `make test` installs Debian's wine64"
    builtin = {p.name.lower() for p in WINE_BUILTINS.iterdir()}
    # every DLL added by hand (no import library) is one Windows has: wine re-implements each
    assert [a for a in derive.ADDITIONS if a not in builtin] == []
    listed = set(json.loads(committed())["system_libraries"])
    # most of what wine re-implements as part of Windows is in the set; the rest is redistributable
    # or wine's own (drivers, thunks for libraries such as zlib1 or vulkan-1 that Windows does not ship)
    dlls = {b for b in builtin if b.endswith(".dll") and not b.startswith(("api-ms-", "ext-ms-"))}
    assert len(dlls & listed) > 250
    assert {"zlib1.dll", "vulkan-1.dll", "msvcp140.dll", "vcruntime140.dll"} <= dlls - listed


def test_derivation_rules() -> None:
    names = derive.library_names([
        'LIBRARY "WINSPOOL.DRV"\nEXPORTS\n', "LIBRARY chakra\n", "; fragment without a LIBRARY line\n",
        'LIBRARY "ntoskrnl.exe"\n', "LIBRARY api-ms-win-core-file-l1-1-0.dll\n", 'LIBRARY "vcruntime140.dll"\n',
    ])
    assert names == {"winspool.drv", "chakra.dll", "ntoskrnl.exe", "api-ms-win-core-file-l1-1-0.dll",
                     "vcruntime140.dll"}
    assert "winspool.drv" in derive.system_dlls(names)
    assert not {"ntoskrnl.exe", "api-ms-win-core-file-l1-1-0.dll", "vcruntime140.dll"} & set(derive.system_dlls(names))
