"""The CycloneDX 1.6 SBOM every output carries: what is inside and where it came from.

Made with ``cyclonedx-python-lib`` from the manifest's ``contents`` and the
runtime tree: the app, the interpreter (its version, where the base came from,
the executable's sha256), every installed wheel (``pkg:pypi`` purl, the lock's
sha256, the licence its metadata declares), every vendored native library
(sha256 of the copy shipped, the build machine's file, and the OS package
that owns that file when dpkg or rpm knows it), the stub or launcher, and the
dependency relations of the installed distributions (their ``Requires-Dist``
under the target's markers). Same inputs, same bytes: the serial number is
derived from the content, the timestamp is ``SOURCE_DATE_EPOCH``.
"""

from __future__ import annotations

import json
import posixpath
import shutil
import subprocess
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PathDistribution
from pathlib import Path

from packaging.markers import InvalidMarker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from bundler.base.archives import is_archive
from bundler.base.model import BaseInterpreter
from bundler.binfmt.formats import needed_by, read_binaries, reader_for
from bundler.digest import sha256_file
from bundler.output.manifest import Manifest, StubRecord
from bundler.platforms import platform_named

#: the SBOM's name inside a runtime (its root) and the manifest's pointer to it; beside an
#: output it is ``<output>.cdx.json`` (bundler.output.tree.SBOM_SUFFIX)
SBOM_NAME = "bundler.cdx.json"
_NAMESPACE = uuid.UUID("6f1c2a8e-5b1d-4c59-9d0a-2b7f1e4c9a10")  # bundler's, for uuid5 serial numbers


@dataclass(frozen=True)
class OsPackage:
    """The build machine's package that owns a file (dpkg or rpm)."""

    manager: str  # deb, rpm
    name: str
    version: str
    arch: str
    distro: str  # debian, fedora, ...

    @property
    def purl(self) -> str:
        return f"pkg:{self.manager}/{self.distro}/{self.name}@{self.version}?arch={self.arch}"


@dataclass(frozen=True)
class Base:
    """Where the interpreter came from, as the SBOM names it."""

    kind: str  # pyenv, os-package, python-build-standalone, python.org-embeddable, prefix
    source: str  # the executable or prefix on the build machine, or the archive's file name
    sha256: str | None = None  # of the archive
    package: OsPackage | None = None


Runner = Callable[[Sequence[str]], str | None]


def base_origin(interp: BaseInterpreter, named: str | None, run: Runner | None = None) -> Base:
    """Where the base interpreter *interp* came from; *named* is what ``--python`` said (None: the
    interpreter running bundler). An archive is named by its file name and sha256, not its path,
    so the SBOM does not depend on where the archive lies."""
    run = run or _run
    if named is not None and is_archive(Path(named).expanduser()):
        archive = Path(named).expanduser()
        kind = "python.org-embeddable" if archive.suffix == ".zip" else "python-build-standalone"
        return Base(kind, archive.name, sha256_file(archive))
    exe = str(interp.executable)
    if "/.pyenv/versions/" in exe:
        return Base("pyenv", exe)
    owner = owning_packages([exe], run).get(exe) if interp.runnable else None
    if owner is not None:
        return Base("os-package", exe, package=owner)
    return Base("prefix", str(interp.prefix))


def _run(args: Sequence[str]) -> str | None:
    """stdout of *args* (dpkg-query answers for the files it knows even when it fails for others),
    None when the tool is missing or cannot run (the SBOM then says less)."""
    if shutil.which(args[0]) is None:
        return None
    try:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=300, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def _distro() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("ID="):
                return line[3:].strip().strip('"') or "linux"
    except OSError:
        pass
    return "linux"


def _candidates(path: str) -> list[str]:
    """*path* and the names a merged-/usr system may have registered it under."""
    out = [path]
    real = str(Path(path).resolve()) if Path(path).exists() else path
    out.append(real)
    for p in list(out):
        if p.startswith("/usr/lib/"):
            out.append(p[len("/usr"):])
        elif p.startswith("/lib/"):
            out.append("/usr" + p)
    return list(dict.fromkeys(out))


