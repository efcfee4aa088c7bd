"""The single-file payload: entries → layers of zstd frames → manifest → trailer.

docs/FORMAT.md is the specification; this module is its Python writer and
reader. The reader serves ``bundler inspect --verify`` and the tests; the stub
(stubs/) is the other reader.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import posixpath
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import zstandard

from bundler import cachefs
from bundler.errors import PayloadError
from bundler.output import manifest as mf
from bundler.output.manifest import (
    FORMAT_VERSION,
    LAYERS,
    MAX_PATH,
    Frame,
    Layer,
    Manifest,
    check_path,
)

MAGIC = b"BUNDLER\0"
END_MAGIC = b"BNDLEND\0"
TRAILER = struct.Struct("<8sII QQ 32s 24x 8s")
TRAILER_SIZE = TRAILER.size  # 96
HEADER = struct.Struct("<B3xII4xQ")  # kind, mode, path length, data length: 24 bytes
DIR, FILE, SYMLINK = 1, 2, 3
FRAME_SIZE = 8 << 20
COMPLETE_MARKER = ".bundler-complete"

assert TRAILER_SIZE == 96 and HEADER.size == 24


@dataclass(frozen=True)
class Entry:
    path: str
    kind: int
    mode: int
    source: Path | None = None  # regular files
    target: str | None = None  # symlinks


@dataclass(frozen=True)
class Trailer:
    payload_offset: int
    payload_length: int
    manifest_offset: int
    manifest_length: int
    manifest_sha256: bytes


# ---------------------------------------------------------------- validation


def check_link(path: str, target: str) -> None:
    """A symlink target must be relative and stay inside the root."""
    if not target or target.startswith("/") or "\0" in target or not mf.is_text(target):
        raise PayloadError(f"{path}: symlink to {target!r} is absolute, empty or not plain UTF-8 text; only relative links inside the runtime are allowed")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if resolved == ".." or resolved.startswith("../"):
        raise PayloadError(f"{path}: symlink to {target!r} leaves the runtime")


# ---------------------------------------------------------------- writing


def scan_tree(root: Path) -> list[Entry]:
    """Every entry under *root*, sorted by path."""
    entries: list[Entry] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
            check_path(rel)
            st = os.lstat(full)
            if os.path.islink(full):
                target = os.readlink(full)
                check_link(rel, target)
                entries.append(Entry(rel, SYMLINK, 0o777, target=target))
            elif os.path.isdir(full):
                entries.append(Entry(rel, DIR, 0o755))
            elif os.path.isfile(full):
                entries.append(Entry(rel, FILE, 0o755 if st.st_mode & 0o111 else 0o644, source=Path(full)))
            else:
                raise PayloadError(f"{rel}: not a regular file, directory or symlink")
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    entries.sort(key=lambda e: e.path)
    return entries


def encode(entry: Entry, data: bytes = b"") -> bytes:
    path = entry.path.encode("utf-8", "surrogateescape")
    if entry.kind == SYMLINK:
        data = (entry.target or "").encode("utf-8", "surrogateescape")
    elif entry.kind == DIR:
        data = b""
    return HEADER.pack(entry.kind, entry.mode, len(path), len(data)) + path + data


def frames_of(entries: Iterable[Entry], frame_size: int = FRAME_SIZE) -> Iterator[bytes]:
    """Uncompressed frames of whole entries, each at most *frame_size* unless one entry is larger.

    A frame ends before an entry that would take it past *frame_size*, so a large file
    (the stdlib zip, libpython) is a frame of its own and the frames are of a size: a
    first run unpacks them on every CPU, largest first, and the CPUs finish together.
    """
    buf = io.BytesIO()
    for entry in entries:
        data = entry.source.read_bytes() if entry.kind == FILE and entry.source else b""
        encoded = encode(entry, data)
        if buf.tell() and buf.tell() + len(encoded) > frame_size:
            yield buf.getvalue()
            buf = io.BytesIO()
        buf.write(encoded)
    if buf.tell():
        yield buf.getvalue()


class FrameCache:
    """Compressed frames keyed by the uncompressed content and the level.

    A cached frame file is ``FRAME_MAGIC``, the SHA-256 of the compressed
    bytes, then those bytes; the digest is checked on every use, so a
    truncated or damaged file (a build killed while writing, a full disk) is
    removed and the frame compressed again. Files are published whole
    (cachefs); two builds compressing the same frame write the same bytes.
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def _path(self, data: bytes, level: int) -> Path | None:
        if self.directory is None:
            return None
        key = hashlib.sha256(data).hexdigest()
        return self.directory / key[:2] / f"{key}-l{level}-z{zstandard.ZSTD_VERSION[0]}.{zstandard.ZSTD_VERSION[1]}.frame"

    def get(self, data: bytes, level: int) -> bytes | None:
        path = self._path(data, level)
        if path is None or not path.is_file():
            return None
        try:
            blob = path.read_bytes()
        except OSError:
            return None
        head = len(FRAME_MAGIC) + 32
        body = blob[head:]
        if blob[: len(FRAME_MAGIC)] == FRAME_MAGIC and blob[len(FRAME_MAGIC):head] == hashlib.sha256(body).digest():
            cachefs.mark_used(path)
            return body
        path.unlink(missing_ok=True)
        return None

    def put(self, data: bytes, level: int, compressed: bytes) -> None:
        path = self._path(data, level)
        if path is None:
            return
        try:
            cachefs.write_file(path, FRAME_MAGIC + hashlib.sha256(compressed).digest() + compressed)
        except OSError:
            pass  # the cache is an optimisation: a full disk must not fail the build


