"""relocate/kits: one FormatKit per target, chosen by the target's binary format, never by asking for an OS.

Windows and macOS targets are described by the probed host interpreter with
another system and machine (their real bases are covered by tests/base and
tests/integration); the libraries are real ELF files compiled by zig.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
from support.native import shared_lib

from bundler.base.probe import probe
from bundler.base.target import target_for
from bundler.binfmt.elf import ElfFormat
from bundler.binfmt.interface import no_floor, no_path_check
from bundler.binfmt.ldpath import LdSoResolver
from bundler.binfmt.macho import codesign
from bundler.relocate.kits import WithLibPath, kit_for
from bundler.relocate.model import VENDOR_DIR


@pytest.fixture(scope="module")
def host():
    return probe(Path(sys.executable))


def test_the_elf_kit_of_the_host(host, tmp_path):
    target = target_for(host)
    kit = kit_for(target, host, tmp_path, "bin/python3.11")
    assert (kit.name, kit.policy.name, kit.vendor_dir, kit.rules.origin) == ("elf", "manylinux_2_17", VENDOR_DIR, "$ORIGIN")
    assert kit.check is None and kit.check_paths is not no_path_check and kit.floor is not no_floor
    assert kit.fmt.machine(Path(sys.executable).resolve()) == "x86_64"
    assert isinstance(kit.inside_resolver, LdSoResolver) and kit.inside_resolver.default_dirs == ()
    # a base from another machine's system image resolves in that image only
    image = dataclasses.replace(host, sysroot=tmp_path / "image", runnable=False)
    sysroot_kit = kit_for(target, image, tmp_path, "bin/python3.11")
    assert sysroot_kit.build_resolver.default_dirs and all(
        d.startswith(str(tmp_path / "image") + "/") for d in sysroot_kit.build_resolver.default_dirs)
    standalone = kit_for(target, dataclasses.replace(host, runnable=False), tmp_path, "bin/python3.11")
    assert standalone.build_resolver.default_dirs == ()  # python-build-standalone: nothing of the host


def test_the_pe_kit_vendors_beside_python_exe(host, tmp_path):
    win = dataclasses.replace(host, system="Windows", machine="AMD64", glibc="", executable=tmp_path / "base/python.exe")
    kit = kit_for(target_for(win), win, tmp_path / "rt", "python.exe")
    assert (kit.name, kit.policy.name, kit.vendor_dir, kit.rules.origin) == ("pe", "windows", "", None)
    assert kit.rules.name_from_file and not kit.rules.rename_vendored_id and kit.policy.case_insensitive
    nested = kit_for(target_for(win), win, tmp_path / "rt", "app/python.exe")
    assert nested.vendor_dir == "app"


def test_the_macho_kit_checks_signatures(host, tmp_path):
    mac = dataclasses.replace(host, system="Darwin", machine="arm64", glibc="", macos_minimum="11.0")
    kit = kit_for(target_for(mac), mac, tmp_path, "bin/python3.11")
    assert (kit.name, kit.policy.name, kit.vendor_dir, kit.rules.origin) == ("macho", "macos", VENDOR_DIR, "@loader_path")
    assert kit.check is codesign.verify_adhoc and kit.rules.install_name_prefix == "@rpath/" and kit.rules.search_in_rpath


def test_lib_path_is_searched_after_the_loader_by_name_and_machine(host, tmp_path):
    x86 = shared_lib(tmp_path / "x86" / "libfoo.so.1", "libfoo.so.1", "int foo(void){return 1;}\n")
    arm = shared_lib(tmp_path / "arm" / "libfoo.so.1", "libfoo.so.1", "int foo(void){return 2;}\n",
                     target="aarch64-linux-gnu.2.17")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "libbar.so.1").write_text("not a binary\n")
    target = target_for(host)
    kit = kit_for(target, host, tmp_path, "bin/python3.11", lib_path=(tmp_path / "arm", tmp_path / "x86", tmp_path / "text"))
    assert isinstance(kit.build_resolver, WithLibPath)
    info = ElfFormat().read(x86)
    # the aarch64 copy comes first on --lib-path but is for another machine: skipped
    assert kit.build_resolver.search("libfoo.so.1", info, tmp_path) == x86
    assert kit.build_resolver.search("libbar.so.1", info, tmp_path) is None  # same name, not a binary
    assert kit.build_resolver.search("libc.so.6", info, tmp_path) is not None  # the loader's own search first
    assert kit.build_resolver.search("LIBFOO.so.1", info, tmp_path) is None  # ELF names are case-sensitive
    wrapped = dataclasses.replace(kit.build_resolver, case_insensitive=True)
    assert wrapped.search("LIBFOO.so.1", info, tmp_path) == x86  # as PE kits search
    assert arm.exists()