def owning_packages(paths: Sequence[str], run: Runner = _run) -> dict[str, OsPackage]:
    """The dpkg or rpm package that installed each of *paths* on this machine, where one knows it
    (one dpkg query for all of them; rpm, one file at a time, where there is no dpkg)."""
    cands = {c: p for p in paths for c in _candidates(p)}
    found: dict[str, OsPackage] = {}
    listed = run(["dpkg-query", "-S", *cands]) if cands else None
    if listed is not None:
        owners: dict[str, str] = {}
        for line in listed.splitlines():
            pkgs, sep, file = line.partition(": ")
            if sep and file.strip() in cands:
                owners.setdefault(cands[file.strip()], pkgs.split(",")[0].strip())
        info = run(["dpkg-query", "-W", "-f", "${binary:Package} ${Version} ${Architecture}\n",
                    *sorted(set(owners.values()))]) if owners else None
        meta: dict[str, tuple[str, str]] = {}
        for line in (info or "").splitlines():
            parts = line.split()
            if len(parts) == 3:
                meta[parts[0]] = meta[parts[0].split(":")[0]] = (parts[1], parts[2])
        distro = _distro()
        for path, pkg in owners.items():
            if pkg in meta:
                version, arch = meta[pkg]
                found[path] = OsPackage("deb", pkg.split(":")[0], version, arch, distro)
        return found
    for path in paths:
        for cand in _candidates(path):
            out = run(["rpm", "-qf", "--queryformat", "%{NAME} %{VERSION}-%{RELEASE} %{ARCH}", cand])
            if out and len(out.split()) == 3 and "not owned" not in out:
                name, version, arch = out.split()
                found[path] = OsPackage("rpm", name, version, arch, _distro())
                break
    return found


def _licence(meta) -> str | None:
    """What a distribution's metadata says its licence is: ``License-Expression``, a short
    ``License``, else its licence classifiers."""
    if meta.get("License-Expression"):
        return str(meta["License-Expression"]).strip()
    text = (meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) <= 100 and text.upper() != "UNKNOWN":
        return text
    classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return " OR ".join(classifiers) or None


def _dist_infos(root: Path, sitepackages: str) -> dict[str, Path]:
    site = root / sitepackages
    return {str(canonicalize_name(d.name[: -len(".dist-info")].partition("-")[0])): d
            for d in sorted(site.glob("*.dist-info"))}


def _files_of(infos: Mapping[str, Path], sitepackages: str) -> dict[str, str]:
    """Runtime-relative path → the installed distribution whose RECORD lists it."""
    out: dict[str, str] = {}
    for name, info in infos.items():
        for f in PathDistribution(info).files or ():
            out.setdefault(posixpath.normpath(posixpath.join(sitepackages, str(f))), name)
    return out


def library_users(root: Path, target: str, libraries: Sequence[str], owner_of: Mapping[str, str],
                   known: Mapping[str, tuple[str, ...]] | None = None) -> dict[str, set[str]]:
    """Who needs each vendored library (runtime-relative paths) of the runtime at *root*, as SBOM
    references: ``pypi:<name>`` for a file a distribution installed (*owner_of*), ``lib:<path>``
    for another vendored library, else ``cpython`` (the interpreter and its standard library).
    *known*: what binaries name, as relocation read them; only the others are read."""
    plat = platform_named(target)
    fold = plat is not None and reader_for(plat.binary_format, plat.arch).case_insensitive
    known = {rel: names for rel, names in (known or {}).items() if (root / rel).is_file()}
    binaries: dict[str, tuple[str, ...]] = dict(known)
    binaries.update({rel: info.needed for rel, info in read_binaries(root, target, known).items()})
    needs: dict[str, set[str]] = {}
    for path in libraries:
        for user in needed_by(binaries, path, fold):
            who = f"lib:{user}" if user in libraries else f"pypi:{owner_of[user]}" if user in owner_of else "cpython"
            needs.setdefault(who, set()).add(path)
    return needs


def requirements(dist_info: Path, markers: Mapping[str, str], installed: set[str]) -> list[str]:
    """The installed distributions *dist_info*'s ``Requires-Dist`` names under *markers* (no extras)."""
    meta = PathDistribution(dist_info).metadata
    out = []
    for line in meta.get_all("Requires-Dist") or []:
        try:
            req = Requirement(line)
            ok = req.marker is None or req.marker.evaluate({**markers, "extra": ""})
        except (InvalidRequirement, InvalidMarker):
            continue
        name = str(canonicalize_name(req.name))
        if ok and name in installed:
            out.append(name)
    return sorted(set(out))


