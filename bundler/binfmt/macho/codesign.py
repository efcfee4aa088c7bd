"""Ad-hoc code signatures for Mach-O files, made and checked on any host.

An ad-hoc signature binds no identity: it is a CodeDirectory listing the
SHA-256 of every 4 KiB page of the image up to the signature, which arm64 macOS
requires of all code it runs. Its layout (all big-endian) is Apple's, from
``xnu/osfmk/kern/cs_blobs.h``:

* a SuperBlob (``CSMAGIC_EMBEDDED_SIGNATURE``) indexing the blobs below;
* the CodeDirectory (``CSMAGIC_CODEDIRECTORY``, version 0x20400: execSeg fields);
* an empty Requirements set (its hash sits in special slot -2);
* an empty CMS wrapper, as ``codesign -s -`` writes for ad-hoc signatures.

The signature lives at the end of ``__LINKEDIT``; ``LC_CODE_SIGNATURE``
points at it, and is added in the header padding when the file has none.
Signing with a real identity needs Apple's ``codesign``, so only a Mac can.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bundler import cachefs
from bundler.binfmt.macho.parse import (
    CPU_TYPE_ARM64,
    FAT_MAGIC_64,
    LC_CODE_SIGNATURE,
    LC_SEGMENT_64,
    MH_EXECUTE,
    Slice,
    header,
    load_commands,
    slices,
)
from bundler.errors import ConfigError, RelocationError

CSMAGIC_EMBEDDED_SIGNATURE = 0xFADE0CC0
CSMAGIC_CODEDIRECTORY = 0xFADE0C02
CSMAGIC_REQUIREMENTS = 0xFADE0C01
CSMAGIC_BLOBWRAPPER = 0xFADE0B01
CSMAGIC_EMBEDDED_ENTITLEMENTS = 0xFADE7171
CSMAGIC_EMBEDDED_DER_ENTITLEMENTS = 0xFADE7172

CSSLOT_CODEDIRECTORY = 0
CSSLOT_INFOSLOT = 1
CSSLOT_REQUIREMENTS = 2
CSSLOT_RESOURCEDIR = 3
CSSLOT_ENTITLEMENTS = 5
CSSLOT_DER_ENTITLEMENTS = 7
CSSLOT_ALTERNATE_CODEDIRECTORIES = 0x1000
CSSLOT_ALTERNATE_CODEDIRECTORY_MAX = 5
CSSLOT_SIGNATURESLOT = 0x10000

CS_ADHOC = 0x2
CS_LINKER_SIGNED = 0x20000
CS_EXECSEG_MAIN_BINARY = 0x1
CS_HASHTYPE_SHA1 = 1
CS_HASHTYPE_SHA256 = 2
CS_SUPPORTSEXECSEG = 0x20400

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
_HASHES = {CS_HASHTYPE_SHA1: ("sha1", 20), CS_HASHTYPE_SHA256: ("sha256", 32)}
#: segment alignment: __LINKEDIT's vmsize is rounded up to it
_SEGMENT_PAGE = {CPU_TYPE_ARM64: 0x4000}
_DEFAULT_SEGMENT_PAGE = 0x1000

_CD_HEADER = struct.Struct(">IIIIIIIIIBBBBIIIIQQQQ")  # CodeDirectory up to execSegFlags: 88 bytes
_BLOB = struct.Struct(">II")
_SEGMENT_64 = struct.Struct("<II16sQQQQiiII")
_LINKEDIT_DATA = struct.Struct("<IIII")
#: slot -2 hashes this empty requirement set
EMPTY_REQUIREMENTS = struct.pack(">III", CSMAGIC_REQUIREMENTS, 12, 0)
EMPTY_CMS_WRAPPER = _BLOB.pack(CSMAGIC_BLOBWRAPPER, 8)


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


@dataclass(frozen=True)
class BundleSeal:
    """What the main executable of an app bundle binds besides its own pages: the SHA-256 of the
    bundle's ``Contents/Info.plist`` (special slot -1) and of ``Contents/_CodeSignature/CodeResources``
    (slot -3), which in turn hashes every other file of the bundle."""

    info_plist: bytes
    code_resources: bytes

    @classmethod
    def of(cls, info_plist: bytes, code_resources: bytes) -> BundleSeal:
        return cls(hashlib.sha256(info_plist).digest(), hashlib.sha256(code_resources).digest())


@dataclass(frozen=True)
class _Segment:
    cmd_offset: int
    name: str
    vmsize: int
    fileoff: int
    filesize: int


@dataclass(frozen=True)
class _Layout:
    """What signing needs to know about one thin image."""

    cputype: int
    filetype: int
    ncmds: int
    sizeofcmds: int
    text: _Segment
    linkedit: _Segment
    #: offset of the LC_CODE_SIGNATURE command, and its (dataoff, datasize)
    signature_cmd: int | None
    signature: tuple[int, int] | None
    #: first byte after the header that belongs to a segment's content
    content_start: int


def _layout(image: bytes, name: str) -> _Layout:
    try:
        hdr = header(image)
        segments: list[_Segment] = []
        sig_cmd = None
        sig = None
        content_start = len(image)
        for lc in load_commands(image):
            if lc.cmd == LC_SEGMENT_64:
                _, _, segname, _, vmsize, fileoff, filesize, _, _, nsects, _ = _SEGMENT_64.unpack_from(lc.data)
                seg = _Segment(lc.offset, segname.rstrip(b"\0").decode(), vmsize, fileoff, filesize)
                segments.append(seg)
                if fileoff > 0 and filesize > 0:
                    content_start = min(content_start, fileoff)
                for i in range(nsects):  # section_64: offset at +48, size at +40, flags at +64
                    base = _SEGMENT_64.size + i * 80
                    size, offset = struct.unpack_from("<QI", lc.data, base + 40)
                    flags = struct.unpack_from("<I", lc.data, base + 64)[0]
                    if offset > 0 and size > 0 and flags & 0xFF not in (0x1, 0xC, 0x12):  # zerofill kinds
                        content_start = min(content_start, offset)
            elif lc.cmd == LC_CODE_SIGNATURE:
                sig_cmd = lc.offset
                _, _, dataoff, datasize = _LINKEDIT_DATA.unpack_from(lc.data)
                sig = (dataoff, datasize)
    except (ValueError, struct.error) as exc:
        raise RelocationError(f"{name}: cannot read its load commands ({exc}); is the file damaged?") from exc
    by_name = {s.name: s for s in segments}
    if "__TEXT" not in by_name or "__LINKEDIT" not in by_name:
        raise RelocationError(f"{name}: has no __TEXT or __LINKEDIT segment, so it cannot be signed; is it an object file?")
    return _Layout(hdr.cputype, hdr.filetype, hdr.ncmds, hdr.sizeofcmds, by_name["__TEXT"], by_name["__LINKEDIT"],
                   sig_cmd, sig, content_start)


def _special_slots(seal: BundleSeal | None) -> int:
    return CSSLOT_RESOURCEDIR if seal is not None else CSSLOT_REQUIREMENTS


def _code_directory(code: bytes, identifier: str, requirements: bytes, layout: _Layout,
                    seal: BundleSeal | None = None) -> bytes:
    ident = identifier.encode() + b"\0"
    n_special = _special_slots(seal)
    n_code = (len(code) + PAGE_SIZE - 1) // PAGE_SIZE
    hash_offset = _CD_HEADER.size + len(ident) + n_special * 32
    length = hash_offset + n_code * 32
    exec_flags = CS_EXECSEG_MAIN_BINARY if layout.filetype == MH_EXECUTE else 0
    head = _CD_HEADER.pack(
        CSMAGIC_CODEDIRECTORY, length, CS_SUPPORTSEXECSEG, CS_ADHOC, hash_offset, _CD_HEADER.size,
        n_special, n_code, len(code), 32, CS_HASHTYPE_SHA256, 0, PAGE_SHIFT, 0,  # spare2
        0, 0, 0, 0,  # scatterOffset, teamOffset, spare3, codeLimit64
        layout.text.fileoff, layout.text.filesize, exec_flags,
    )
    special = [b"\0" * 32] * n_special  # slot -n_special first; outside a bundle slot -1 (Info.plist) stays empty
    special[n_special - CSSLOT_REQUIREMENTS] = hashlib.sha256(requirements).digest()
    if seal is not None:
        special[n_special - CSSLOT_INFOSLOT] = seal.info_plist
        special[n_special - CSSLOT_RESOURCEDIR] = seal.code_resources
    pages = [hashlib.sha256(code[i : i + PAGE_SIZE]).digest() for i in range(0, len(code), PAGE_SIZE)]
    return head + ident + b"".join(special) + b"".join(pages)


def _superblob(blobs: list[tuple[int, bytes]]) -> bytes:
    index_end = 12 + 8 * len(blobs)
    index = b""
    offset = index_end
    for slot, blob in blobs:
        index += struct.pack(">II", slot, offset)
        offset += len(blob)
    return struct.pack(">III", CSMAGIC_EMBEDDED_SIGNATURE, offset, len(blobs)) + index + b"".join(b for _, b in blobs)


def _signature_size(identifier: str, code_limit: int, n_special: int = CSSLOT_REQUIREMENTS) -> int:
    n_code = (code_limit + PAGE_SIZE - 1) // PAGE_SIZE
    cd = _CD_HEADER.size + len(identifier.encode()) + 1 + (n_special + n_code) * 32
    return _align(12 + 3 * 8 + cd + len(EMPTY_REQUIREMENTS) + len(EMPTY_CMS_WRAPPER), 16)


def sign_image(image: bytes, identifier: str, name: str = "<image>", seal: BundleSeal | None = None) -> bytes:
    """Return the thin Mach-O *image* with a fresh ad-hoc signature (an existing one is replaced);
    with *seal*, as an app bundle's main executable binding its Info.plist and resources."""
    layout = _layout(image, name)
    buf = bytearray(image)
    linkedit_end = layout.linkedit.fileoff + layout.linkedit.filesize
    if layout.signature is not None:
        dataoff = layout.signature[0]
        if not layout.linkedit.fileoff <= dataoff <= linkedit_end:
            raise RelocationError(f"{name}: its LC_CODE_SIGNATURE points outside __LINKEDIT; the file is damaged")
        sig_cmd = layout.signature_cmd
    else:
        if any(buf[linkedit_end:]):
            raise RelocationError(
                f"{name}: has data after its __LINKEDIT segment, where the code signature must go; "
                "rebuild it without appended data"
            )
        dataoff = _align(linkedit_end, 16)
        sig_cmd = 32 + layout.sizeofcmds
        if sig_cmd + _LINKEDIT_DATA.size > layout.content_start:  # stale bytes in the padding are fine
            raise RelocationError(
                f"{name}: has no code signature and no room in its header to add one; relink it with "
                "-Wl,-headerpad_max_install_names (or sign it once with `codesign -s -` on a Mac) and build again"
            )
        struct.pack_into("<II", buf, 16, layout.ncmds + 1, layout.sizeofcmds + _LINKEDIT_DATA.size)
    datasize = _signature_size(identifier, dataoff, _special_slots(seal))
    del buf[dataoff:]
    buf.extend(b"\0" * (dataoff - len(buf)))
    struct.pack_into("<IIII", buf, sig_cmd, LC_CODE_SIGNATURE, _LINKEDIT_DATA.size, dataoff, datasize)
    filesize = dataoff + datasize - layout.linkedit.fileoff
    page = _SEGMENT_PAGE.get(layout.cputype, _DEFAULT_SEGMENT_PAGE)
    vmsize = max(layout.linkedit.vmsize, _align(filesize, page))
    struct.pack_into("<QQQ", buf, layout.linkedit.cmd_offset + 32, vmsize, layout.linkedit.fileoff, filesize)
    code = bytes(buf)
    cd = _code_directory(code, identifier, EMPTY_REQUIREMENTS, layout, seal)
    blob = _superblob([
        (CSSLOT_CODEDIRECTORY, cd),
        (CSSLOT_REQUIREMENTS, EMPTY_REQUIREMENTS),
        (CSSLOT_SIGNATURESLOT, EMPTY_CMS_WRAPPER),
    ])
    assert len(blob) <= datasize
    return code + blob + b"\0" * (datasize - len(blob))