#: the first bytes of a cached frame file (FrameCache)
FRAME_MAGIC = b"bundler-frame-1\n"


#: bytes fed to zstd at a time, so that progress moves within a frame
CHUNK = 1 << 20


def compress(data: bytes, level: int, advance: Callable[[int], None] = lambda n: None) -> bytes:
    """One zstd frame (content size and checksum written), fed in chunks; *advance* gets each chunk's size."""
    params = zstandard.ZstdCompressionParameters.from_level(
        level, source_size=len(data), write_checksum=True, write_content_size=True
    )
    out = io.BytesIO()
    view = memoryview(data)
    with zstandard.ZstdCompressor(compression_params=params).stream_writer(out, size=len(data), closefd=False) as w:
        for start in range(0, len(data), CHUNK):
            w.write(view[start:start + CHUNK])
            advance(min(CHUNK, len(data) - start))
    return out.getvalue()


def compress_frames(
    frames: Sequence[bytes], level: int, cache: FrameCache, progress: Callable[[int, int], None] = lambda d, t: None
) -> list[tuple[bytes, bool]]:
    """Compress frames on every CPU (zstd releases the GIL); (bytes, was_cached) in *frames* order.

    *progress(done, total)* counts uncompressed bytes, so it moves while a big
    frame is compressed. The largest frames start first, so that one big frame
    at the end does not keep a single CPU busy while the others idle.
    """
    total = sum(map(len, frames))
    done = 0
    lock = threading.Lock()

    def advance(n: int) -> None:
        nonlocal done
        with lock:
            done += n
            progress(done, total)

    def one(data: bytes) -> tuple[bytes, bool]:
        hit = cache.get(data, level)
        if hit is not None:
            advance(len(data))
            return hit, True
        out = compress(data, level, advance)
        cache.put(data, level, out)
        return out, False

    order = sorted(range(len(frames)), key=lambda i: -len(frames[i]))
    results: list[tuple[bytes, bool] | None] = [None] * len(frames)
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        for i, result in zip(order, pool.map(lambda i: one(frames[i]), order)):
            results[i] = result
    return [r for r in results if r is not None]


@dataclass(frozen=True)
class PackResult:
    layers: tuple[Layer, ...]
    payload_sha256: str
    payload_length: int
    uncompressed_size: int
    file_count: int
    frames_compressed: int
    frames_cached: int

    def payload(self) -> mf.Payload:
        """The manifest's description of these bytes."""
        return mf.Payload(self.payload_length, self.payload_sha256, self.uncompressed_size, self.file_count, self.layers)