def make(manifest: Manifest, root: Path, *, sitepackages: str, markers: Mapping[str, str], base: Base,
         stub: tuple[str, StubRecord] | None = None, run: Runner = _run,
         needed: Mapping[str, tuple[str, ...]] | None = None) -> str:
    """The SBOM JSON of the runtime at *root* that *manifest* describes.

    *stub* is (file name, record) of the native program that starts the runtime
    in this output (the single file's stub, a Windows directory's entry
    launcher), when it has one. *needed* is what each binary names, as
    relocation read it (the binaries it does not list are read here).
    """
    try:
        from cyclonedx.contrib.license.factories import LicenseFactory
    except ImportError:  # cyclonedx-python-lib before 11.5
        from cyclonedx.factory.license import LicenseFactory  # type: ignore[no-redef]
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.tool import ToolRepository
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    from bundler import __version__

    def sha(value: str | None) -> list:
        return [HashType(alg=HashAlgorithm.SHA_256, content=value)] if value else []

    def props(**kv: str | None) -> list:
        return [Property(name=f"bundler:{k.replace('_', '-')}", value=v) for k, v in sorted(kv.items()) if v]

    licences = LicenseFactory()
    m = manifest
    app = Component(name=m.app.name, version=m.app.version, type=ComponentType.APPLICATION, bom_ref="app",
                    properties=props(target=m.target, glibc_floor=m.glibc_floor, macos_minimum=m.macos_minimum))
    exe = root / m.python.executable
    interp = Component(
        name="CPython", version=m.python.version, type=ComponentType.APPLICATION, bom_ref="cpython",
        hashes=sha(sha256_file(exe) if exe.is_file() else None),
        purl=PackageURL.from_string(base.package.purl) if base.package else None,
        properties=props(path=m.python.executable, base_kind=base.kind, base_source=base.source,
                         base_archive_sha256=base.sha256),
    )
    components = [interp]
    infos = _dist_infos(root, sitepackages)
    wheels = {}
    for w in m.contents.wheels:
        meta = PathDistribution(infos[w.name]).metadata if w.name in infos else None
        licence = _licence(meta) if meta is not None else None
        c = Component(
            name=w.name, version=w.version, type=ComponentType.LIBRARY, bom_ref=f"pypi:{w.name}",
            purl=PackageURL(type="pypi", name=w.name, version=w.version),
            hashes=sha(w.sha256), licenses=[licences.make_from_string(licence)] if licence else [],
            properties=props(wheel=w.file, built_from_project="true" if w.sha256 is None else None),
        )
        wheels[w.name] = c
        components.append(c)
    libs = []
    owners = owning_packages([v.origin for v in m.contents.vendored_libraries], run)
    for v in m.contents.vendored_libraries:
        p = root / v.path
        owner = owners.get(v.origin)
        c = Component(
            name=posixpath.basename(v.path), version=owner.version if owner else None, type=ComponentType.LIBRARY,
            bom_ref=f"lib:{v.path}", hashes=sha(sha256_file(p) if p.is_file() else None),
            purl=PackageURL.from_string(owner.purl) if owner else None,
            properties=props(path=v.path, origin=v.origin, os_package=owner.name if owner else None),
        )
        libs.append(c)
        components.append(c)
    if stub is not None:
        name, record = stub
        components.append(Component(
            name=name, version=__version__, type=ComponentType.APPLICATION, bom_ref="stub", hashes=sha(record.sha256),
            description="starts the runtime: bundler's native stub, compiled with Zig from bundler's stubs/",
            properties=props(target=record.target, variant=record.variant, zig=record.zig,
                             source_sha256=record.source_sha256, prebuilt=str(record.prebuilt).lower())))
    tool = Component(name="bundler", version=__version__, type=ComponentType.APPLICATION, bom_ref="tool:bundler")
    epoch = m.build.source_date_epoch if m.build else 0
    bom = Bom(
        serial_number=uuid.UUID(int=0),  # replaced below by one derived from the content
        components=components,
        metadata=BomMetaData(component=app, tools=ToolRepository(components=[tool]),
                             timestamp=datetime.fromtimestamp(epoch, tz=timezone.utc)),
    )
    bom.register_dependency(app, [interp, *[wheels[n] for n in sorted(wheels)]])
    installed = set(wheels)
    for name, c in sorted(wheels.items()):
        if name in infos:
            bom.register_dependency(c, [wheels[d] for d in requirements(infos[name], markers, installed) if d != name])
    lib_of = {v.path: c for v, c in zip(m.contents.vendored_libraries, libs)}
    by_ref = {"cpython": interp, **{f"pypi:{n}": c for n, c in wheels.items()}, **{f"lib:{p}": c for p, c in lib_of.items()}}
    users = library_users(root, m.target, list(lib_of), _files_of(infos, sitepackages), known=needed)
    for ref, paths in sorted(users.items()):
        if ref in by_ref:
            bom.register_dependency(by_ref[ref], [lib_of[p] for p in sorted(paths)])
    # the serial number names this content: same runtime, same SBOM
    bom.serial_number = uuid.uuid5(_NAMESPACE, JsonV1Dot6(bom).output_as_string())
    data = json.loads(JsonV1Dot6(bom).output_as_string())
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def validate(text: str) -> None:
    """Raise ValueError naming the first thing the CycloneDX 1.6 JSON schema refuses in *text*."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise ValueError(str(error))
