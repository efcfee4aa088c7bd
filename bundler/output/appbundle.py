"""A macOS app bundle (``--format app``), signed ad hoc over every file, and its zip for transport.

Layout (docs/FORMAT.md, "The app bundle")::

    <Name>.app/Contents/
        Info.plist                    CFBundleExecutable, CFBundleIdentifier, versions, LSMinimumSystemVersion
        PkgInfo                       APPL????
        MacOS/<entry>                 the entry launcher (stubs/launcher.zig): execs the runtime's python3
        Resources/runtime/            the relocated runtime, as the ``dir`` output holds it
        _CodeSignature/CodeResources  the hash of every file above but the main executable and Info.plist

The runtime sits in ``Resources``, as Briefcase's apps keep their standard library and packages
there: every Mach-O in it is already signed (relocation signs what it rewrites), and the bundle's
resource seal hashes it as a file. Signing goes inside out: the runtime's binaries first, then
``CodeResources`` (Apple's default rules, so ``codesign`` and ``rcodesign`` compute the same one),
then the main executable, whose signature binds the SHA-256 of ``Info.plist`` and of
``CodeResources`` (special slots -1 and -3). Change any file and the seal no longer holds.

Signing with a real identity (hardened runtime, entitlements, a secure timestamp) is
:mod:`bundler.output.appsign`; notarization then needs Apple's service.
"""

from __future__ import annotations

import hashlib
import os
import plistlib
import re
import shutil
import stat
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.parsers.expat import ExpatError

from packaging.version import InvalidVersion, Version

from bundler.binfmt.macho import codesign
from bundler.errors import OutputError, RelocationError
from bundler.output.tree import APP_RUNTIME, atomic_path, iter_tree, source_date_epoch

APP_SUFFIX = ".app"
ZIP_SUFFIX = ".app.zip"
#: the runtime's place, from ``Contents/`` (stubs/launcher.zig, ``bundle_runtime``)
RUNTIME_DIR = APP_RUNTIME.removeprefix("Contents/")
CODE_RESOURCES = "_CodeSignature/CodeResources"
#: the ``zip`` format's earliest timestamp (1980-01-01)
_ZIP_EPOCH = 315532800


@dataclass(frozen=True)
class AppInfo:
    """What ``Info.plist`` says about the app."""

    name: str  # CFBundleName: the .app's stem, shown in the Finder and the menu bar
    identifier: str  # CFBundleIdentifier, reverse DNS; also the main executable's signing identifier
    version: str  # the app's PEP 440 version
    executable: str  # CFBundleExecutable: the entry point the main executable starts
    minimum_macos: str | None  # LSMinimumSystemVersion: the newest minimum among the runtime's binaries