def pack(
    layered: Mapping[str, Sequence[Entry]],
    out,
    *,
    level: int,
    cache: FrameCache,
    frame_size: int = FRAME_SIZE,
    progress: Callable[[int, int], None] = lambda d, t: None,
) -> PackResult:
    """Write the payload (all frames of all layers, in LAYERS order) to *out*."""
    seen: set[str] = set()
    plans: list[tuple[str, list[Entry], list[bytes]]] = []
    for name in LAYERS:
        entries = list(layered.get(name, ()))
        for e in entries:
            if e.path in seen:
                raise PayloadError(f"{e.path}: appears twice in the payload")
            seen.add(e.path)
        plans.append((name, entries, list(frames_of(entries, frame_size))))
    all_frames = [f for _n, _e, frames in plans for f in frames]
    compressed = compress_frames(all_frames, level, cache, progress)
    digest = hashlib.sha256()
    offset = 0
    layers: list[Layer] = []
    k = 0
    for name, entries, frames in plans:
        infos = []
        for raw in frames:
            data, _cached = compressed[k]
            k += 1
            out.write(data)
            digest.update(data)
            infos.append(Frame(offset, len(data), len(raw), hashlib.sha256(data).hexdigest()))
            offset += len(data)
        layers.append(
            Layer(
                name=name,
                files=sum(1 for e in entries if e.kind != DIR),
                uncompressed_size=sum(len(f) for f in frames),
                frames=tuple(infos),
            )
        )
    return PackResult(
        layers=tuple(layers),
        payload_sha256=digest.hexdigest(),
        payload_length=offset,
        uncompressed_size=sum(l.uncompressed_size for l in layers),
        file_count=sum(l.files for l in layers),
        frames_compressed=sum(1 for _d, c in compressed if not c),
        frames_cached=sum(1 for _d, c in compressed if c),
    )


def write_block(
    layered: Mapping[str, Sequence[Entry]],
    out,
    manifest: Manifest,
    *,
    level: int,
    cache: FrameCache,
    frame_size: int = FRAME_SIZE,
    progress: Callable[[int, int], None] = lambda d, t: None,
) -> tuple[PackResult, Manifest]:
    """Write everything that follows the stub: payload, *manifest* with its payload fields, trailer."""
    packed = pack(layered, out, level=level, cache=cache, frame_size=frame_size, progress=progress)
    full = dataclasses.replace(manifest, payload=packed.payload())
    raw = mf.to_bytes(full)
    out.write(raw)
    out.write(trailer_bytes(packed.payload_length, raw))
    return packed, full


def trailer_bytes(payload_length: int, manifest: bytes) -> bytes:
    return TRAILER.pack(
        MAGIC, FORMAT_VERSION, TRAILER_SIZE, payload_length, len(manifest),
        hashlib.sha256(manifest).digest(), END_MAGIC,
    )


# ---------------------------------------------------------------- reading


#: how much of the file's start the signature checks read (the stub's head_size): PE headers, or a
#: Mach-O header and its load commands
HEAD_SIZE = 4096
#: osslsigncode and signtool align the certificate table to 8 bytes with zeros
MAX_CERT_PADDING = 7
#: bundler aligns the code signature after a Mach-O single file's payload to 16 bytes with zeros
MAX_MACHO_PADDING = 15
MH_MAGIC_64 = 0xFEEDFACF
LC_CODE_SIGNATURE = 0x1D