def sign_with_payload(image: bytes, payload: bytes, identifier: str, name: str = "<image>") -> bytes:
    """The thin Mach-O executable *image* (signed or not) with *payload* appended inside its
    ``__LINKEDIT`` and a fresh ad-hoc signature after it, so the signature covers every byte before
    it, the payload included, and ends the file (a strict verifier accepts it; nothing follows).

    ``__LINKEDIT`` grows to hold the payload and zero padding to 16 bytes; ``LC_CODE_SIGNATURE``
    points past them. A reader finds the payload's trailer just before the signature (docs/FORMAT.md).
    """
    layout = _layout(image, name)
    if layout.filetype != MH_EXECUTE:
        raise RelocationError(f"{name}: is not an executable; only a program carries a payload")
    end = layout.signature[0] if layout.signature is not None else layout.linkedit.fileoff + layout.linkedit.filesize
    body = bytearray(image[:end])
    body += payload
    body += b"\0" * (_align(len(body), 16) - len(body))
    # __LINKEDIT now ends where the signature starts, and LC_CODE_SIGNATURE (if any yet) points there
    struct.pack_into("<Q", body, layout.linkedit.cmd_offset + 48, len(body) - layout.linkedit.fileoff)
    if layout.signature_cmd is not None:
        struct.pack_into("<I", body, layout.signature_cmd + 8, len(body))
    return sign_image(bytes(body), identifier, name)


