"""PE (Windows): read imports with pefile, rename imported DLLs with LIEF.

Renaming works the way machomachomangler/delvewheel do it: the new (longer)
names go into one new read-only section, and the ``Name`` field of each
affected import descriptor (and delay-import descriptor, and the export
directory for a new DLL name) is pointed at them. Nothing else moves: the IAT,
the code and every other table keep their addresses, so no code that reaches
the IAT directly can break. LIEF lays the section out (header room, alignment,
``SizeOfImage``); its import-table rebuilder is not used because it cannot
rename delay imports (they are not serialised back) and it relocates the whole
table where a pointer swap is enough.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import pefile

from bundler import cachefs
from bundler.binfmt.interface import BinaryEdit, BinaryInfo
from bundler.errors import RelocationError
from bundler.platforms import PE_MACHINES

_SUBSYSTEMS = {2: "gui", 3: "console"}
_IMPORT = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"]
_DELAY_IMPORT = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT"]
_EXPORT = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_EXPORT"]
_SECURITY = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]
_BOUND_IMPORT = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_BOUND_IMPORT"]
#: IMAGE_EXPORT_DIRECTORY.Name is the fourth dword
_EXPORT_NAME_OFFSET = 12
#: the section that holds the new DLL name strings
NAMES_SECTION = ".bundler"
#: what to do about a damaged file
_REINSTALL = "reinstall the package that provides it and build again"
_IMPORT_ERRORS = ("Error parsing the import directory", "Error parsing the Delay import directory",
                  "Too many errors parsing the")


def unique_name(name: str, digest: str) -> str:
    """``zlib1.dll`` + digest → ``zlib1-1a2b3c4d.dll``: a vendored DLL's name that cannot clash.

    Windows keeps one module per base name in a process, so two different
    ``zlib1.dll`` from two wheels would otherwise be one.
    """
    stem, dot, ext = name.rpartition(".")
    return f"{stem}-{digest[:8]}.{ext}" if dot and stem else f"{name}-{digest[:8]}"


def _machine_code(path: Path) -> int | None:
    """The COFF machine of *path* if it is a PE file (symlinks followed), else None."""
    try:
        with open(path, "rb") as f:
            dos = f.read(64)
            if len(dos) < 64 or dos[:2] != b"MZ":
                return None
            (e_lfanew,) = struct.unpack_from("<I", dos, 0x3C)
            f.seek(e_lfanew)
            head = f.read(6)
    except OSError:
        return None
    if len(head) < 6 or head[:4] != b"PE\0\0":
        return None
    return int.from_bytes(head[4:6], "little")


def _decode(raw: bytes, path: Path) -> str:
    if raw == b"*invalid*":  # pefile's marker for a name that is no file name
        raise RelocationError(
            f"{path}: an import names a DLL that is not a valid file name, so the file is damaged; {_REINSTALL}"
        )
    return raw.decode("ascii")


@dataclass(frozen=True)
class _Parsed:
    """What ``read`` and ``apply`` need from one pefile pass."""

    pe: pefile.PE
    #: (DLL name as written, RVA of its 4-byte name field, value to add to an RVA for that field)
    imports: tuple[tuple[str, int, int], ...]
    delay_imports: tuple[tuple[str, int, int], ...]
    export_name: str | None
    export_name_field: int | None


def _parse(path: Path, data: bytes | None = None) -> _Parsed:
    """Parse *path* (or *data*, its bytes) and refuse anything the Windows loader would refuse.

    Without *data* pefile maps the file instead of reading it: DLLs can be large.
    The caller closes ``pe``.
    """
    if data is None:
        try:  # pefile reports an unreadable file as a bare Exception: find out first
            with open(path, "rb") as f:
                f.read(1)
        except OSError as exc:
            raise RelocationError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    try:
        pe = pefile.PE(name=str(path), fast_load=True) if data is None else pefile.PE(data=data, fast_load=True)
    except pefile.PEFormatError as exc:
        raise RelocationError(
            f"{path}: not a valid PE file ({exc.value}); it is damaged or truncated: {_REINSTALL}"
        ) from exc
    size = len(pe.__data__)
    try:
        if pe.OPTIONAL_HEADER.SizeOfHeaders > size or any(
            s.SizeOfRawData and s.PointerToRawData + s.SizeOfRawData > size for s in pe.sections
        ):
            raise RelocationError(
                f"{path}: the PE file is truncated (its sections reach past the end of the file); "
                f"{_REINSTALL}"
            )
        pe.parse_data_directories(directories=[_IMPORT, _DELAY_IMPORT], import_dllnames_only=True)
        bad = [w for w in pe.get_warnings() if w.startswith(_IMPORT_ERRORS)]
        if bad:
            raise RelocationError(f"{path}: its import table is damaged ({bad[0]}); {_REINSTALL}")
        imports = tuple(
            (_decode(e.dll, path), pe.get_rva_from_offset(e.struct.get_field_absolute_offset("Name")), 0)
            for e in getattr(pe, "DIRECTORY_ENTRY_IMPORT", ())
        )
        delay = tuple(
            (
                _decode(e.dll, path),
                pe.get_rva_from_offset(e.struct.get_field_absolute_offset("szName")),
                # attribute bit 0 clear: a pre-VC7 descriptor holding VAs, not RVAs
                0 if e.struct.grAttrs & 1 else pe.OPTIONAL_HEADER.ImageBase,
            )
            for e in getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", ())
        )
        export_name = field = None
        exp = pe.OPTIONAL_HEADER.DATA_DIRECTORY[_EXPORT]
        if exp.VirtualAddress and exp.Size:
            field = exp.VirtualAddress + _EXPORT_NAME_OFFSET
            (name_rva,) = struct.unpack("<I", pe.get_data(field, 4))
            raw = pe.get_string_at_rva(name_rva, pefile.MAX_DLL_LENGTH) if name_rva else b""
            export_name = raw.decode("ascii", "replace") or None
    except pefile.PEFormatError as exc:
        pe.close()
        raise RelocationError(
            f"{path}: cannot read its PE tables ({exc.value}), so the file is damaged; {_REINSTALL}"
        ) from exc
    except RelocationError:
        pe.close()
        raise
    return _Parsed(pe=pe, imports=imports, delay_imports=delay, export_name=export_name, export_name_field=field)


def _unique_folded(names: list[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return tuple(out)


class PeFormat:
    """The PE implementation of :class:`bundler.binfmt.interface.BinaryFormat`."""

    name = "pe"

    def is_binary(self, path: Path) -> bool:
        if path.is_symlink() or not path.is_file():
            return False
        return _machine_code(path) is not None

    def machine(self, path: Path) -> str:
        code = _machine_code(path)
        if code is None:
            raise RelocationError(f"{path}: not a PE file (no MZ/PE header)")
        return PE_MACHINES.get(code, "unknown")

    def subsystem(self, path: Path) -> str:
        """``"console"`` or ``"gui"``: whether Windows gives the program a console."""
        parsed = _parse(path)
        try:
            value = parsed.pe.OPTIONAL_HEADER.Subsystem
        finally:
            parsed.pe.close()
        if value not in _SUBSYSTEMS:
            raise RelocationError(
                f"{path}: its PE subsystem is {value}, neither a console nor a GUI program; "
                "only Windows console and GUI binaries can be bundled"
            )
        return _SUBSYSTEMS[value]

    def read(self, path: Path) -> BinaryInfo:
        """Imported DLLs (import table, then delay-import table), first spelling of each."""
        parsed = _parse(path)
        try:
            machine = PE_MACHINES.get(parsed.pe.FILE_HEADER.Machine, "unknown")
        finally:
            parsed.pe.close()
        names = [name for name, _f, _b in parsed.imports + parsed.delay_imports]
        return BinaryInfo(
            soname=parsed.export_name,
            needed=_unique_folded(names),
            rpath=(),
            runpath=(),
            interpreter=None,
            machine=machine,
        )

    def apply(self, path: Path, edit: BinaryEdit) -> None:
        """Rename imported DLLs (matched without regard to case) and, if given, the export name.

        A DLL without an export directory keeps none: ``edit.soname`` only
        renames an existing one (Windows does not use it to find DLLs).
        """
        if edit.runpath:
            raise ValueError(f"PE binaries have no search path; got runpath {edit.runpath!r} for {path}")
        try:
            data = bytearray(path.read_bytes())
        except OSError as exc:
            raise RelocationError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
        parsed = _parse(path, bytes(data))
        pe = parsed.pe
        try:
            fields = self._name_fields(path, parsed, edit)
            if not fields:
                return
            checksummed = pe.OPTIONAL_HEADER.CheckSum != 0
            data = self._drop_stale(pe, data, renaming=bool(edit.replace_needed))
        finally:
            pe.close()
        out = _add_names_and_write(path, bytes(data), fields)
        if checksummed:
            out = _with_checksum(out)
        with cachefs.replacing(path) as tmp:
            tmp.write_bytes(out)

    @staticmethod
    def _name_fields(path: Path, parsed: _Parsed, edit: BinaryEdit) -> list[tuple[int, str, int]]:
        """(RVA of a name field, the name it must point to, base added to the RVA) for *edit*."""
        renames = {old.lower(): new for old, new in edit.replace_needed}
        fields = [
            (field, renames[name.lower()], base)
            for name, field, base in parsed.imports + parsed.delay_imports
            if name.lower() in renames
        ]
        present = {name.lower() for name, _f, _b in parsed.imports + parsed.delay_imports}
        missing = [old for old, _new in edit.replace_needed if old.lower() not in present]
        if missing:
            raise RelocationError(
                f"{path}: imports no DLL named {missing[0]}, so it cannot be renamed; "
                "the file changed after it was read"
            )
        if edit.soname is not None and parsed.export_name_field is not None and edit.soname != parsed.export_name:
            fields.append((parsed.export_name_field, edit.soname, 0))
        return fields

    @staticmethod
    def _drop_stale(pe: pefile.PE, data: bytearray, *, renaming: bool) -> bytearray:
        """Remove what an edit invalidates: the Authenticode signature and, when renaming, bound imports."""
        dirs = pe.OPTIONAL_HEADER.DATA_DIRECTORY
        sec = dirs[_SECURITY]
        if sec.Size:
            # The certificate table is a file offset, usually at the very end: cut it off there.
            if sec.VirtualAddress + sec.Size >= len(data) and sec.VirtualAddress <= len(data):
                del data[sec.VirtualAddress:]
            _zero_directory(data, sec)
        bound = dirs[_BOUND_IMPORT]
        if renaming and bound.VirtualAddress:
            # A binding names the DLL file it was bound to; it is stale once the name changes.
            _zero_directory(data, bound)
            for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", ()):
                if entry.struct.TimeDateStamp:
                    off = entry.struct.get_field_absolute_offset("TimeDateStamp")
                    data[off:off + 4] = b"\0\0\0\0"
        return data


def _zero_directory(data: bytearray, directory: pefile.Structure) -> None:
    off = directory.get_file_offset()
    data[off:off + 8] = bytes(8)


def _add_names_and_write(path: Path, data: bytes, fields: list[tuple[int, str, int]]) -> bytes:
    """Add a section with the new names, point each field at its name, return the new file."""
    import lief

    binary = lief.PE.parse(data)
    if binary is None:
        raise RelocationError(
            f"{path}: LIEF cannot parse it, so its DLL imports cannot be renamed; "
            "please report this with the file attached"
        )
    blob = bytearray()
    where: dict[str, int] = {}
    for _field, name, _base in fields:
        if name not in where:
            where[name] = len(blob)
            blob += name.encode("ascii") + b"\0"
    section = lief.PE.Section(NAMES_SECTION)
    section.content = list(blob)
    chars = lief.PE.Section.CHARACTERISTICS
    section.characteristics = int(chars.CNT_INITIALIZED_DATA | chars.MEM_READ)
    added = binary.add_section(section)
    if added is None:
        raise RelocationError(
            f"{path}: LIEF could not add a section for the new DLL names; please report this with the file attached"
        )
    for field, name, base in fields:
        binary.patch_address(field, base + added.virtual_address + where[name], 4, lief.Binary.VA_TYPES.RVA)
    config = lief.PE.Builder.config_t()
    # Write the parsed tables back as they are: only the headers and the new section change.
    for option in ("imports", "exports", "resources", "relocations", "load_configuration", "tls", "debug"):
        setattr(config, option, False)
    config.overlay = True
    config.dos_stub = True
    return bytes(binary.write_to_bytes(config))


def _with_checksum(data: bytes) -> bytes:
    pe = pefile.PE(data=data, fast_load=True)
    try:
        pe.OPTIONAL_HEADER.CheckSum = pe.generate_checksum()
        return bytes(pe.write())
    finally:
        pe.close()


def _find_in_dir(directory: Path, name: str) -> list[Path]:
    """Files in *directory* whose name equals *name* without regard to case, sorted."""
    folded = name.lower()
    try:
        with os.scandir(directory) as it:
            return sorted(Path(e.path) for e in it if e.name.lower() == folded)
    except OSError:
        return []


#: site-packages folders whose DLLs the package code adds with ``os.add_dll_directory`` at import:
#: delvewheel's ``<dist>.libs`` (next to the package), pywin32's ``pywin32_system32``
DLL_DIR_PATTERNS = ("*.libs", "pywin32_system32")
#: the package's own init code that may add its own folders (``torch/lib``) with ``os.add_dll_directory``
_INIT_FILES = ("__init__.py", "_distributor_init.py")


@dataclass(frozen=True)
class PeResolver:
    """Where Windows finds a DLL an extension module imports, on the build machine.

    CPython loads extension modules with ``LOAD_LIBRARY_SEARCH_DEFAULT_DIRS |
    LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR``: the module's own directory first, then
    the application directory (python.exe's), then directories added with
    ``os.add_dll_directory``, then System32, which only system DLLs (the
    policy's) come from. The directories packages add are found in the runtime
    (*runtime_root*, its *sitepackages*): every delvewheel ``<dist>.libs`` folder
    and ``pywin32_system32``, and, for a module inside a package whose
    ``__init__.py`` calls ``os.add_dll_directory``, that package's own folders.
    A DLL found there stays where it is: it is never vendored a second time.
    The user's ``--lib-path`` directories come last
    (:class:`bundler.relocate.kits.WithLibPath`).
    """

    machine: str
    app_dir: Path | None = None
    runtime_root: Path | None = None
    sitepackages: str = ""

    def search(self, needed: str, info: BinaryInfo, origin: Path) -> Path | None:
        if "/" in needed or "\\" in needed:
            return None
        dirs = [origin, *([self.app_dir] if self.app_dir is not None else []), *self.dll_directories(origin)]
        for directory in dirs:
            for candidate in _find_in_dir(directory, needed):
                code = _machine_code(candidate) if candidate.is_file() else None
                if code is not None and PE_MACHINES.get(code, "unknown") == self.machine:
                    return candidate
        return None

    def dll_directories(self, origin: Path) -> list[Path]:
        """The ``os.add_dll_directory`` folders that apply to a module in *origin* (see the class)."""
        if self.runtime_root is None or not self.sitepackages:
            return []
        site = self.runtime_root / self.sitepackages
        found: list[Path] = []
        try:
            top = Path(os.path.normpath(origin)).relative_to(site).parts[:1]
        except ValueError:
            top = ()
        if top and _adds_dll_directories(site / top[0]):
            found += _dirs_with_dlls(site / top[0])
        for pattern in DLL_DIR_PATTERNS:
            found += sorted(p for p in site.glob(pattern) if p.is_dir())
        return found


def _adds_dll_directories(package: Path) -> bool:
    for name in _INIT_FILES:
        try:
            if "add_dll_directory" in (package / name).read_text(errors="replace"):
                return True
        except OSError:
            continue
    return False


def _dirs_with_dlls(package: Path) -> list[Path]:
    """Folders under *package* (itself included) that hold a ``.dll``, sorted."""
    return sorted({Path(d) for d, _dirs, names in os.walk(package) if any(n.lower().endswith(".dll") for n in names)})