def certificate_table(head: bytes, size: int) -> int | None:
    """The file offset of a PE image's certificate table (IMAGE_DIRECTORY_ENTRY_SECURITY: an
    Authenticode signature appended to the file), if *head* (the file's first bytes) is a PE image
    whose table is non-empty and ends exactly at *size*; else None. Mirrors stubs/artifact.zig."""
    if len(head) < 0x40 or head[:2] != b"MZ":
        return None
    pe = int.from_bytes(head[0x3C:0x40], "little")
    opt = pe + 24  # "PE\0\0" and the 20-byte COFF file header
    if len(head) - pe < 24 + 2 or head[pe:pe + 4] != b"PE\0\0":
        return None
    dirs = {0x10B: 96, 0x20B: 112}.get(int.from_bytes(head[opt:opt + 2], "little"))  # PE32, PE32+
    if dirs is None:
        return None
    security = opt + dirs + 4 * 8  # data directory 4: (file offset, size)
    if len(head) < security + 8:
        return None
    count = int.from_bytes(head[opt + dirs - 4:opt + dirs], "little")
    if count <= 4 or int.from_bytes(head[pe + 20:pe + 22], "little") < dirs + 5 * 8:
        return None
    start, length = struct.unpack_from("<II", head, security)
    return start if length and start + length == size else None


def macho_signature(head: bytes, size: int) -> int | None:
    """The file offset of a thin 64-bit Mach-O file's code signature, if *head* holds its header and
    load commands and the signature ends exactly at *size* (the payload then lies inside
    ``__LINKEDIT``, before it); else None. Mirrors stubs/artifact.zig."""
    if len(head) < 32 or int.from_bytes(head[:4], "little") != MH_MAGIC_64:
        return None
    ncmds, sizeofcmds = struct.unpack_from("<II", head, 16)
    end = 32 + sizeofcmds
    if end > len(head):
        return None
    off = 32
    for _ in range(ncmds):
        if off + 8 > end:
            return None
        cmd, cmdsize = struct.unpack_from("<II", head, off)
        if cmdsize < 8 or off + cmdsize > end:
            return None
        if cmd == LC_CODE_SIGNATURE:
            if cmdsize < 16:
                return None
            dataoff, datasize = struct.unpack_from("<II", head, off + 8)
            return dataoff if datasize and dataoff + datasize == size else None
        off += cmdsize
    return None


def cert_padding(tail: bytes, max_pad: int = MAX_CERT_PADDING) -> int | None:
    """How many zero bytes (at most *max_pad*) end *tail* (the bytes before a signature) after the
    trailer's end magic; None if anything else is there."""
    for pad in range(min(max_pad, len(tail) - len(END_MAGIC)) + 1):
        if tail[:len(tail) - pad].endswith(END_MAGIC):
            return pad
        if tail[len(tail) - pad - 1] != 0:
            return None
    return None


