"""The platform vocabulary: every name spelled once, and spelled the way the file formats and the OS do.

The machine codes are checked against the libraries that read the headers
(pyelftools, pefile, LIEF), the stub names against the prebuilt stubs' record,
and the ``platform.machine()`` spellings against a real base interpreter's
probe, so a typo in the vocabulary fails here rather than in a build.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lief
import pefile
from elftools.elf.enums import ENUM_E_MACHINE

from bundler import platforms as P
from bundler.base.probe import probe
from bundler.base.target import target_for
from bundler.config.spec import KEYS
from bundler.output import stubbuild
from bundler.output.stub import PACKAGED


def test_targets_are_os_dash_arch_and_unique():
    assert P.TARGET_NAMES == ("linux-x86_64", "linux-aarch64", "windows-x86_64", "macos-arm64", "macos-x86_64")
    assert len(set(P.TARGET_NAMES)) == len(P.PLATFORMS)
    for p in P.PLATFORMS:
        assert P.platform_named(p.name) is p
        assert p.os.arch_of(p.os.machine_of(p.arch) or "") == p.arch  # a round trip through platform.machine()
    assert P.platform_named("windows-aarch64") is None and P.platform_named("linux") is None


def test_os_spellings():
    assert [(o.name, o.system, o.binary_format, o.sys_platform, o.os_name) for o in P.OSES] == [
        ("linux", "Linux", "elf", "linux", "posix"),
        ("windows", "Windows", "pe", "win32", "nt"),
        ("macos", "Darwin", "macho", "darwin", "posix"),
    ]
    assert P.WINDOWS.executable("app") == "app.exe" and P.LINUX.executable("app") == "app"
    assert P.os_of_system("Windows") is P.WINDOWS and P.os_of_system("FreeBSD") is None
    assert P.os_of_format("macho") is P.MACOS
    # Windows says AMD64 for x86_64; Linux accepts arm64 (some ARM boards) as aarch64
    assert P.WINDOWS.machine_of("x86_64") == "AMD64" and P.WINDOWS.arch_of("x86_64") == "x86_64"
    assert P.LINUX.arch_of("arm64") == "aarch64" and P.MACOS.arch_of("aarch64") is None


def test_header_codes_are_the_libraries_codes():
    assert all(name in ENUM_E_MACHINE for name in P.ELF_MACHINES)  # pyelftools' names
    for arch, (ei_class, machine) in P.ELF_CLASS_MACHINE.items():
        assert ei_class == 2  # 64-bit
        assert P.ELF_MACHINES[next(n for n, code in ENUM_E_MACHINE.items() if code == machine)] == arch
    pe_codes = {
        pefile.MACHINE_TYPE["IMAGE_FILE_MACHINE_AMD64"]: "x86_64",
        pefile.MACHINE_TYPE["IMAGE_FILE_MACHINE_ARM64"]: "aarch64",
        pefile.MACHINE_TYPE["IMAGE_FILE_MACHINE_I386"]: "i386",
        pefile.MACHINE_TYPE["IMAGE_FILE_MACHINE_ARMNT"]: "arm",  # Thumb-2: what 32-bit Windows on ARM runs
    }
    assert P.PE_MACHINES == pe_codes
    assert P.MACHO_CPUS == {
        int(lief.MachO.Header.CPU_TYPE.X86_64): "x86_64",
        int(lief.MachO.Header.CPU_TYPE.ARM64): "arm64",
    }
    assert P.MACHO_CPU_TYPES == {v: k for k, v in P.MACHO_CPUS.items()}


def test_every_target_has_its_stubs():
    """The prebuilt stubs (make stubs / the wheel) are exactly the vocabulary's targets, named by it,
    plus an entry launcher for each OS with native_launchers (Windows) or app bundles (macOS)."""
    record = json.loads((PACKAGED / stubbuild.RECORD).read_text())["stubs"]
    expected = {}
    for p in P.PLATFORMS:
        variants = ("console", "gui") if p.is_windows else ("",)
        for v in variants:
            kind = stubbuild.kind_for(p.name, v == "gui")
            assert kind.zig_target == p.zig_triple
            expected[kind.key] = p.os.executable(f"bundler-stub-{kind.key}")
            if p.os.has_launcher:
                launcher = stubbuild.kind_for(p.name, v == "gui", stubbuild.LAUNCHER)
                assert launcher.zig_target == p.zig_triple and launcher.key == f"launcher-{kind.key}"
                expected[launcher.key] = p.os.executable(f"bundler-launcher-{kind.key}")
    assert [o.name for o in P.OSES if o.native_launchers] == ["windows"]
    assert [o.name for o in P.OSES if o.app_bundles] == ["macos"]
    assert {k: e["file"] for k, e in record.items()} == expected
    assert {k.key for k in stubbuild.ALL_KINDS} == set(expected)


def test_help_lists_the_vocabulary():
    assert ", ".join(P.TARGET_NAMES) in KEYS["target"][1]


def test_a_probed_base_names_its_target_through_the_vocabulary():
    interp = probe(Path(sys.executable))  # this suite runs on Linux x86_64 (README: build machine)
    assert interp.os is P.LINUX
    target = target_for(interp)
    assert target.platform is P.platform_named("linux-x86_64")
    assert (target.os, target.arch, target.binary_format) == (P.LINUX, "x86_64", "elf")
