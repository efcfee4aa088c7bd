"""The PE format module on real Windows binaries built by zig cc and run under wine."""

from __future__ import annotations

import os
import shutil
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import pefile
import pytest
from support.native import zig_cc, zig_cc_delayload
from support.winetools import run_wine

from bundler.binfmt.interface import BinaryEdit, BinaryInfo
from bundler.binfmt.pe import NAMES_SECTION, PeFormat, PeResolver, unique_name
from bundler.errors import RelocationError
from bundler.relocate.policy import load_policy

WIN64 = "x86_64-windows-gnu"
PE = PeFormat()
NEW = "helper-1a2b3c4d.dll"

HELPER_C = """
__declspec(dllexport) int helper_value(void) { return 42; }
"""

VERSION_RC = """
1 VERSIONINFO
FILEVERSION 1,2,3,4
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904b0"
    BEGIN
      VALUE "FileDescription", "bundler test helper"
    END
  END
END
"""

MAIN_C = """
#include <stdio.h>
#include <stdlib.h>
__declspec(dllimport) int helper_value(void);
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) printf("arg%d=%s\\n", i, argv[i]);
  fflush(stdout);
  printf("value=%d\\n", helper_value());
  return argc > 1 ? atoi(argv[1]) : 0;
}
"""

GUI_C = """
#include <windows.h>
int WINAPI WinMain(HINSTANCE a, HINSTANCE b, LPSTR c, int d) { return 0; }
"""


@dataclass(frozen=True)
class Built:
    helper: Path  # helper.dll, exports helper_value, has a version resource
    main: Path  # imports helper.dll
    delay: Path  # delay-loads helper.dll
    gui: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    d = tmp_path_factory.mktemp("pe")
    implib = d / "helper.lib"
    helper = zig_cc(d / "helper.dll", {"helper.c": HELPER_C, "version.rc": VERSION_RC},
                    "-shared", f"-Wl,--out-implib,{implib}", target=WIN64)
    main = zig_cc(d / "main.exe", {"main.c": MAIN_C}, str(implib), target=WIN64)
    delay = zig_cc_delayload(d / "delay.exe", {"main.c": MAIN_C}, str(implib), delayload=("helper.dll",))
    gui = zig_cc(d / "gui.exe", {"gui.c": GUI_C}, "-Wl,--subsystem,windows", target=WIN64)
    return Built(helper=helper, main=main, delay=delay, gui=gui)


@pytest.fixture(scope="module")
def arm_helper(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pe-arm64")
    return zig_cc(d / "helper.dll", {"helper.c": HELPER_C}, "-shared", target="aarch64-windows-gnu")


def _imports(path: Path) -> tuple[list[str], list[str]]:
    """(import table DLLs, delay-import table DLLs) as pefile reads them."""
    pe = pefile.PE(str(path))
    try:
        return (
            [e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])],
            [e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])],
        )
    finally:
        pe.close()


def _vendor_helper(built: Built, directory: Path, name: str) -> Path:
    """Copy helper.dll into *directory* as *name* and give its export directory that name."""
    directory.mkdir(parents=True, exist_ok=True)
    dest = directory / name
    shutil.copyfile(built.helper, dest)
    PE.apply(dest, BinaryEdit(soname=name))
    return dest


# -- reading ------------------------------------------------------------------------------------


def test_read_lists_imports_and_the_policy_knows_the_system_ones(built: Built) -> None:
    info = PE.read(built.main)
    regular, delayed = _imports(built.main)
    assert info.needed == tuple(regular) and not delayed
    assert info.needed[0] == "helper.dll"
    assert "KERNEL32.dll" in info.needed  # as written, not folded
    assert any(n.startswith("api-ms-win-crt-") for n in info.needed)  # mingw's UCRT import
    assert (info.soname, info.rpath, info.runpath, info.interpreter, info.machine) == (None, (), (), None, "x86_64")
    policy = load_policy("windows")
    assert [n for n in info.needed if not policy.is_system(n)] == ["helper.dll"]
    assert PE.read(built.helper).soname == "helper.dll"


def test_read_includes_delay_imports_after_regular_ones(built: Built) -> None:
    regular, delayed = _imports(built.delay)
    assert delayed == ["helper.dll"] and "helper.dll" not in regular
    info = PE.read(built.delay)
    assert info.needed == (*regular, "helper.dll")