def trailer_end(path: Path) -> int:
    """Where the trailer ends: the end of the file; in a signed Windows file the start of its
    certificate table, in a macOS file the start of its code signature, less their zero padding
    (docs/FORMAT.md)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(HEAD_SIZE)
        table, max_pad = certificate_table(head, size), MAX_CERT_PADDING
        if table is None:
            table, max_pad = macho_signature(head, size), MAX_MACHO_PADDING
        if table is None:
            return size
        want = min(max_pad + len(END_MAGIC), table)
        f.seek(table - want)
        pad = cert_padding(f.read(want), max_pad)
    if pad is None:
        raise PayloadError(f"{path}: no bundler trailer before its signature: something else was added between "
                           "them (damaged); build and sign it again")
    return table - pad


def read_trailer(path: Path) -> Trailer:
    end = trailer_end(path)
    if end < TRAILER_SIZE:
        raise PayloadError(f"{path}: too small to be a bundler artifact (truncated?)")
    with open(path, "rb") as f:
        f.seek(end - TRAILER_SIZE)
        raw = f.read(TRAILER_SIZE)
    magic, version, tsize, p_len, m_len, m_sha, end_magic = TRAILER.unpack(raw)
    if magic != MAGIC or end_magic != END_MAGIC:
        raise PayloadError(f"{path}: no bundler trailer at the end (not an artifact, or truncated)")
    if version != FORMAT_VERSION or tsize != TRAILER_SIZE:
        raise PayloadError(f"{path}: format version {version}; this bundler reads version {FORMAT_VERSION}")
    if p_len + m_len + TRAILER_SIZE > end:
        raise PayloadError(f"{path}: trailer lengths exceed the file size (truncated or damaged)")
    m_off = end - TRAILER_SIZE - m_len
    return Trailer(m_off - p_len, p_len, m_off, m_len, m_sha)


def read_manifest_json(path: Path, trailer: Trailer | None = None) -> dict:
    """The manifest as the JSON object it is (unknown keys kept), checksum checked, strictly decoded."""
    trailer = trailer or read_trailer(path)
    with open(path, "rb") as f:
        f.seek(trailer.manifest_offset)
        raw = f.read(trailer.manifest_length)
    if hashlib.sha256(raw).digest() != trailer.manifest_sha256:
        raise PayloadError(f"{path}: manifest checksum mismatch (damaged file)")
    return mf.load_json(raw, str(path))


def read_manifest(path: Path, trailer: Trailer | None = None) -> Manifest:
    """The typed manifest, checked by the rules the stub applies before it runs anything."""
    trailer = trailer or read_trailer(path)
    return mf.parse(read_manifest_json(path, trailer), str(path), payload_length=trailer.payload_length)


def _ancestors(parent: str) -> list[str]:
    """"a/b/c" -> ["a", "a/b", "a/b/c"]; "" -> []."""
    parts = parent.split("/") if parent else []
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def decode(frame: bytes) -> Iterator[tuple[int, int, str, bytes]]:
    """(kind, mode, path, data) for each entry of an uncompressed frame, validated."""
    pos = 0
    while pos < len(frame):
        if pos + HEADER.size > len(frame):
            raise PayloadError("entry header runs past the end of its frame")
        kind, mode, plen, dlen = HEADER.unpack_from(frame, pos)
        pos += HEADER.size
        if kind not in (DIR, FILE, SYMLINK) or pos + plen + dlen > len(frame):
            raise PayloadError("malformed entry in frame")
        path = frame[pos:pos + plen].decode("utf-8", "surrogateescape")
        pos += plen
        data = frame[pos:pos + dlen]
        pos += dlen
        check_path(path)
        if kind == SYMLINK:
            check_link(path, data.decode("utf-8", "surrogateescape"))
        yield kind, mode & 0o777, path, data


def _payload_of(path: Path, manifest: Manifest) -> mf.Payload:
    if manifest.payload is None:  # read_manifest always sets it; a hand-made Manifest may not
        raise PayloadError(f"{path}: the manifest has no payload fields; not a single file")
    return manifest.payload


def iter_frames(path: Path, manifest: Manifest, trailer: Trailer, *, verify: bool = True) -> Iterator[tuple[str, bytes]]:
    """(layer name, uncompressed frame) in payload order, hashes checked (parse checked the offsets)."""
    dctx = zstandard.ZstdDecompressor()
    with open(path, "rb") as f:
        for layer in _payload_of(path, manifest).layers:
            for fr in layer.frames:
                f.seek(trailer.payload_offset + fr.offset)
                data = f.read(fr.length)
                if verify and hashlib.sha256(data).hexdigest() != fr.sha256:
                    raise PayloadError(f"{path}: layer {layer.name} frame at {fr.offset} is damaged (sha256 mismatch)")
                try:
                    plain = dctx.decompress(data, max_output_size=fr.uncompressed_size)
                except zstandard.ZstdError as exc:
                    raise PayloadError(f"{path}: layer {layer.name} frame does not decompress ({exc})") from exc
                if len(plain) != fr.uncompressed_size:  # the stub refuses a size that lies, in either direction
                    raise PayloadError(f"{path}: layer {layer.name} frame at {fr.offset} has {len(plain)} bytes, "
                                       f"not {fr.uncompressed_size}")
                yield layer.name, plain


#: how much of a frame the streaming reader holds at a time
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class StreamedEntry:
    """One entry as :func:`iter_entries` reads it: a file's data comes as *chunks*, which must be
    read before the next entry (what is left unread is skipped)."""

    kind: int
    mode: int
    path: str
    target: str | None  # symlinks
    chunks: Iterator[bytes]
    #: bytes the entry takes in its frame, uncompressed: header, path and data
    stored: int = 0
    #: the frame it is in, counted from 0 across the whole payload
    frame: int = 0


class _Slice:
    """*length* bytes of an open file from its current position, as a readable stream."""

    def __init__(self, f, length: int) -> None:
        self.f, self.left = f, length

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(self.left if n < 0 else min(n, self.left))
        self.left -= len(data)
        return data


def iter_entries(path: Path, manifest: Manifest, trailer: Trailer,
                 payload_digest: Callable[[bytes], object] | None = None) -> Iterator[StreamedEntry]:
    """Every entry of the payload in order, validated, a frame at a time and a file's data a chunk
    at a time: memory stays a few MB whatever a frame declares (the stub streams the same way).
    Each frame's SHA-256 is checked before zstd reads a byte of it; *payload_digest* (a hash's
    ``update``), if given, is fed every compressed byte in payload order."""
    dctx = zstandard.ZstdDecompressor()
    index = 0
    with open(path, "rb") as f:
        for layer in _payload_of(path, manifest).layers:
            for fr in layer.frames:
                start = trailer.payload_offset + fr.offset
                f.seek(start)
                digest, source = hashlib.sha256(), _Slice(f, fr.length)
                while chunk := source.read(READ_CHUNK):
                    digest.update(chunk)
                    if payload_digest is not None:
                        payload_digest(chunk)
                if source.left or digest.hexdigest() != fr.sha256:
                    raise PayloadError(f"{path}: layer {layer.name} frame at {fr.offset} is damaged (sha256 mismatch)")
                f.seek(start)
                reader = dctx.stream_reader(_Slice(f, fr.length), read_across_frames=True)
                yield from _frame_entries(reader, fr, f"{path}: layer {layer.name} frame at {fr.offset}", index)
                index += 1


def _frame_entries(reader, fr: Frame, where: str, index: int = 0) -> Iterator[StreamedEntry]:
    got = 0

    def read(n: int) -> bytes:
        nonlocal got
        parts, want = [], n
        while want:
            try:
                data = reader.read(want)
            except zstandard.ZstdError as exc:
                raise PayloadError(f"{where} does not decompress ({exc})") from exc
            if not data:
                break
            parts.append(data)
            want -= len(data)
        data = b"".join(parts)
        got += len(data)
        if got > fr.uncompressed_size:
            raise PayloadError(f"{where} has more than {fr.uncompressed_size} bytes")
        return data

    def exactly(n: int) -> bytes:
        data = read(n)
        if len(data) != n:
            raise PayloadError(f"{where}: an entry runs past the end of its frame")
        return data

    while head := read(HEADER.size):
        if len(head) != HEADER.size:
            raise PayloadError(f"{where}: an entry runs past the end of its frame")
        kind, mode, plen, dlen = HEADER.unpack(head)
        if kind not in (DIR, FILE, SYMLINK) or not 0 < plen <= MAX_PATH:
            raise PayloadError(f"{where}: malformed entry")
        name = exactly(plen).decode("utf-8", "surrogateescape")
        try:
            check_path(name)
            target = None
            if kind == SYMLINK:
                if dlen > MAX_PATH:
                    raise PayloadError(f"{name}: symlink target longer than {MAX_PATH} bytes")
                target = exactly(dlen).decode("utf-8", "surrogateescape")
                check_link(name, target)
        except PayloadError as exc:
            raise PayloadError(f"{where}: {exc}") from None
        chunks = _data(exactly, dlen if kind == FILE else 0)
        yield StreamedEntry(kind, mode & 0o777, name, target, chunks, HEADER.size + plen + dlen, index)
        for _ in chunks:  # what the reader left unread
            pass
        if kind == DIR and dlen:
            for _ in _data(exactly, dlen):
                pass
    if got != fr.uncompressed_size:
        raise PayloadError(f"{where} has {got} bytes, not {fr.uncompressed_size}")


def _data(exactly, size: int) -> Iterator[bytes]:
    while size:
        chunk = exactly(min(size, READ_CHUNK))
        size -= len(chunk)
        yield chunk


def read_file(path: Path, name: str) -> bytes | None:
    """The data of the regular file *name* in the payload of the single file at *path* (frames checked
    on the way), None if it holds no such file."""
    trailer = read_trailer(path)
    manifest = read_manifest(path, trailer)
    for entry in iter_entries(path, manifest, trailer):
        if entry.path == name and entry.kind == FILE:
            return b"".join(entry.chunks)
    return None


def verify(path: Path) -> Manifest:
    """Check everything: trailer, manifest, payload hash, every frame and entry."""
    trailer = read_trailer(path)
    manifest = read_manifest(path, trailer)
    check_payload(path, trailer, manifest)
    return manifest


def check_payload(path: Path, trailer: Trailer, manifest: Manifest) -> None:
    """Check the payload that *trailer* and *manifest* (already read and parsed) describe: its hash,
    every frame's hash and content, every entry, no path twice."""
    digest = hashlib.sha256()  # the frames tile the payload in order: hashing them hashes it
    kinds: dict[str, int] = {}
    links: dict[str, str] = {}
    for entry in iter_entries(path, manifest, trailer, payload_digest=digest.update):
        if entry.path in kinds:
            raise PayloadError(f"{path}: {entry.path} appears twice in the payload")
        kinds[entry.path] = entry.kind
        if entry.target is not None:
            links[entry.path] = entry.target
    if digest.hexdigest() != _payload_of(path, manifest).sha256:
        raise PayloadError(f"{path}: payload checksum mismatch (damaged file)")
    try:
        check_tree(kinds, links)
    except PayloadError as exc:
        raise PayloadError(f"{path}: {exc}") from None


