"""The macOS stub (stubs/sys_macos.zig), cross-built for arm64 and x86_64.

Running it needs a macOS kernel (and dyld), which this Linux host does not
have and cannot emulate, so these tests check what can be checked without
one: the real stub, built by bundler.output.stub.build_stub, read back with LIEF as
the Mach-O executable macOS would load.
"""

from __future__ import annotations

from pathlib import Path

import lief
import pytest
from support.stubtools import golden

from bundler.output import payload as pl
from bundler.output import stub as stubmod

# bundler target -> (LIEF CPU type, oldest macOS it declares)
TARGETS = {
    "macos-arm64": (lief.MachO.Header.CPU_TYPE.ARM64, [11, 0, 0]),
    "macos-x86_64": (lief.MachO.Header.CPU_TYPE.X86_64, [10, 13, 0]),
}


@pytest.fixture(scope="session", params=sorted(TARGETS))
def macos_stub(request, build_cache) -> tuple[str, Path]:
    return request.param, stubmod.stub_for(request.param, cache_dir=build_cache).path


#: LIEF frees a slice together with its FatBinary: keep every parsed file alive
_PARSED: list = []


def parse(path: Path) -> lief.MachO.Binary:
    lief.logging.disable()
    fat = lief.MachO.parse(str(path))
    assert fat is not None and fat.size == 1, "expected a thin Mach-O"
    _PARSED.append(fat)
    return fat.at(0)


def min_macos(binary: lief.MachO.Binary) -> list[int]:
    if binary.has_build_version:
        return list(binary.build_version.minos)
    return list(binary.version_min.version)


def test_stub_is_a_macos_executable_of_the_right_cpu(macos_stub):
    target, path = macos_stub
    cpu, oldest = TARGETS[target]
    assert path.name == f"bundler-stub-{target}"  # one variant, no suffix
    binary = parse(path)
    assert binary.header.cpu_type == cpu
    assert binary.header.file_type == lief.MachO.Header.FILE_TYPE.EXECUTE
    assert binary.has_main_command  # LC_MAIN: started by dyld like any program
    assert min_macos(binary) == oldest  # not Zig's default (the newest macOS)
    assert path.stat().st_size < 400_000


def test_stub_links_only_libsystem(macos_stub):
    _target, path = macos_stub
    binary = parse(path)
    assert [lib.name for lib in binary.libraries] == ["/usr/lib/libSystem.B.dylib"]
    imported = {s.name for s in binary.imported_symbols}
    # The macOS OS layer: its own path, directory paths, listing, exec.
    for symbol in ("__NSGetExecutablePath", "_fcntl", "___getdirentries64", "_execve", "_openat", "_renameat"):
        assert symbol in imported, symbol
    assert b"/proc/self/exe" not in path.read_bytes()  # the Linux layer is not in it


def test_arm64_stub_is_signed_ad_hoc(build_cache):
    """arm64 macOS runs only signed code; Zig's linker signs ad hoc."""
    binary = parse(stubmod.stub_for("macos-arm64", cache_dir=build_cache).path)
    assert binary.has_code_signature
    sig = binary.code_signature
    assert sig.data_size > 0 and sig.data_offset + sig.data_size <= binary.original_size


def test_artifact_keeps_the_stub_intact(macos_stub, tmp_path):
    """A payload appended after the stub (what onefile writes) leaves the Mach-O readable as before."""
    target, path = macos_stub
    artifact = tmp_path / "app"
    artifact.write_bytes(path.read_bytes() + golden.GOLDEN.read_bytes())
    binary = parse(artifact)
    assert binary.header.cpu_type == TARGETS[target][0] and binary.has_main_command
    trailer = pl.read_trailer(artifact)
    assert trailer.payload_offset == path.stat().st_size
    assert pl.read_manifest(artifact, trailer).app.name == "golden"
