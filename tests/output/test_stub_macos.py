"""The macOS stub (stubs/sys_macos.zig), cross-built for arm64 and x86_64.

Running it needs a macOS kernel (and dyld), which this Linux host does not
have and cannot emulate, so these tests check what can be checked without
one: the real stub, built by bundler.output.stub.build_stub, read back with LIEF as
the Mach-O executable macOS would load; a single file made of it verified by
rcodesign; and the stub's reader (stubs/artifact.zig) built for this host, in
place of the macOS stub, reading that file.
"""

from __future__ import annotations

import subprocess
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


# --- the single file: its payload inside __LINKEDIT, the code signature over every byte -------------


@pytest.fixture(scope="module")
def host_reader(tmp_path_factory) -> Path:
    from support.stubtools import host_reader as build

    return build(tmp_path_factory.mktemp("reader"))


def _sealed(stub: Path, tmp_path: Path) -> Path:
    """A macOS single file as the pipeline writes it: the real stub, the golden block sealed into it."""
    from support.stubtools import build_block, make_tree

    from bundler.binfmt.macho.codesign import sign_with_payload

    block = build_block(make_tree(tmp_path / "tree"))
    out = tmp_path / "app-macos"
    out.write_bytes(sign_with_payload(stub.read_bytes(), block, out.name))
    return out


def _rcodesign(path: Path) -> list[str]:
    """rcodesign's verifier over the whole file, less its complaint that an ad-hoc signature has no
    CMS data (it says that of every ad-hoc signature, its own included: tests/binfmt/test_macho.py)."""
    import apple_platform

    return [p["description"] for p in apple_platform.verify_macho(str(path)) if "CMS" not in p["description"]]


def test_the_signature_covers_the_payload_and_ends_the_file(macos_stub, tmp_path, host_reader):
    from bundler.binfmt.macho.codesign import verify_adhoc

    _target, stub = macos_stub
    app = _sealed(stub, tmp_path)
    data = app.read_bytes()
    sig = pl.macho_signature(data[:pl.HEAD_SIZE], len(data))
    trailer = pl.read_trailer(app)
    assert sig is not None and trailer.manifest_offset + trailer.manifest_length + pl.TRAILER_SIZE <= sig < len(data)
    assert sig - (trailer.manifest_offset + trailer.manifest_length + pl.TRAILER_SIZE) <= pl.MAX_MACHO_PADDING
    binary = parse(app)
    linkedit = binary.get_segment("__LINKEDIT")
    assert linkedit.file_offset <= trailer.payload_offset and linkedit.file_offset + linkedit.file_size == len(data)
    assert binary.code_signature.data_offset == sig
    assert _rcodesign(app) == []  # a strict verifier: every byte up to the signature is hashed, nothing after it
    verify_adhoc(app)
    assert pl.verify(app).app.name == "stubtest"  # bundler's reader finds the trailer before the signature
    # the stub's own reader (artifact.zig, built for this host) reads the manifest and every frame
    proc = subprocess.run([str(host_reader), str(app)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "frames" in proc.stdout, proc.stderr


def test_a_flipped_payload_byte_breaks_the_signature(macos_stub, tmp_path):
    from bundler.binfmt.macho.codesign import verify_adhoc
    from bundler.errors import RelocationError

    _target, stub = macos_stub
    app = _sealed(stub, tmp_path)
    data = bytearray(app.read_bytes())
    data[pl.read_trailer(app).payload_offset + 10] ^= 0x01
    app.write_bytes(bytes(data))
    assert any("digest mismatch" in p for p in _rcodesign(app))
    with pytest.raises(RelocationError):
        verify_adhoc(app)