def _assemble_universal(magic: int, parts: list[tuple[Slice, bytes]]) -> bytes:
    """A universal file of *parts* in order, each at its slice's alignment."""
    wide = magic == FAT_MAGIC_64
    entry = struct.Struct(">IIQQII" if wide else ">IIIII")
    offset = 8 + entry.size * len(parts)
    table = struct.pack(">II", magic, len(parts))
    body = bytearray()
    for sl, image in parts:
        start = _align(offset, 1 << sl.align)
        body.extend(b"\0" * (start - offset))
        fields = (sl.cputype, sl.cpusubtype, start, len(image), sl.align)
        table += entry.pack(*fields, 0) if wide else entry.pack(*fields)
        body.extend(image)
        offset = start + len(image)
    return table + bytes(body)


def sign_adhoc(path: Path, identifier: str | None = None, seal: BundleSeal | None = None) -> None:
    """Sign *path* (thin or universal, every slice) ad hoc in place; identifier defaults to its file name;
    *seal*: as the main executable of an app bundle."""
    ident = identifier or path.name
    data = path.read_bytes()
    parts = [(sl, data[sl.offset : sl.offset + sl.size]) for sl in slices(data, path)]
    signed = [(sl, sign_image(image, ident, str(path), seal)) for sl, image in parts]
    if len(signed) == 1 and signed[0][0].offset == 0:
        out = signed[0][1]
    else:
        (magic,) = struct.unpack_from(">I", data)
        out = _assemble_universal(magic, signed)
    with cachefs.replacing(path) as tmp:
        tmp.write_bytes(out)