def test_windows_policy() -> None:
    policy = load_policy("windows")
    for name in ("KERNEL32.dll", "kernel32.DLL", "ucrtbase.dll", "WS2_32.dll", "bcrypt.dll",
                 "api-ms-win-crt-runtime-l1-1-0.dll", "API-MS-WIN-CORE-SYNCH-L1-2-0.DLL",
                 "ext-ms-win-ntuser-l1-1-0.dll"):
        assert policy.is_system(name), name
    for name in ("vcruntime140.dll", "vcruntime140_1.dll", "msvcp140.dll", "python312.dll", "python3.dll",
                 "libwinpthread-1.dll", "libgcc_s_seh-1.dll", "zlib1.dll"):
        assert not policy.is_system(name), name
    assert policy.loaders == () and policy.default_library_dirs == ()


def test_subsystem(built: Built) -> None:
    assert PE.subsystem(built.main) == "console"
    assert PE.subsystem(built.gui) == "gui"


def test_is_binary(built: Built, tmp_path: Path) -> None:
    assert PE.is_binary(built.main) and PE.is_binary(built.helper)
    text = tmp_path / "notes.dll"
    text.write_text("MZ is how this text starts, but it is no program\n" * 4)
    elf = Path(os.path.realpath(sys.executable))
    link = tmp_path / "link.dll"
    link.symlink_to(built.helper)
    assert not PE.is_binary(text)
    assert elf.read_bytes()[:4] == b"\x7fELF" and not PE.is_binary(elf)
    assert not PE.is_binary(link)
    assert not PE.is_binary(tmp_path)
    assert not PE.is_binary(tmp_path / "missing.dll")


def test_machine(built: Built, arm_helper: Path, tmp_path: Path) -> None:
    assert PE.machine(built.main) == "x86_64"
    assert PE.machine(arm_helper) == "aarch64"
    assert PE.read(arm_helper).machine == "aarch64"
    text = tmp_path / "x.dll"
    text.write_text("hello")
    with pytest.raises(RelocationError, match="x.dll"):
        PE.machine(text)


@pytest.mark.parametrize("keep", [100, 0x200, 0x3000, -100])
def test_truncated_file_is_a_clear_error(built: Built, tmp_path: Path, keep: int) -> None:
    data = built.main.read_bytes()
    broken = tmp_path / "broken.exe"
    broken.write_bytes(data[:keep])
    for action in (PE.read, PE.subsystem, lambda p: PE.apply(p, BinaryEdit(replace_needed=(("helper.dll", NEW),)))):
        with pytest.raises(RelocationError) as exc:
            action(broken)
        assert str(broken) in str(exc.value)
    assert broken.read_bytes() == data[:keep]  # apply left it alone


def test_unique_name() -> None:
    assert unique_name("zlib1.dll", "1a2b3c4d5e6f") == "zlib1-1a2b3c4d.dll"
    assert unique_name("libssl-3-x64.dll", "deadbeef00") == "libssl-3-x64-deadbeef.dll"
    assert unique_name("Qt6Core.DLL", "0011223344") == "Qt6Core-00112233.DLL"
    assert unique_name("helper", "abcdef0123") == "helper-abcdef01"


# -- rewriting ----------------------------------------------------------------------------------


