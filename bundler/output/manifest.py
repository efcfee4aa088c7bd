"""The manifest every output carries (docs/FORMAT.md), as a typed model with one strict reader.

The single file holds it before its trailer (with ``stub`` and ``payload``);
a runtime directory or archive holds it as ``bundler.json`` (without them).
:func:`parse` applies the rules the stub applies before it writes anything:
exact JSON types (``"137"`` and ``137.0`` are not integers, ``true`` is not 1),
no duplicate keys, a harmless app name, relative ``/``-separated paths for the
interpreter and the entry points, a default entry that exists, 64-hex digests
and frames that tile the payload exactly. Whatever it refuses is one
:class:`~bundler.errors.PayloadError` line naming the file and the field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar

from bundler.errors import PayloadError

FORMAT_VERSION = 1
MAX_PATH = 4096
MAX_INT = (1 << 63) - 1  # the stub reads sizes and offsets as u64; nothing real comes near i64
LAYERS = ("runtime", "dependencies", "app")


@dataclass(frozen=True)
class App:
    name: str
    version: str


@dataclass(frozen=True)
class Python:
    version: str
    executable: str  # relative to the runtime root


@dataclass(frozen=True)
class Build:
    bundler: str
    source_date_epoch: int


@dataclass(frozen=True)
class StubRecord:
    """Which program stands before the payload (informational: the stub does not read it)."""

    target: str
    variant: str
    sha256: str
    zig: str
    source_sha256: str
    prebuilt: bool


@dataclass(frozen=True)
class Frame:
    offset: int  # relative to the payload
    length: int
    uncompressed_size: int
    sha256: str  # of the compressed bytes


@dataclass(frozen=True)
class Layer:
    name: str
    files: int
    uncompressed_size: int
    frames: tuple[Frame, ...]

    @property
    def key(self) -> str | None:
        """The layer's content address in the end user's cache (the stub's `layers.keyOf`): the
        first 32 hex digits of the SHA-256 of its frame digests, each followed by a newline.
        Layers with the same key are unpacked once and linked into every tree that has them."""
        if not self.frames:
            return None
        return hashlib.sha256("".join(f"{f.sha256}\n" for f in self.frames).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Payload:
    """What the single file's manifest says about the bytes before it."""

    length: int
    sha256: str
    uncompressed_size: int
    file_count: int
    layers: tuple[Layer, ...]

    @property
    def key(self) -> str:
        """The cache directory name: the payload digest's first 16 hex digits."""
        return self.sha256[:16]


@dataclass(frozen=True)
class WheelRecord:
    """A wheel installed into the runtime: from the lock (*sha256* is the lock's) or built from the
    project (*sha256* None: a local build's bytes are not pinned by anything)."""

    name: str
    version: str
    file: str
    sha256: str | None


@dataclass(frozen=True)
class VendoredRecord:
    """A library relocation copied in from the build machine: where it is now, where it came from."""

    path: str  # relative to the runtime root
    origin: str  # the build machine's file


@dataclass(frozen=True)
class LeftOut:
    """What the build left out of the runtime on purpose, by one rule (the report shows it)."""

    what: str
    files: int
    size: int


@dataclass(frozen=True)
class Contents:
    """Where the runtime's parts came from: the build report's and inspect's record of them."""

    wheels: tuple[WheelRecord, ...] = ()
    vendored_libraries: tuple[VendoredRecord, ...] = ()
    left_out: tuple[LeftOut, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.wheels or self.vendored_libraries or self.left_out)

    def to_json(self) -> dict:
        return {
            "wheels": [{"name": w.name, "version": w.version, "file": w.file, "sha256": w.sha256}
                       for w in self.wheels],
            "vendored_libraries": [{"path": v.path, "origin": v.origin} for v in self.vendored_libraries],
            "left_out": [{"what": l.what, "files": l.files, "size": l.size} for l in self.left_out],
        }


@dataclass(frozen=True)
class Manifest:
    app: App
    target: str
    python: Python
    entry_points: tuple[tuple[str, str], ...] = ()  # (name, launcher path), in manifest order
    default_entry: str | None = None
    glibc_floor: str | None = None
    macos_minimum: str | None = None
    gui: bool = False
    build: Build | None = None
    excluded_libraries: tuple[str, ...] = ()
    contents: Contents = Contents()
    #: the runtime-relative path of the CycloneDX SBOM inside the runtime (None: an output from before SBOMs)
    sbom: str | None = None
    stub: StubRecord | None = None  # the single file only
    payload: Payload | None = None  # the single file only
    format: int = FORMAT_VERSION
    extra: Mapping[str, object] = field(default_factory=dict, compare=False)  # keys this reader does not know

    @property
    def entries(self) -> dict[str, str]:
        return dict(self.entry_points)

    def to_json(self) -> dict:
        """The JSON object FORMAT.md describes (unknown keys that were read are kept)."""
        out: dict[str, object] = dict(self.extra)
        out.update(
            format=self.format,
            app={"name": self.app.name, "version": self.app.version},
            target=self.target,
            glibc_floor=self.glibc_floor,
            macos_minimum=self.macos_minimum,
            python={"version": self.python.version, "executable": self.python.executable},
            entry_points=dict(self.entry_points),
            default_entry=self.default_entry,
            gui=self.gui,
        )
        if self.build is not None:
            out["build"] = {"bundler": self.build.bundler, "source_date_epoch": self.build.source_date_epoch}
        if self.excluded_libraries:  # only then: other artifacts keep their bytes
            out["excluded_libraries"] = list(self.excluded_libraries)
        if self.contents:
            out["contents"] = self.contents.to_json()
        if self.sbom is not None:
            out["sbom"] = self.sbom
        if self.stub is not None:
            s = self.stub
            out["stub"] = {"target": s.target, "variant": s.variant, "sha256": s.sha256, "zig": s.zig,
                           "source_sha256": s.source_sha256, "prebuilt": s.prebuilt}
        if self.payload is not None:
            p = self.payload
            out.update(
                payload={"length": p.length, "sha256": p.sha256},
                uncompressed_size=p.uncompressed_size,
                file_count=p.file_count,
                layers=[
                    {"name": l.name, "files": l.files, "uncompressed_size": l.uncompressed_size,
                     "frames": [{"offset": f.offset, "length": f.length, "uncompressed_size": f.uncompressed_size,
                                 "sha256": f.sha256} for f in l.frames]}
                    for l in p.layers
                ],
            )
        return out


def to_bytes(manifest: Manifest) -> bytes:
    """The single file's manifest bytes: compact, sorted keys, UTF-8 (deterministic)."""
    return json.dumps(manifest.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def to_text(manifest: Manifest) -> str:
    """``bundler.json`` of a runtime directory or archive: sorted keys, indented."""
    return json.dumps(manifest.to_json(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- reading


def loads(raw: bytes | str, where: str) -> Manifest:
    """Parse manifest JSON text strictly (see :func:`parse`)."""
    return parse(load_json(raw, where), where)


def load_json(raw: bytes | str, where: str) -> dict:
    """The manifest's JSON object: valid UTF-8, no duplicate keys, not absurdly nested."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise PayloadError(f"{where}: the manifest is not UTF-8 ({exc.reason}); the file is damaged") from exc
    except RecursionError as exc:
        raise PayloadError(f"{where}: the manifest is nested too deeply; the file is damaged") from exc
    except ValueError as exc:  # JSONDecodeError, and ours
        raise PayloadError(f"{where}: the manifest is not valid JSON ({exc}); the file is damaged") from exc
    if not isinstance(data, dict):
        raise PayloadError(f"{where}: the manifest is not a JSON object; the file is damaged")
    return data


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out: dict[str, object] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {k!r} appears twice")
        out[k] = v
    return out


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


_KNOWN = {"format", "app", "target", "glibc_floor", "macos_minimum", "python", "entry_points", "default_entry",
          "gui", "build", "excluded_libraries", "contents", "sbom", "stub", "payload", "uncompressed_size", "file_count", "layers"}
_PAYLOAD_KEYS = ("payload", "uncompressed_size", "file_count", "layers")


def parse(data: Mapping[str, object], where: str, *, payload_length: int | None = None) -> Manifest:
    """The typed manifest of *data*; PayloadError naming *where* and the field when a rule fails.

    With *payload_length* (the single file: the trailer's value) the payload
    fields are required and their frames must tile exactly that many bytes;
    without it (``bundler.json``) they must be absent.
    """
    top = _Node(data, "", where)
    entries = {name: node.path() for name, node in top.get("entry_points", _Node({}, "entry_points", where)).items()}
    default = top.optional("default_entry", _Node.text)
    if default is not None and default not in entries:
        top["default_entry"].fail(f"names {default!r}, which is not an entry point")
    py = top["python"]
    build = top.optional("build", lambda b: Build(b["bundler"].text(), b["source_date_epoch"].size()))
    stub = top.optional("stub", lambda s: StubRecord(
        s["target"].text(), s["variant"].text(), s["sha256"].hex64(), s["zig"].text(),
        s["source_sha256"].hex64(), s["prebuilt"].boolean()))
    if payload_length is None:
        for key in _PAYLOAD_KEYS:
            if key in data:
                top[key].fail("belongs to a single file's manifest, not to a runtime's bundler.json")
    return Manifest(
        format=top.optional("format", _Node.size) or FORMAT_VERSION,
        app=App(top["app"]["name"].name(), top["app"]["version"].text()),
        target=top["target"].text(),
        python=Python(py.optional("version", _Node.text) or "", py["executable"].path()),
        entry_points=tuple(entries.items()),
        default_entry=default,
        glibc_floor=top.optional("glibc_floor", _Node.text),
        macos_minimum=top.optional("macos_minimum", _Node.text),
        gui=bool(top.optional("gui", _Node.boolean)),
        build=build,
        excluded_libraries=tuple(n.text() for n in top.optional("excluded_libraries", _Node.array) or ()),
        contents=top.optional("contents", _contents) or Contents(),
        sbom=top.optional("sbom", _Node.path),
        stub=stub,
        payload=None if payload_length is None else _payload(top, payload_length),
        extra={k: v for k, v in data.items() if k not in _KNOWN},
    )


def _contents(node: _Node) -> Contents:
    return Contents(
        wheels=tuple(WheelRecord(w["name"].text(), w["version"].text(), w["file"].text(),
                                 w.optional("sha256", _Node.hex64))
                     for w in _array(node, "wheels")),
        vendored_libraries=tuple(VendoredRecord(v["path"].path(), v["origin"].text())
                                 for v in _array(node, "vendored_libraries")),
        left_out=tuple(LeftOut(l["what"].text(), l["files"].size(), l["size"].size())
                       for l in _array(node, "left_out")),
    )


def _array(node: _Node, name: str) -> list[_Node]:
    """The array *name* of *node*; absent or null: empty."""
    return node[name].array() if node.obj().get(name) is not None else []


def _payload(top: _Node, payload_length: int) -> Payload:
    head = top["payload"]
    length = head["length"].size()
    if length != payload_length:
        head["length"].fail(f"is {length} but the trailer says {payload_length}")
    layers = tuple(
        Layer(l["name"].text(), l["files"].size(), l["uncompressed_size"].size(),
              tuple(Frame(f["offset"].size(), f["length"].size(), f["uncompressed_size"].size(), f["sha256"].hex64())
                    for f in l["frames"].array()))
        for l in top["layers"].array()
    )
    covered = 0
    for i, layer in enumerate(layers):  # the stub's rule: contiguous, in order, non-empty, the whole payload
        for j, frame in enumerate(layer.frames):
            if frame.offset != covered or frame.length == 0 or frame.length > payload_length - covered:
                top["layers"].fail(f"[{i}].frames[{j}] (layer {layer.name}) is outside the payload or out of order")
            if frame.uncompressed_size > frame.length * MAX_ZSTD_RATIO:
                top["layers"].fail(f"[{i}].frames[{j}] (layer {layer.name}) claims {frame.uncompressed_size} bytes "
                                   f"from {frame.length}, more than zstd can expand")
            covered += frame.length
    if covered != payload_length:
        top["layers"].fail(f"frames cover {covered} of the payload's {payload_length} bytes")
    return Payload(length, head["sha256"].hex64(), top["uncompressed_size"].size(), top["file_count"].size(), layers)


T = TypeVar("T")

#: the most a zstd frame can expand: a 4-byte RLE block (3-byte header + 1 byte) becomes 128 KiB
MAX_ZSTD_RATIO = (128 << 10) // 4


@dataclass(frozen=True)
class _Node:
    """One JSON value and its dotted name (``layers[2].frames[0].sha256``), for one-line messages."""

    value: object
    key: str
    where: str

    def fail(self, why: str) -> NoReturn:
        raise PayloadError(f"{self.where}: manifest field {self.key or '(top)'} {why}; "
                           "the file is damaged or was not written by bundler")

    def _child(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def obj(self) -> Mapping[str, object]:
        if not isinstance(self.value, Mapping):
            self.fail("is not an object")
        return self.value

    def __getitem__(self, name: str) -> _Node:
        d = self.obj()
        if name not in d:
            _Node(None, self._child(name), self.where).fail("is missing")
        return _Node(d[name], self._child(name), self.where)

    def get(self, name: str, default: _Node) -> _Node:
        return self[name] if name in self.obj() else default

    def optional(self, name: str, read: Callable[[_Node], T]) -> T | None:
        """*read* of the field, or None when it is absent or null."""
        return None if self.obj().get(name) is None else read(self[name])

    def items(self) -> list[tuple[str, _Node]]:
        return [(k, _Node(v, self._child(k), self.where)) for k, v in self.obj().items()]

    def array(self) -> list[_Node]:
        if not isinstance(self.value, list):
            self.fail("is not an array")
        return [_Node(v, f"{self.key}[{i}]", self.where) for i, v in enumerate(self.value)]

    def text(self) -> str:
        if not isinstance(self.value, str):
            self.fail("is not a string")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in self.value):
            self.fail("holds control characters")
        return self.value

    def size(self) -> int:
        v = self.value
        if type(v) is not int or not 0 <= v <= MAX_INT:  # not a bool, nor "137" or 137.0
            self.fail(f"is not a whole number from 0 to {MAX_INT}")
        return v

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            self.fail("is not true or false")
        return self.value

    def hex64(self) -> str:
        v = self.text()
        if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
            self.fail("is not a SHA-256 (64 lowercase hex digits)")
        return v

    def name(self) -> str:
        v = self.text()
        if not v or len(v.encode()) > 255 or v.startswith(".") or any(c in v for c in "/\\"):
            self.fail("is not a plain file name (it names the cache directory)")
        return v

    def path(self) -> str:
        v = self.text()
        try:
            check_path(v)
        except PayloadError as exc:
            self.fail(f"is not a path inside the runtime ({exc})")
        return v


def check_path(path: str) -> None:
    """Refuse anything FORMAT.md forbids in an entry path (entries, the interpreter, entry points)."""
    raw = path.encode("utf-8", "surrogateescape")
    if not path or len(raw) > MAX_PATH or "\0" in path or "\\" in path or path.startswith("/"):
        raise PayloadError(f"{path!r}: not a valid relative path for the payload")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise PayloadError(f"{path!r}: empty, '.' or '..' component in a payload path")
    if not is_text(path):
        raise PayloadError(f"{path!r}: a payload path is UTF-8 with no control character")


def is_text(s: str) -> bool:
    """UTF-8 (no surrogate-escaped byte) with no control character: safe to print in a message."""
    return not any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in s)