def sign(path: Path, identity: str | None = None) -> None:
    """Sign *path*: ad hoc when *identity* is None, else with Apple's ``codesign`` (macOS hosts only)."""
    if identity is None:
        sign_adhoc(path)
        return
    tool = "/usr/bin/codesign"
    if sys.platform != "darwin" or not Path(tool).exists():
        raise ConfigError(
            f"{path}: signing with the identity {identity!r} needs Apple's codesign, which only a Mac has; "
            "build without a signing identity here (the runtime is signed ad hoc) and sign it on a Mac"
        )
    proc = subprocess.run([tool, "--force", "--sign", identity, str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RelocationError(f"{path}: codesign --sign {identity} failed: {proc.stderr.strip() or proc.returncode}")


# --- verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeDirectory:
    """The fields of a CodeDirectory that verification and tests look at."""

    version: int
    flags: int
    hash_type: int
    page_shift: int
    code_limit: int
    identifier: str
    special_hashes: tuple[bytes, ...]  # slot -1, -2, … (index 0 is slot -1)
    code_hashes: tuple[bytes, ...]
    exec_seg_base: int
    exec_seg_limit: int
    exec_seg_flags: int


@dataclass(frozen=True)
class Signature:
    """One slice's embedded signature: where it is, its blobs by slot, its CodeDirectories."""

    dataoff: int
    datasize: int
    blobs: tuple[tuple[int, bytes], ...]
    code_directories: tuple[CodeDirectory, ...]


def _parse_code_directory(blob: bytes, name: str) -> CodeDirectory:
    magic, length, version, flags, hash_offset, ident_offset, n_special, n_code, code_limit = struct.unpack_from(
        ">IIIIIIIII", blob
    )
    hash_size, hash_type, _platform, page_shift = struct.unpack_from(">BBBB", blob, 36)
    if hash_type not in _HASHES or _HASHES[hash_type][1] != hash_size:
        raise RelocationError(f"{name}: its CodeDirectory uses hash type {hash_type}, which bundler cannot check")
    base = limit = seg_flags = 0
    if version >= CS_SUPPORTSEXECSEG:
        base, limit, seg_flags = struct.unpack_from(">QQQ", blob, 64)
    if version >= 0x20300:
        (code_limit64,) = struct.unpack_from(">Q", blob, 56)
        code_limit = code_limit64 or code_limit
    ident = blob[ident_offset:].split(b"\0", 1)[0].decode("utf-8", "replace")
    if hash_offset + n_code * hash_size > length or hash_offset < n_special * hash_size:
        raise RelocationError(f"{name}: its CodeDirectory is truncated; sign it again")
    special = tuple(blob[hash_offset - i * hash_size : hash_offset - (i - 1) * hash_size] for i in range(1, n_special + 1))
    code = tuple(blob[hash_offset + i * hash_size : hash_offset + (i + 1) * hash_size] for i in range(n_code))
    return CodeDirectory(version, flags, hash_type, page_shift, code_limit, ident, special, code, base, limit, seg_flags)


def read_signature(image: bytes, name: str = "<image>") -> Signature:
    """The embedded signature of a thin image; a :class:`RelocationError` if it has none or it is malformed."""
    layout = _layout(image, name)
    if layout.signature is None:
        raise RelocationError(f"{name}: has no code signature (LC_CODE_SIGNATURE); sign it before shipping it")
    dataoff, datasize = layout.signature
    data = image[dataoff : dataoff + datasize]
    if len(data) < 12 or dataoff + datasize > len(image):
        raise RelocationError(f"{name}: its code signature runs past the end of the file; sign it again")
    magic, length, count = struct.unpack_from(">III", data)
    if magic != CSMAGIC_EMBEDDED_SIGNATURE or length > datasize or 12 + 8 * count > length:
        raise RelocationError(f"{name}: its code signature is not an embedded-signature SuperBlob; sign it again")
    blobs: list[tuple[int, bytes]] = []
    for i in range(count):
        slot, offset = struct.unpack_from(">II", data, 12 + 8 * i)
        if offset + 8 > length:
            raise RelocationError(f"{name}: its code signature's blob index is damaged; sign it again")
        _, blen = _BLOB.unpack_from(data, offset)
        blobs.append((slot, bytes(data[offset : offset + blen])))
    cds = tuple(
        _parse_code_directory(blob, name)
        for slot, blob in blobs
        if slot == CSSLOT_CODEDIRECTORY
        or CSSLOT_ALTERNATE_CODEDIRECTORIES <= slot < CSSLOT_ALTERNATE_CODEDIRECTORIES + CSSLOT_ALTERNATE_CODEDIRECTORY_MAX
    )
    if not cds:
        raise RelocationError(f"{name}: its code signature has no CodeDirectory; sign it again")
    return Signature(dataoff, datasize, tuple(blobs), cds)


def verify_image(image: bytes, name: str = "<image>") -> Signature:
    """Recompute every page hash and in-signature special-slot hash of a thin image's signature."""
    sig = read_signature(image, name)
    layout = _layout(image, name)
    linkedit_end = layout.linkedit.fileoff + layout.linkedit.filesize
    if sig.dataoff + sig.datasize > linkedit_end:
        raise RelocationError(f"{name}: its code signature lies outside __LINKEDIT; sign it again")
    by_slot = dict(sig.blobs)
    for cd in sig.code_directories:
        algo = _HASHES[cd.hash_type][0]
        if cd.code_limit != sig.dataoff:
            raise RelocationError(
                f"{name}: its code signature covers {cd.code_limit} bytes, not the {sig.dataoff} before it; sign it again"
            )
        page = 1 << cd.page_shift if cd.page_shift else max(cd.code_limit, 1)
        code = image[: cd.code_limit]
        if len(cd.code_hashes) != (len(code) + page - 1) // page:
            raise RelocationError(f"{name}: its code signature lists {len(cd.code_hashes)} pages for {len(code)} bytes")
        for i, recorded in enumerate(cd.code_hashes):
            if hashlib.new(algo, code[i * page : (i + 1) * page]).digest() != recorded:
                raise RelocationError(
                    f"{name}: page {i} (bytes {i * page:#x}-{min((i + 1) * page, len(code)):#x}) does not match "
                    "its code signature; the file was changed after signing, sign it again"
                )
        for slot in (CSSLOT_REQUIREMENTS, CSSLOT_ENTITLEMENTS, CSSLOT_DER_ENTITLEMENTS):
            if slot > len(cd.special_hashes):
                if slot in by_slot:
                    raise RelocationError(f"{name}: its code signature has blob {slot} but no hash of it; sign it again")
                continue
            recorded = cd.special_hashes[slot - 1]
            blob = by_slot.get(slot)
            expected = hashlib.new(algo, blob).digest() if blob is not None else b"\0" * len(recorded)
            if recorded != expected:
                raise RelocationError(f"{name}: special slot -{slot} does not match its blob; sign it again")
    return sig


def verify_adhoc(path: Path | str) -> None:
    """Refuse *path* unless every slice's signature hashes match its content.

    Page hashes and the hashes of blobs inside the signature (requirements,
    entitlements) are recomputed; a certificate chain, if any, is not checked,
    nor are hashes of files outside the binary (Info.plist, resources).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RelocationError(f"{path}: cannot read it to check its code signature ({exc.strerror})") from exc
    for sl in slices(data, path):
        verify_image(data[sl.offset : sl.offset + sl.size], f"{path} ({sl.arch})" if sl.offset else str(path))