def test_apply_renames_an_import_and_the_program_runs(built: Built, wine: dict[str, str], tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    exe = app / "main.exe"
    shutil.copyfile(built.main, exe)
    before = PE.read(exe)
    PE.apply(exe, BinaryEdit(replace_needed=(("HELPER.DLL", NEW),)))  # matched without regard to case

    regular, _ = _imports(exe)
    assert regular[0] == NEW and "helper.dll" not in [n.lower() for n in regular]
    assert PE.read(exe).needed == (NEW, *before.needed[1:])
    vendored = _vendor_helper(built, app, NEW)
    assert PE.read(vendored).soname == NEW

    proc = run_wine(exe, "7", "hello world", env=wine)
    assert proc.stdout.decode().splitlines() == ["arg1=7", "arg2=hello world", "value=42"], proc.stderr
    assert proc.returncode == 7

    # The new name is the one Windows looks for: the old one next to the program is not enough...
    stale = tmp_path / "stale"
    stale.mkdir()
    shutil.copyfile(exe, stale / "main.exe")
    shutil.copyfile(built.helper, stale / "helper.dll")
    proc = run_wine(stale / "main.exe", "7", env=wine, extra_env={"WINEDEBUG": "err+module"})
    assert proc.returncode not in (0, 7) and b"value=" not in proc.stdout
    assert f"Library {NEW} (which is needed by".encode() in proc.stderr  # c0000135, DLL not found
    # ...while the unrenamed program does run with it.
    shutil.copyfile(built.main, stale / "main.exe")
    proc = run_wine(stale / "main.exe", "5", env=wine)
    assert proc.returncode == 5 and b"value=42" in proc.stdout


def test_apply_renames_a_delay_import_and_the_program_runs(built: Built, wine: dict[str, str], tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    exe = app / "delay.exe"
    shutil.copyfile(built.delay, exe)
    PE.apply(exe, BinaryEdit(replace_needed=(("helper.dll", NEW),)))

    regular, delayed = _imports(exe)
    assert delayed == [NEW] and NEW not in regular
    assert PE.read(exe).needed[-1] == NEW
    _vendor_helper(built, app, NEW)
    proc = run_wine(exe, "3", env=wine)
    assert proc.stdout.decode().splitlines() == ["arg1=3", "value=42"], proc.stderr
    assert proc.returncode == 3

    # Delay-loading resolves the name at the first call: with only the old name it fails there.
    (app / NEW).unlink()
    shutil.copyfile(built.helper, app / "helper.dll")
    proc = run_wine(exe, "3", env=wine)
    assert proc.stdout.decode().splitlines()[:1] == ["arg1=3"]
    assert proc.returncode != 3 and b"value=" not in proc.stdout
    assert b"0xc06d007e" in proc.stderr  # the delay-load helper's "module not found" (ERROR_MOD_NOT_FOUND)


def test_apply_renames_the_export_name_and_keeps_the_rest(built: Built, tmp_path: Path) -> None:
    dll = _vendor_helper(built, tmp_path, NEW)
    assert PE.read(dll) == BinaryInfo(**{**PE.read(built.helper).__dict__, "soname": NEW})
    pe = pefile.PE(str(dll))
    try:
        assert [s.name for s in pe.DIRECTORY_ENTRY_EXPORT.symbols] == [b"helper_value"]
        assert pe.FileInfo[0][0].StringTable[0].entries[b"FileDescription"] == b"bundler test helper"
        assert pe.sections[-1].Name.rstrip(b"\0") == NAMES_SECTION.encode()
    finally:
        pe.close()
    # Nothing to change: the file is not rewritten at all.
    before = dll.read_bytes()
    PE.apply(dll, BinaryEdit(soname=NEW))
    PE.apply(dll, BinaryEdit())
    assert dll.read_bytes() == before


def test_apply_drops_a_signature_and_fixes_the_checksum(built: Built, wine: dict[str, str], tmp_path: Path) -> None:
    # A release build as MSVC makes it: a checksum, and an Authenticode certificate at the end.
    pe = pefile.PE(str(built.main))
    cert = struct.pack("<IHH", 16, 0x200, 2) + b"SIGNATUR"
    data = bytes(pe.write()) + cert
    pe.close()
    pe = pefile.PE(data=data)
    security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]]
    security.VirtualAddress, security.Size = len(data) - len(cert), len(cert)
    pe.OPTIONAL_HEADER.CheckSum = pe.generate_checksum()
    exe = tmp_path / "signed.exe"
    exe.write_bytes(bytes(pe.write()))
    pe.close()

    PE.apply(exe, BinaryEdit(replace_needed=(("helper.dll", NEW),)))
    pe = pefile.PE(str(exe))
    try:
        security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]]
        assert (security.VirtualAddress, security.Size) == (0, 0)
        assert b"SIGNATUR" not in exe.read_bytes()
        assert pe.OPTIONAL_HEADER.CheckSum == pe.generate_checksum() != 0
    finally:
        pe.close()
    _vendor_helper(built, tmp_path, NEW)
    proc = run_wine(exe, "4", env=wine)
    assert proc.returncode == 4 and b"value=42" in proc.stdout


def test_apply_drops_stale_bound_imports(built: Built, wine: dict[str, str], tmp_path: Path) -> None:
    # Bind the helper import the old way: a bound-import directory in the header slack.
    pe = pefile.PE(str(built.main))
    slack = pe.sections[-1].get_file_offset() + 3 * 40  # past the section table and the one apply adds
    assert slack + 64 <= pe.OPTIONAL_HEADER.SizeOfHeaders
    name_at = 16
    table = struct.pack("<IHH", 0x12345678, name_at, 0) + bytes(8) + b"helper.dll\0"
    pe.set_bytes_at_offset(slack, table)
    bound = pe.OPTIONAL_HEADER.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_BOUND_IMPORT"]]
    bound.VirtualAddress, bound.Size = slack, len(table)
    pe.DIRECTORY_ENTRY_IMPORT[0].struct.TimeDateStamp = 0xFFFFFFFF
    exe = tmp_path / "bound.exe"
    exe.write_bytes(bytes(pe.write()))
    pe.close()

    PE.apply(exe, BinaryEdit(replace_needed=(("helper.dll", NEW),)))
    pe = pefile.PE(str(exe))
    try:
        bound = pe.OPTIONAL_HEADER.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_BOUND_IMPORT"]]
        assert (bound.VirtualAddress, bound.Size) == (0, 0)
        assert [e.struct.TimeDateStamp for e in pe.DIRECTORY_ENTRY_IMPORT] == [0] * len(pe.DIRECTORY_ENTRY_IMPORT)
    finally:
        pe.close()
    _vendor_helper(built, tmp_path, NEW)
    proc = run_wine(exe, "6", env=wine)
    assert proc.returncode == 6 and b"value=42" in proc.stdout