def check_tree(kinds: dict[str, int], links: dict[str, str]) -> None:
    """The payload's entries as a whole (FORMAT.md, the stub's rules): nothing under a file or a
    symlink, no entry named like the cache's completion marker, no symlink target that goes up
    with ".." after passing through another symlink (from there ".." is resolved from where that
    link points, not lexically)."""
    if COMPLETE_MARKER in kinds:
        raise PayloadError(f"the payload contains the reserved name {COMPLETE_MARKER}")
    for p in kinds:
        parts = p.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if kinds.get(parent, DIR) != DIR:
                raise PayloadError(f"{p} lies under a file or a symlink of the payload")
    for p, target in links.items():
        resolved = p.split("/")[:-1]
        through = None  # the first symlink the walk went through
        for part in target.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if through is not None:
                    raise PayloadError(f"the symlink {p} goes up ('..') after the symlink {through}")
                resolved.pop()  # check_link kept it inside the root
                continue
            resolved.append(part)
            if through is None and "/".join(resolved) in links:
                through = "/".join(resolved)


def extract(path: Path, dest: Path) -> Manifest:
    """Python reference extractor (tests, tooling); the stub is the fast one.

    Everything is checked first (:func:`check_payload`: the stub's rules), then
    written without following a link: a parent that is not a real directory
    created here stops the extraction.
    """
    trailer = read_trailer(path)
    manifest = read_manifest(path, trailer)
    check_payload(path, trailer, manifest)
    dest.mkdir(parents=True, exist_ok=False)
    made = {""}  # directories this extraction created (runtime-relative)
    for entry in iter_entries(path, manifest, trailer):
        p = entry.path
        target = dest / p
        for d in _ancestors(posixpath.dirname(p)):
            if d not in made:
                os.mkdir(dest / d)  # never through a link: an existing name here is an error
                made.add(d)
        if entry.kind == DIR:
            if p not in made:
                os.mkdir(target)
                made.add(p)
            os.chmod(target, entry.mode)  # a directory this extraction made, never a link
        elif entry.target is not None:
            os.symlink(entry.target, target)
        else:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, entry.mode)
            with os.fdopen(fd, "wb") as fh:
                for chunk in entry.chunks:
                    fh.write(chunk)
    return manifest