def default_identifier(name: str) -> str:
    """``local.<name>`` with every character Apple does not allow as ``-``: a placeholder that is
    valid and unique per app on one Mac; a shipped app should set its own (``--bundle-id``)."""
    return "local." + (re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-") or "app")


def bundle_version(version: str) -> str:
    """``CFBundleVersion``/``CFBundleShortVersionString``: at most three dot-separated integers
    (Apple's rule) from the release part of *version* (``2.1rc1`` → ``2.1``, ``2024.10.3.1`` → ``2024.10.3``)."""
    try:
        release = Version(version).release
    except InvalidVersion:
        return "0"
    return ".".join(str(n) for n in release[:3])


def info_plist(info: AppInfo) -> bytes:
    """The bundle's ``Info.plist`` (XML, keys sorted: the same bytes for the same app)."""
    short = bundle_version(info.version)
    plist: dict[str, object] = {
        "CFBundleDevelopmentRegion": "en",
        "CFBundleDisplayName": info.name,
        "CFBundleExecutable": info.executable,
        "CFBundleIdentifier": info.identifier,
        "CFBundleInfoDictionaryVersion": "6.0",
        "CFBundleName": info.name,
        "CFBundlePackageType": "APPL",
        "CFBundleShortVersionString": short,
        "CFBundleSignature": "????",
        "CFBundleSupportedPlatforms": ["MacOSX"],
        "CFBundleVersion": short,
        "NSHighResolutionCapable": True,
        # the app's own version, as the lock and the manifest give it
        "BundlerAppVersion": info.version,
    }
    if info.minimum_macos:
        plist["LSMinimumSystemVersion"] = info.minimum_macos
    return plistlib.dumps(plist, fmt=plistlib.FMT_XML, sort_keys=True)


# --- the resource seal ----------------------------------------------------------------------------

#: Apple's default resource rules (what ``codesign`` and ``rcodesign`` write for an app without its
#: own): ``rules`` for the SHA-1 ``files`` list, ``rules2`` for the SHA-256 ``files2`` list.
RULES: dict[str, object] = {
    "^Resources/": True,
    "^Resources/.*\\.lproj/": {"optional": True, "weight": 1000.0},
    "^Resources/.*\\.lproj/locversion.plist$": {"omit": True, "weight": 1100.0},
    "^Resources/Base\\.lproj/": {"weight": 1010.0},
    "^version.plist$": True,
}
RULES2: dict[str, object] = {
    ".*\\.dSYM($|/)": {"weight": 11.0},
    "^(.*/)?\\.DS_Store$": {"omit": True, "weight": 2000.0},
    "^(Frameworks|SharedFrameworks|PlugIns|Plug-ins|XPCServices|Helpers|MacOS|Library/(Automator|Spotlight|LoginItems))/":
        {"nested": True, "weight": 10.0},
    "^.*": True,
    "^Info\\.plist$": {"omit": True, "weight": 20.0},
    "^PkgInfo$": {"omit": True, "weight": 20.0},
    "^Resources/": {"weight": 20.0},
    "^Resources/.*\\.lproj/": {"optional": True, "weight": 1000.0},
    "^Resources/.*\\.lproj/locversion.plist$": {"omit": True, "weight": 1100.0},
    "^Resources/Base\\.lproj/": {"weight": 1010.0},
    "^[^/]+$": {"nested": True, "weight": 10.0},
    "^embedded\\.provisionprofile$": {"weight": 20.0},
    "^version\\.plist$": {"weight": 20.0},
}


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    weight: float
    omit: bool
    optional: bool
    nested: bool


def _compiled(rules: dict[str, object]) -> tuple[_Rule, ...]:
    out = []
    for pattern, value in rules.items():
        opts = value if isinstance(value, dict) else {}
        out.append(_Rule(re.compile(pattern), float(opts.get("weight", 1.0)), bool(opts.get("omit")),
                         bool(opts.get("optional")), bool(opts.get("nested"))))
    return tuple(out)


_RULES, _RULES2 = _compiled(RULES), _compiled(RULES2)


def _rule_for(rel: str, rules: tuple[_Rule, ...]) -> _Rule | None:
    """The heaviest rule matching *rel* (the first of equal weights), as codesign picks."""
    best: _Rule | None = None
    for rule in rules:
        if rule.pattern.search(rel) and (best is None or rule.weight > best.weight):
            best = rule
    return best


def _sealed_files(contents: Path, executable: str) -> Iterator[tuple[str, Path]]:
    """Files and symlinks under ``Contents/`` the seal covers, by path from it: all but the
    signature's own directory and the main executable (it carries its own signature)."""
    for rel, path in iter_tree(contents):
        if rel.startswith("_CodeSignature/") or rel == "_CodeSignature" or rel == f"MacOS/{executable}":
            continue
        if path.is_symlink() or not path.is_dir():
            yield rel, path


def code_resources(contents: Path, executable: str) -> bytes:
    """``_CodeSignature/CodeResources`` for the bundle whose ``Contents/`` is *contents*."""
    files: dict[str, object] = {}
    files2: dict[str, object] = {}
    for rel, path in _sealed_files(contents, executable):
        if path.is_symlink():
            rule2 = _rule_for(rel, _RULES2)
            if rule2 is not None and not rule2.omit:
                files2[rel] = {"symlink": os.readlink(path)}
            continue
        data = path.read_bytes()
        rule = _rule_for(rel, _RULES)
        if rule is not None and not rule.omit:
            sha1 = hashlib.sha1(data).digest()
            files[rel] = {"hash": sha1, "optional": True} if rule.optional else sha1
        rule2 = _rule_for(rel, _RULES2)
        if rule2 is None or rule2.omit:
            continue
        if rule2.nested:
            raise OutputError(f"{contents / rel}: a file where macOS expects nested code (a framework, helper "
                              "or plug-in); an app bundle from bundler keeps only its launcher in Contents/MacOS")
        entry: dict[str, object] = {"hash2": hashlib.sha256(data).digest()}
        if rule2.optional:
            entry["optional"] = True
        files2[rel] = entry
    doc = {"files": files, "files2": files2, "rules": RULES, "rules2": RULES2}
    return plistlib.dumps(doc, fmt=plistlib.FMT_XML, sort_keys=True)


def seal(app: Path, info: AppInfo) -> None:
    """Write ``CodeResources`` and sign the main executable ad hoc, binding it and ``Info.plist``."""
    contents = app / "Contents"
    resources = code_resources(contents, info.executable)
    (contents / "_CodeSignature").mkdir(exist_ok=True)
    (contents / CODE_RESOURCES).write_bytes(resources)
    plist = (contents / "Info.plist").read_bytes()
    codesign.sign_adhoc(contents / "MacOS" / info.executable, info.identifier,
                        codesign.BundleSeal.of(plist, resources))


def write_app(runtime: Path, final: Path, launcher: Path, info: AppInfo) -> Path:
    """The app bundle *final* (``<Name>.app``) around a copy of the *runtime* tree, sealed ad hoc;
    written next to *final* and moved into place whole (nothing half-written on failure)."""
    if not (runtime / "bin" / info.executable).is_file():
        raise OutputError(f"{runtime / 'bin' / info.executable}: the app's entry point is not in the runtime; "
                          "name a console script or NAME=module:function with --entry")
    with atomic_path(final) as work:
        contents = work / "Contents"
        (contents / "MacOS").mkdir(parents=True)
        shutil.copytree(runtime, contents / RUNTIME_DIR, symlinks=True)
        main = contents / "MacOS" / info.executable
        shutil.copyfile(launcher, main)
        main.chmod(0o755)
        (contents / "Info.plist").write_bytes(info_plist(info))
        (contents / "PkgInfo").write_bytes(b"APPL????")
        seal(work, info)
    return final


# --- checking a bundle ----------------------------------------------------------------------------


def read_info(app: Path) -> dict:
    """The parsed ``Info.plist`` of *app*; OutputError when it is missing or not a property list."""
    path = app / "Contents" / "Info.plist"
    try:
        with open(path, "rb") as f:
            return plistlib.load(f)
    except (OSError, plistlib.InvalidFileException, ValueError, ExpatError) as exc:
        raise OutputError(f"{path}: missing or not a property list ({exc}); build the app again") from exc


def verify_app(app: Path) -> str:
    """Check the bundle's seal: the main executable's own signature, its bound hashes of Info.plist
    and CodeResources, and CodeResources against the files as they are now. What was checked, or an
    OutputError naming the first thing that does not match."""
    contents = app / "Contents"
    info = read_info(app)
    executable = info.get("CFBundleExecutable")
    if not isinstance(executable, str) or not (contents / "MacOS" / executable).is_file():
        raise OutputError(f"{app}: Info.plist names no main executable in Contents/MacOS; build the app again")
    main = contents / "MacOS" / executable
    try:
        codesign.verify_adhoc(main)
        image = main.read_bytes()
        sigs = [codesign.read_signature(image[sl.offset: sl.offset + sl.size], str(main))
                for sl in codesign.slices(image, main)]
    except RelocationError as exc:
        raise OutputError(f"{main}: {exc}") from exc
    try:
        resources = (contents / CODE_RESOURCES).read_bytes()
    except OSError as exc:
        raise OutputError(f"{app}: has no {CODE_RESOURCES} ({exc.strerror}); it is not sealed, build it again") from exc
    expected = codesign.BundleSeal.of((contents / "Info.plist").read_bytes(), resources)
    for sig in sigs:
        cd = sig.code_directories[0]
        if len(cd.special_hashes) < codesign.CSSLOT_RESOURCEDIR:
            raise OutputError(f"{main}: its signature binds no Info.plist or resources; sign the app again")
        if cd.special_hashes[codesign.CSSLOT_INFOSLOT - 1] != expected.info_plist:
            raise OutputError(f"{contents / 'Info.plist'}: changed after the app was signed; sign the app again")
        if cd.special_hashes[codesign.CSSLOT_RESOURCEDIR - 1] != expected.code_resources:
            raise OutputError(f"{contents / CODE_RESOURCES}: changed after the app was signed; sign the app again")
    recorded = plistlib.loads(resources)
    now = plistlib.loads(code_resources(contents, executable))
    for key in ("files2", "files"):
        old, new = recorded.get(key, {}), now[key]
        for rel in sorted(set(old) | set(new)):
            if old.get(rel) != new.get(rel):
                what = "added" if rel not in old else "removed" if rel not in new else "changed"
                raise OutputError(f"{contents / rel}: {what} after the app was signed; sign the app again")
    return f"{executable} and {len(now['files2'])} sealed files match the signature"


# --- the zip for transport ------------------------------------------------------------------------


def zip_app(app: Path, final: Path) -> Path:
    """A deterministic zip of *app* (entries sorted, times from SOURCE_DATE_EPOCH, modes and
    symlinks kept as Unix attributes, which the Finder's Archive Utility and ``ditto -x -k``
    restore), under ``<Name>.app/``; written atomically."""
    stamp = max(source_date_epoch(), _ZIP_EPOCH)
    when = _zip_time(stamp)
    top = app.name
    with atomic_path(final) as work:
        with zipfile.ZipFile(work, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            _add(zf, f"{top}/", when, stat.S_IFDIR | 0o755, b"")
            for rel, path in iter_tree(app):
                name = f"{top}/{rel}"
                if path.is_symlink():
                    target = os.readlink(path)
                    if os.path.isabs(target):
                        raise OutputError(f"{path}: absolute symlink to {target} cannot go into a relocatable app")
                    _add(zf, name, when, stat.S_IFLNK | 0o777, target.encode(), compress=False)
                elif path.is_dir():
                    _add(zf, name + "/", when, stat.S_IFDIR | 0o755, b"")
                else:
                    mode = 0o755 if os.stat(path).st_mode & 0o111 else 0o644
                    _add(zf, name, when, stat.S_IFREG | mode, path.read_bytes())
    return final


def _zip_time(epoch: int) -> tuple[int, int, int, int, int, int]:
    t = time.gmtime(epoch)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec - t.tm_sec % 2)


def _add(zf: zipfile.ZipFile, name: str, when: tuple[int, int, int, int, int, int], mode: int, data: bytes,
         compress: bool = True) -> None:
    info = zipfile.ZipInfo(name, date_time=when)
    info.create_system = 3  # Unix: external_attr carries the mode
    info.external_attr = mode << 16
    if stat.S_ISDIR(mode):
        info.external_attr |= 0x10  # MS-DOS directory bit
    info.compress_type = zipfile.ZIP_DEFLATED if compress and not stat.S_ISDIR(mode) else zipfile.ZIP_STORED
    zf.writestr(info, data)