def test_apply_refuses_what_it_cannot_do(built: Built, tmp_path: Path) -> None:
    exe = tmp_path / "main.exe"
    shutil.copyfile(built.main, exe)
    with pytest.raises(RelocationError, match=r"main\.exe.*zlib1\.dll"):
        PE.apply(exe, BinaryEdit(replace_needed=(("helper.dll", NEW), ("zlib1.dll", "zlib1-00000000.dll"))))
    with pytest.raises(ValueError, match="runpath"):
        PE.apply(exe, BinaryEdit(runpath=("$ORIGIN",)))
    assert exe.read_bytes() == built.main.read_bytes()


# -- resolving ----------------------------------------------------------------------------------


def test_resolver_search_order(built: Built, arm_helper: Path, tmp_path: Path) -> None:
    origin, app = (tmp_path / n for n in ("site-packages", "python"))
    for d in (origin, app):
        d.mkdir()
    resolver = PeResolver(machine="x86_64", app_dir=app)
    info = PE.read(built.main)

    assert resolver.search("helper.dll", info, origin) is None
    shutil.copyfile(built.helper, app / "HELPER.DLL")  # a case-insensitive match
    assert resolver.search("Helper.dll", info, origin) == app / "HELPER.DLL"
    (app / "HELPER.DLL").unlink()
    shutil.copyfile(built.helper, app / "Helper.Dll")
    assert resolver.search("helper.dll", info, origin) == app / "Helper.Dll"
    # The module's own directory comes first, but only a DLL of the right machine counts...
    shutil.copyfile(arm_helper, origin / "helper.dll")
    assert resolver.search("helper.dll", info, origin) == app / "Helper.Dll"
    assert PeResolver(machine="aarch64").search("helper.dll", info, origin) == origin / "helper.dll"
    # ...and only a PE file.
    (origin / "helper.dll").write_text("not a DLL")
    assert resolver.search("helper.dll", info, origin) == app / "Helper.Dll"
    (origin / "helper.dll").unlink()
    (origin / "helper.dll").symlink_to(built.helper)  # a symlink to a DLL is a DLL
    assert resolver.search("helper.dll", info, origin) == origin / "helper.dll"
    assert resolver.search("zlib1.dll", info, origin) is None


def test_resolver_finds_the_folders_packages_add_with_add_dll_directory(built: Built, tmp_path: Path) -> None:
    """delvewheel's ``<dist>.libs``, pywin32's ``pywin32_system32`` and, for a package whose init code calls
    ``os.add_dll_directory``, its own folders: found in the runtime, where the package's code adds them."""
    root = tmp_path / "rt"
    site = root / "Lib/site-packages"
    resolver = PeResolver(machine="x86_64", app_dir=root, runtime_root=root, sitepackages="Lib/site-packages")
    info = PE.read(built.main)
    pkg = site / "pkg/core"
    pkg.mkdir(parents=True)
    assert resolver.search("helper-1a2b.dll", info, pkg) is None
    (site / "pkg.libs").mkdir()
    shutil.copyfile(built.helper, site / "pkg.libs/helper-1a2b.dll")
    assert resolver.search("helper-1a2b.dll", info, pkg) == site / "pkg.libs/helper-1a2b.dll"
    (site / "pywin32_system32").mkdir()
    shutil.copyfile(built.helper, site / "pywin32_system32/pywintypes311.dll")
    assert resolver.search("pywintypes311.dll", info, site / "win32") == site / "pywin32_system32/pywintypes311.dll"
    # the package's own lib/ folder counts only if its init code adds it
    (site / "pkg/lib").mkdir()
    shutil.copyfile(built.helper, site / "pkg/lib/c10.dll")
    assert resolver.search("c10.dll", info, pkg) is None
    (site / "pkg/__init__.py").write_text("import os\nos.add_dll_directory(os.path.join(os.path.dirname(__file__), 'lib'))\n")
    assert resolver.search("c10.dll", info, pkg) == site / "pkg/lib/c10.dll"
    assert resolver.search("c10.dll", info, site / "other") is None  # another package's folders are not its own
    assert resolver.search("c10.dll", info, root) is None  # python.exe is in no package
