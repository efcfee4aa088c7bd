"""Mach-O reading, rewriting and ad-hoc signing on real files compiled by zig cc.

No macOS kernel is available here, so nothing is executed: the files are checked
by reading them back with LIEF, by bundler's own verifier, and by rcodesign
(apple-platform-rs, through apple-platform-py) as an independent second opinion.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import apple_platform
import lief
import pytest
from support.native import macho_dylib, universal, zig_cc

from bundler.binfmt.interface import BinaryEdit, BinaryInfo
from bundler.binfmt.macho import codesign
from bundler.binfmt.macho.format import MachOFormat, MachOResolver, unique_name
from bundler.binfmt.macho.parse import (
    LC_CODE_SIGNATURE,
    header,
    load_commands,
    macos_floor,
    minimum_macos,
    slices,
)
from bundler.errors import BundlerError, ConfigError, RelocationError
from bundler.relocate.policy import load_policy

lief.logging.disable()

FOO_ID = "/opt/homebrew/opt/foo/lib/libfoo.1.dylib"
NEW_FOO = "@rpath/libfoo-1a2b3c4d.1.dylib"
BUNDLED = "@executable_path/../lib/bundled"
LIBSYSTEM = "/usr/lib/libSystem.B.dylib"
MAIN_C = "int foo(void);\nint main(void) { return foo() == 42 ? 0 : 1; }\n"
FOO_C = "int foo(void) { return 42; }\n"


@dataclass(frozen=True)
class Built:
    target: str
    arch: str
    minimum: str
    build: Path  # the absolute build dir the app's LC_RPATH names
    dylib: Path
    app: Path


TARGETS = [("aarch64-macos.11.0", "arm64", "11.0"), ("x86_64-macos.10.15", "x86_64", "10.15")]


@pytest.fixture(scope="module", params=TARGETS, ids=[t[1] for t in TARGETS])
def built(request, tmp_path_factory) -> Built:
    target, arch, minimum = request.param
    build = tmp_path_factory.mktemp(f"build-{arch}")
    dylib = macho_dylib(build / "libfoo.1.dylib", FOO_ID, FOO_C, target=target)
    app = zig_cc(build / "app", {"main.c": MAIN_C}, str(dylib), f"-Wl,-rpath,{build}", target=target)
    return Built(target, arch, minimum, build, dylib, app)


def _copy(src: Path, dest_dir: Path) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(src, dest_dir / src.name))


#: LIEF objects (commands, segments) point into their parsed file without keeping it alive
_PARSED: list[lief.MachO.FatBinary] = []


def _lief(path: Path) -> lief.MachO.Binary:
    fat = lief.MachO.parse(str(path))
    assert fat is not None and fat.size == 1
    _PARSED.append(fat)
    return fat.at(0)


def _rcodesign_problems(path: Path) -> list[str]:
    """rcodesign's verifier, less its complaint that an ad-hoc signature has no CMS data.

    It reports that for every ad-hoc signature, including those rcodesign makes
    itself (see test_rcodesign_agrees_with_our_code_directory).
    """
    return [p["description"] for p in apple_platform.verify_macho(str(path)) if "CMS" not in p["description"]]


def _section_bytes(data: bytes) -> tuple[int, int]:
    """(start, end) of the segment content between the header padding and __LINKEDIT."""
    layout = codesign._layout(data, "x")
    return layout.content_start, layout.linkedit.fileoff


# --- reading ------------------------------------------------------------------------------------


def test_read_executable_and_dylib(built):
    fmt = MachOFormat()
    app = fmt.read(built.app)
    assert app == BinaryInfo(soname=None, needed=(LIBSYSTEM, FOO_ID), rpath=(str(built.build),), runpath=(),
                             interpreter=None, machine=built.arch)
    lib = fmt.read(built.dylib)
    assert lib.soname == FOO_ID and lib.needed == (LIBSYSTEM,) and lib.rpath == () and lib.machine == built.arch
    assert fmt.machine(built.app) == fmt.machine(built.dylib) == built.arch
    assert fmt.name == "macho"


def test_is_binary_only_for_macho(built, tmp_path):
    fmt = MachOFormat()
    assert fmt.is_binary(built.app) and fmt.is_binary(built.dylib)
    elf = zig_cc(tmp_path / "elf", {"m.c": "int main(void){return 0;}"}, target="x86_64-linux-gnu.2.17")
    (tmp_path / "text").write_text("int foo(void);\n")
    # a Java class file also starts with 0xCAFEBABE; its second word is a version ≥ 45, not an arch count
    (tmp_path / "A.class").write_bytes(struct.pack(">II", 0xCAFEBABE, 0x34) + b"\0" * 64)
    os.symlink(built.dylib, tmp_path / "libfoo.dylib")
    for p in ("elf", "text", "A.class", "libfoo.dylib", "missing"):
        assert not fmt.is_binary(tmp_path / p), p
    assert elf.exists()


def test_weak_dependency_is_needed_in_order(tmp_path):
    bar = macho_dylib(tmp_path / "libbar.dylib", "/usr/local/lib/libbar.dylib", FOO_C.replace("foo", "bar"),
                      target="x86_64-macos.10.15")
    foo = macho_dylib(tmp_path / "libfoo.1.dylib", FOO_ID, FOO_C, target="x86_64-macos.10.15")
    app = zig_cc(tmp_path / "app", {"main.c": MAIN_C}, str(foo), f"-L{tmp_path}", "-weak-lbar",
                 target="x86_64-macos.10.15")
    weak = [c for c in _lief(app).commands if c.command == lief.MachO.LoadCommand.TYPE.LOAD_WEAK_DYLIB]
    assert [c.name for c in weak] == ["/usr/local/lib/libbar.dylib"]
    assert MachOFormat().read(app).needed == (LIBSYSTEM, "/usr/local/lib/libbar.dylib", FOO_ID)
    assert bar.exists()


def test_minimum_macos(built, tmp_path):
    assert minimum_macos(built.app) == minimum_macos(built.dylib) == built.minimum
    old = macho_dylib(tmp_path / "libold.dylib", "/x/libold.dylib", FOO_C, target="x86_64-macos.10.13")
    new = macho_dylib(tmp_path / "libnew.dylib", "/x/libnew.dylib", FOO_C, target="x86_64-macos.12.3")
    # 10.13 is written as LC_VERSION_MIN_MACOSX, newer ones as LC_BUILD_VERSION
    assert lief.MachO.LoadCommand.TYPE.VERSION_MIN_MACOSX in [c.command for c in _lief(old).commands]
    assert minimum_macos(old) == "10.13" and minimum_macos(new) == "12.3"
    assert macos_floor([old, built.app, new]) == "12.3"
    assert macos_floor([old]) == "10.13" and macos_floor([]) is None


def test_minimum_macos_refuses_other_apple_platforms(built, tmp_path):
    data = bytearray(built.dylib.read_bytes())
    build_version = next(lc for lc in load_commands(bytes(data)) if lc.cmd == 0x32)
    struct.pack_into("<I", data, build_version.offset + 8, 2)  # PLATFORM_IOS
    ios = tmp_path / "libios.dylib"
    ios.write_bytes(data)
    with pytest.raises(RelocationError, match="libios.dylib: is built for Apple platform 2, not macOS"):
        minimum_macos(ios)


def test_unique_name():
    assert unique_name("libfoo.1.dylib", "1a2b3c4d5e6f") == "libfoo-1a2b3c4d.1.dylib"
    assert unique_name("/opt/homebrew/opt/foo/lib/libfoo.1.dylib", "1a2b3c4d5e6f") == "libfoo-1a2b3c4d.1.dylib"
    assert unique_name("libbar.dylib", "deadbeef00") == "libbar-deadbeef.dylib"
    assert unique_name("libpython3.11.dylib", "deadbeef00") == "libpython3.11-deadbeef.dylib"
    assert unique_name("libz.1.2.13.dylib", "deadbeef00") == "libz-deadbeef.1.2.13.dylib"
    assert unique_name("libtcl8.6.dylib", "deadbeef00") == "libtcl8.6-deadbeef.dylib"
    assert unique_name("@rpath/Python.framework/Versions/3.12/Python", "deadbeef00") == "Python-deadbeef"


def test_policy_keeps_the_shared_cache():
    policy = load_policy("macos")
    assert policy.is_system(LIBSYSTEM)
    assert policy.is_system("/usr/lib/swift/libswiftCore.dylib")
    assert policy.is_system("/System/Library/Frameworks/CoreFoundation.framework/Versions/A/CoreFoundation")
    assert not policy.is_system(FOO_ID)
    assert not policy.is_system("/usr/local/lib/libfoo.dylib")
    assert not policy.is_system(NEW_FOO)


# --- rewriting ----------------------------------------------------------------------------------


def test_apply_rewrites_every_load_command_and_signs(built, tmp_path):
    fmt = MachOFormat()
    app = _copy(built.app, tmp_path / "bin")
    lib = _copy(built.dylib, tmp_path / "lib" / "bundled")
    before = {p: p.read_bytes() for p in (app, lib)}
    fmt.apply(app, BinaryEdit(replace_needed=((FOO_ID, NEW_FOO),), runpath=(BUNDLED,)))
    fmt.apply(lib, BinaryEdit(soname=NEW_FOO, runpath=("@loader_path",)))

    T = lief.MachO.LoadCommand.TYPE
    for path, rpaths in ((app, [BUNDLED]), (lib, ["@loader_path"])):
        binary = _lief(path)
        for cmd in binary.commands:  # no build path (nor the old prefix) anywhere in any load command
            assert str(built.build).encode() not in bytes(cmd.data), cmd.command
            assert b"/opt/homebrew" not in bytes(cmd.data), cmd.command
        assert [c.path for c in binary.commands if c.command == T.RPATH] == rpaths
        assert binary.has_code_signature
        assert str(built.build).encode() not in path.read_bytes()[: header(path.read_bytes()).sizeofcmds + 32]
        # code and data were not moved or touched: only the header and __LINKEDIT's end changed
        start, end = _section_bytes(before[path])
        assert _section_bytes(path.read_bytes()) == (start, end)
        assert path.read_bytes()[start:end] == before[path][start:end]
        assert os.access(path, os.X_OK)
    app_bin, lib_bin = _lief(app), _lief(lib)
    assert [c.name for c in app_bin.libraries] == [LIBSYSTEM, NEW_FOO]
    assert [c.name for c in lib_bin.commands if c.command == T.ID_DYLIB] == [NEW_FOO]
    assert [c.name for c in lib_bin.libraries if c.command != T.ID_DYLIB] == [LIBSYSTEM]
    assert fmt.read(app) == BinaryInfo(None, (LIBSYSTEM, NEW_FOO), (BUNDLED,), (), None, machine=built.arch)
    assert fmt.read(lib).soname == NEW_FOO
    assert minimum_macos(app) == built.minimum  # LC_BUILD_VERSION survived

    for path in (app, lib):
        codesign.verify_adhoc(path)
        sig = codesign.read_signature(path.read_bytes())
        cd = sig.code_directories[0]
        lc = _lief(path).code_signature
        assert (lc.data_offset, lc.data_size) == (sig.dataoff, sig.datasize)
        assert cd.code_limit == sig.dataoff  # the whole file up to the signature is covered
        assert len(cd.code_hashes) == -(-sig.dataoff // 4096)
        assert path.stat().st_size == sig.dataoff + sig.datasize
        linkedit = _lief(path).get_segment("__LINKEDIT")
        assert linkedit.file_offset + linkedit.file_size == sig.dataoff + sig.datasize
        assert linkedit.virtual_size >= linkedit.file_size
        assert cd.identifier == path.name
        assert _rcodesign_problems(path) == []


def test_code_directory_fields(built, tmp_path):
    app = _copy(built.app, tmp_path)
    lib = _copy(built.dylib, tmp_path)
    for p in (app, lib):
        codesign.sign_adhoc(p)
    text = _lief(app).get_segment("__TEXT")
    cd = codesign.read_signature(app.read_bytes()).code_directories[0]
    assert cd.version >= 0x20400 and cd.flags == codesign.CS_ADHOC
    assert cd.hash_type == codesign.CS_HASHTYPE_SHA256 and cd.page_shift == 12
    assert (cd.exec_seg_base, cd.exec_seg_limit) == (text.file_offset, text.file_size)
    assert cd.exec_seg_flags == codesign.CS_EXECSEG_MAIN_BINARY  # an MH_EXECUTE
    assert cd.special_hashes[0] == b"\0" * 32  # slot -1: no Info.plist
    assert cd.special_hashes[1] == hashlib.sha256(codesign.EMPTY_REQUIREMENTS).digest()  # slot -2
    assert codesign.read_signature(lib.read_bytes()).code_directories[0].exec_seg_flags == 0
    blobs = dict(codesign.read_signature(app.read_bytes()).blobs)
    assert sorted(blobs) == [codesign.CSSLOT_CODEDIRECTORY, codesign.CSSLOT_REQUIREMENTS, codesign.CSSLOT_SIGNATURESLOT]


def test_verify_catches_one_flipped_byte(built, tmp_path):
    app = _copy(built.app, tmp_path)
    MachOFormat().apply(app, BinaryEdit(replace_needed=((FOO_ID, NEW_FOO),), runpath=(BUNDLED,)))
    codesign.verify_adhoc(app)
    text = _lief(app).get_section("__text")
    data = bytearray(app.read_bytes())
    data[text.offset + 1] ^= 0x01
    app.write_bytes(data)
    with pytest.raises(RelocationError, match=rf"{app.name}: page {text.offset // 4096} .*does not match"):
        codesign.verify_adhoc(app)
    assert any("digest mismatch" in p for p in _rcodesign_problems(app))  # the second opinion agrees

    # the requirements blob is covered too (special slot -2)
    codesign.sign_adhoc(app)
    sig = codesign.read_signature(app.read_bytes())
    data = bytearray(app.read_bytes())
    reqs_at = sig.dataoff + data[sig.dataoff :].index(codesign.EMPTY_REQUIREMENTS)
    data[reqs_at + 11] = 1  # the requirement count
    app.write_bytes(data)
    with pytest.raises(RelocationError, match="special slot -2"):
        codesign.verify_adhoc(app)


def test_verify_accepts_zigs_linker_signature_and_refuses_unsigned(built):
    data = built.app.read_bytes()
    has_signature = any(lc.cmd == LC_CODE_SIGNATURE for lc in load_commands(data))
    if built.arch == "arm64":  # zig signs arm64 output (linker-signed, ad hoc) and leaves x86_64 unsigned
        assert has_signature
        codesign.verify_adhoc(built.app)
        cd = codesign.read_signature(data).code_directories[0]
        assert cd.flags & codesign.CS_ADHOC and cd.flags & codesign.CS_LINKER_SIGNED
    else:
        assert not has_signature
        with pytest.raises(RelocationError, match="has no code signature"):
            codesign.verify_adhoc(built.app)


def test_sign_adds_a_signature_command_when_missing(tmp_path):
    lib = macho_dylib(tmp_path / "libfoo.1.dylib", FOO_ID, FOO_C, target="x86_64-macos.10.15")
    hdr = header(lib.read_bytes())
    assert LC_CODE_SIGNATURE not in [lc.cmd for lc in load_commands(lib.read_bytes())]
    codesign.sign_adhoc(lib)
    data = lib.read_bytes()
    assert header(data).ncmds == hdr.ncmds + 1 and header(data).sizeofcmds == hdr.sizeofcmds + 16
    assert [lc.cmd for lc in load_commands(data)][-1] == LC_CODE_SIGNATURE
    codesign.verify_adhoc(lib)
    assert _lief(lib).has_code_signature and _rcodesign_problems(lib) == []
    again = tmp_path / "again.dylib"
    shutil.copy(lib, again)
    codesign.sign_adhoc(again, identifier=lib.name)
    assert again.read_bytes() == data  # deterministic, and re-signing replaces rather than appends


def test_sign_refuses_a_header_without_room(tmp_path):
    app = zig_cc(tmp_path / "app", {"main.c": "int main(void){return 0;}"}, "-Wl,-headerpad,0",
                 target="x86_64-macos.10.15")
    before = app.read_bytes()
    with pytest.raises(RelocationError, match=r"app: has no code signature and no room .*headerpad_max_install_names"):
        codesign.sign_adhoc(app)
    assert app.read_bytes() == before


def test_rcodesign_agrees_with_our_code_directory(built, tmp_path):
    """rcodesign and bundler sign the same input: same CodeDirectory but for the page-0 hash.

    Page 0 holds the header, where the two differ only in the space reserved for
    the signature (rcodesign reserves extra), hence LC_CODE_SIGNATURE's datasize
    and __LINKEDIT's size.
    """
    ours = _copy(built.app, tmp_path / "ours")
    theirs = _copy(built.app, tmp_path / "theirs")
    codesign.sign_adhoc(ours)
    apple_platform.sign(str(theirs), binary_identifier=theirs.name)
    a = codesign.read_signature(ours.read_bytes())
    b = codesign.read_signature(theirs.read_bytes())
    cd_a, cd_b = a.code_directories[0], b.code_directories[0]
    assert cd_a.code_hashes[1:] == cd_b.code_hashes[1:] and len(cd_a.code_hashes) == len(cd_b.code_hashes)
    assert cd_a.special_hashes == cd_b.special_hashes
    for field in ("version", "flags", "hash_type", "page_shift", "code_limit", "identifier",
                  "exec_seg_base", "exec_seg_limit", "exec_seg_flags"):
        assert getattr(cd_a, field) == getattr(cd_b, field), field
    assert [s for s, _ in a.blobs] == [s for s, _ in b.blobs]
    # each verifier accepts the other's signature
    codesign.verify_adhoc(theirs)
    assert _rcodesign_problems(ours) == []
    # and rcodesign's ad-hoc output draws the same CMS remark that _rcodesign_problems drops
    assert any("CMS" in p["description"] for p in apple_platform.verify_macho(str(theirs)))


def test_apply_errors_name_the_file(built, tmp_path):
    fmt = MachOFormat()
    app = _copy(built.app, tmp_path)
    with pytest.raises(RelocationError, match=r"app: has no load command for /opt/homebrew/lib/libnope.dylib"):
        fmt.apply(app, BinaryEdit(replace_needed=(("/opt/homebrew/lib/libnope.dylib", NEW_FOO),)))
    with pytest.raises(RelocationError, match=r"app: is not a dylib"):
        fmt.apply(app, BinaryEdit(soname=NEW_FOO))
    assert app.read_bytes() == built.app.read_bytes()
    assert not list(tmp_path.glob("*.bundler-*"))


def test_long_install_names_grow_the_commands(built, tmp_path):
    lib = _copy(built.dylib, tmp_path)
    long_id = "@rpath/" + "x" * 150 + "/libfoo-1a2b3c4d.1.dylib"
    MachOFormat().apply(lib, BinaryEdit(soname=long_id, runpath=("@loader_path/" + "../" * 40 + "lib",)))
    assert MachOFormat().read(lib).soname == long_id
    codesign.verify_adhoc(lib)
    assert _rcodesign_problems(lib) == []


def test_refuses_32_bit(built, tmp_path):
    data = bytearray(built.dylib.read_bytes())
    struct.pack_into("<I", data, 0, 0xFEEDFACE)  # MH_MAGIC: a 32-bit image
    old = tmp_path / "lib32.dylib"
    old.write_bytes(data)
    assert MachOFormat().is_binary(old)
    with pytest.raises(RelocationError, match="lib32.dylib: is a 32-bit Mach-O file"):
        MachOFormat().read(old)


# --- universal files ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> dict[str, Built]:
    out = {}
    for target, arch, minimum in TARGETS:
        build = tmp_path_factory.mktemp(f"both-{arch}")
        dylib = macho_dylib(build / "libfoo.1.dylib", FOO_ID, FOO_C, target=target)
        app = zig_cc(build / "app", {"main.c": MAIN_C}, str(dylib), f"-Wl,-rpath,{build}", target=target)
        out[arch] = Built(target, arch, minimum, build, dylib, app)
    return out


def test_universal_read_and_apply_every_slice(both, tmp_path):
    fat = universal(tmp_path / "libfoo.1.dylib", both["arm64"].dylib, both["x86_64"].dylib)
    assert [s.arch for s in slices(fat.read_bytes())] == ["arm64", "x86_64"]
    assert MachOFormat().machine(fat) == "arm64+x86_64"
    assert MachOFormat(arch="x86_64").machine(fat) == "x86_64"
    info = MachOFormat(arch="arm64").read(fat)
    assert info.soname == FOO_ID and info.machine == "arm64"
    assert minimum_macos(fat) == "11.0" and minimum_macos(fat, "x86_64") == "10.15"

    MachOFormat().apply(fat, BinaryEdit(soname=NEW_FOO, runpath=("@loader_path",)))
    parsed = lief.MachO.parse(str(fat))
    _PARSED.append(parsed)
    assert parsed.size == 2
    for i in range(2):
        binary = parsed.at(i)
        assert [c.name for c in binary.commands if c.command == lief.MachO.LoadCommand.TYPE.ID_DYLIB] == [NEW_FOO]
        assert binary.has_code_signature
    codesign.verify_adhoc(fat)
    assert _rcodesign_problems(fat) == []
    for sl in slices(fat.read_bytes()):
        assert sl.offset % (1 << sl.align) == 0
        cd = codesign.read_signature(fat.read_bytes()[sl.offset : sl.offset + sl.size]).code_directories[0]
        assert cd.identifier == "libfoo.1.dylib"

    # the resolver takes a universal library for a binary of either architecture
    for arch in ("arm64", "x86_64"):
        needing = BinaryInfo(None, (str(fat),), (), (), None, machine=arch)
        assert MachOResolver().search(str(fat), needing, tmp_path) == fat

    data = bytearray(fat.read_bytes())
    data[slices(bytes(data))[1].offset + 0x1000] ^= 0xFF  # damage the x86_64 slice only
    fat.write_bytes(data)
    with pytest.raises(RelocationError, match=r"\(x86_64\): page 1 "):
        codesign.verify_adhoc(fat)


def test_universal_with_different_slices_needs_an_arch(both, tmp_path):
    mixed = universal(tmp_path / "mixed", both["arm64"].dylib, both["x86_64"].app)
    with pytest.raises(RelocationError, match="mixed: the slices of this universal file link different libraries"):
        MachOFormat().read(mixed)
    assert MachOFormat(arch="x86_64").read(mixed).needed == (LIBSYSTEM, FOO_ID)
    with pytest.raises(RelocationError, match="has no arm64e slice"):
        MachOFormat(arch="arm64e").read(mixed)


# --- resolving ----------------------------------------------------------------------------------


def test_resolver_absolute_names_under_a_sysroot(built, tmp_path):
    mac = tmp_path / "mac"
    lib = _copy(built.dylib, mac / "opt/homebrew/opt/foo/lib")
    info = MachOFormat().read(built.app)
    assert not Path(FOO_ID).exists()  # the Mac's /opt/homebrew is not on this machine
    found = MachOResolver(sysroots=(mac,)).search(FOO_ID, info, built.app.parent)
    assert found == lib
    assert MachOResolver().search(FOO_ID, info, built.app.parent) is None
    # only a file with a slice for the needing binary's machine counts
    other = "x86_64" if built.arch == "arm64" else "arm64"
    other_info = dataclasses.replace(info, machine=other)
    assert MachOResolver(sysroots=(mac,)).search(FOO_ID, other_info, built.app.parent) is None
    assert MachOResolver(sysroots=(mac,), arch=other).search(FOO_ID, info, built.app.parent) is None
    assert MachOResolver(sysroots=(mac,), arch=built.arch).search(FOO_ID, other_info, built.app.parent) == lib
    # an absolute name that exists as-is on this machine
    assert MachOResolver().search(str(built.dylib), info, tmp_path) == built.dylib


def test_resolver_rpath_loader_and_executable_path(built, tmp_path):
    root = tmp_path / "rt"
    app = _copy(built.app, root / "bin")
    lib = _copy(built.dylib, root / "lib" / "bundled")
    (root / "lib" / "bundled" / "libfoo-1a2b3c4d.1.dylib").symlink_to(lib.name)  # Homebrew-style link
    (root / "lib" / "libtext.dylib").write_text("not a Mach-O\n")
    fmt = MachOFormat()
    fmt.apply(app, BinaryEdit(replace_needed=((FOO_ID, NEW_FOO),), runpath=(BUNDLED,)))
    info = fmt.read(app)
    r = MachOResolver(executable_dir=app.parent)
    assert r.search(NEW_FOO, info, app.parent) == root / "lib/bundled/libfoo-1a2b3c4d.1.dylib"
    # @executable_path is unknown without the executable's directory
    assert MachOResolver().search(NEW_FOO, info, app.parent) is None
    assert r.search("@loader_path/../lib/bundled/libfoo.1.dylib", info, app.parent) == lib
    assert r.search("@executable_path/../lib/bundled/libfoo.1.dylib", info, tmp_path) == lib
    assert r.search("@loader_path/../lib/libtext.dylib", info, app.parent) is None  # not Mach-O
    assert r.search("@rpath/libnothere.dylib", info, app.parent) is None
    assert r.search("libfoo.1.dylib", info, lib.parent) is None  # bare names are relative to dyld's cwd

    # the original app: an absolute LC_RPATH to the build dir
    orig = fmt.read(built.app)
    assert MachOResolver().search("@rpath/libfoo.1.dylib", orig, built.app.parent) == built.dylib
    # an absolute LC_RPATH is a path on the Mac: looked for under the sysroot first
    mac_lib = _copy(built.dylib, tmp_path / "mac" / str(built.build).lstrip("/"))
    assert MachOResolver(sysroots=(tmp_path / "mac",)).search(
        "@rpath/libfoo.1.dylib", orig, built.app.parent) == mac_lib

    # a dylib with no LC_RPATH of its own does not find @rpath names through the executable's:
    # relocation gives every binary its own search path
    plugin = BinaryInfo(soname=None, needed=(NEW_FOO,), rpath=(), runpath=(), interpreter=None, machine=built.arch)
    assert r.search(NEW_FOO, plugin, root / "lib/python/site-packages") is None


# --- signing hook -------------------------------------------------------------------------------


def test_sign_hook(built, tmp_path):
    app = _copy(built.app, tmp_path)
    codesign.sign(app)  # None: ad hoc
    codesign.verify_adhoc(app)
    with pytest.raises(ConfigError, match=r"app: signing with the identity 'Developer ID Application: X' needs Apple's codesign, which only a Mac has") as exc:
        codesign.sign(app, "Developer ID Application: X")
    assert isinstance(exc.value, BundlerError)
