"""Signing an app bundle with a real identity (``--sign-identity``): hardened runtime, entitlements,
a secure timestamp, inside out (every Mach-O of the runtime, then the bundle).

Two signers, chosen by what the identity is:

* a PKCS#12 file (``--sign-identity developer-id.p12``; its password in ``BUNDLER_SIGN_PASSWORD``):
  rcodesign, through the ``apple-platform-py`` package (``pip install 'bundler[macos-sign]'``), on
  any host, Linux included;
* anything else is a keychain identity (``"Developer ID Application: Name (TEAMID)"``): Apple's
  ``codesign``, which only a Mac has.

The bundle arrives sealed ad hoc (:mod:`bundler.output.appbundle`); signing replaces every signature.
Notarization is the next step and needs Apple's service (``xcrun notarytool`` or ``rcodesign
notary-submit``, then ``xcrun stapler staple``): README, "macOS app bundles".
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bundler.binfmt.macho.parse import is_macho
from bundler.errors import SignError
from bundler.output.tree import iter_tree

#: the PKCS#12 file's password (shared with the Windows --sign; unset or empty: none)
PASSWORD_ENV = "BUNDLER_SIGN_PASSWORD"
#: the RFC 3161 time-stamp server; ``none`` signs without a timestamp (notarization refuses that)
TIMESTAMP_ENV = "BUNDLER_SIGN_TIMESTAMP"
APPLE_TIMESTAMP = "http://timestamp.apple.com/ts01"
CODESIGN = "/usr/bin/codesign"

#: What a Python runtime needs under the hardened runtime: ctypes and cffi callbacks write code
#: into memory (allow-unsigned-executable-memory); a package may load a library that is not signed
#: by the app's team, e.g. one it downloaded or built at run time (disable-library-validation).
#: Briefcase ships the same two for its Python apps.
DEFAULT_ENTITLEMENTS: dict[str, bool] = {
    "com.apple.security.cs.allow-unsigned-executable-memory": True,
    "com.apple.security.cs.disable-library-validation": True,
}


@dataclass(frozen=True)
class Identity:
    """Who signs: a PKCS#12 file (rcodesign) or the name of a keychain identity (codesign)."""

    text: str

    @property
    def p12(self) -> Path | None:
        path = Path(self.text).expanduser()
        return path if path.suffix.lower() in (".p12", ".pfx") else None


def entitlements_xml(entitlements: Path | None) -> bytes:
    """The entitlements to sign executables with: the user's file (checked to be a property list
    of a dictionary) or :data:`DEFAULT_ENTITLEMENTS`."""
    if entitlements is None:
        return plistlib.dumps(DEFAULT_ENTITLEMENTS, sort_keys=True)
    try:
        data = entitlements.read_bytes()
        if not isinstance(plistlib.loads(data), dict):
            raise ValueError("not a dictionary")
    except (OSError, plistlib.InvalidFileException, ValueError) as exc:
        raise SignError(f"--entitlements {entitlements}: not a readable property list of a dictionary ({exc}); "
                        "fix the file or leave it out for bundler's defaults") from exc
    return data


def signing_order(app: Path) -> list[str]:
    """Every Mach-O file of *app* (bundle-relative), deepest first, then the main executable last:
    the order codesign needs (a container's seal hashes what is inside it as signed)."""
    contents = app / "Contents"
    main = _main_executable(app)
    found = [f"Contents/{rel}" for rel, path in iter_tree(contents)
             if not path.is_symlink() and path.is_file() and rel != f"MacOS/{main}" and is_macho(path)]
    found.sort(key=lambda rel: (-rel.count("/"), rel))
    return found


def _main_executable(app: Path) -> str:
    with open(app / "Contents" / "Info.plist", "rb") as f:
        return plistlib.load(f)["CFBundleExecutable"]


def _is_executable(path: Path) -> bool:
    from bundler.binfmt.macho.parse import MH_EXECUTE, header, slices

    data = path.read_bytes()
    return any(header(data, sl.offset).filetype == MH_EXECUTE for sl in slices(data, path))


def check_signer(identity: Identity) -> None:
    """Refuse, before a build, an identity this host cannot sign with (SignError naming it)."""
    p12 = identity.p12
    if p12 is not None:
        try:
            import apple_platform  # noqa: F401
        except ImportError as exc:
            raise SignError(f"--sign-identity {p12}: signing with a PKCS#12 file needs rcodesign from the "
                            "apple-platform-py package; pip install 'bundler[macos-sign]'") from exc
    elif sys.platform != "darwin" or not Path(CODESIGN).exists():
        raise SignError(f"--sign-identity {identity.text!r}: a keychain identity needs Apple's codesign, which only a "
                        "Mac has; sign on a Mac, or pass a PKCS#12 file (.p12) exported from the keychain")


def sign_app(app: Path, identity: Identity, entitlements: Path | None = None,
             env: Mapping[str, str] = os.environ) -> str:
    """Sign *app* with *identity*: every Mach-O inside out with the hardened runtime (executables
    with the entitlements), then the bundle. What was done, for the build's log."""
    ents = entitlements_xml(entitlements)
    p12 = identity.p12
    if p12 is not None:
        return _sign_rcodesign(app, p12, ents, env)
    return _sign_codesign(app, identity.text, ents, env)


def _timestamp(env: Mapping[str, str]) -> str:
    return env.get(TIMESTAMP_ENV, "") or APPLE_TIMESTAMP


def _sign_rcodesign(app: Path, p12: Path, ents: bytes, env: Mapping[str, str]) -> str:
    check_signer(Identity(str(p12)))
    import apple_platform

    if not p12.is_file():
        raise SignError(f"--sign-identity {p12}: no such file; name a PKCS#12 (.p12) file or a keychain identity")
    signer = apple_platform.Signer(p12=apple_platform.P12Key(path=str(p12), password=env.get(PASSWORD_ENV, "")))
    stamp = _timestamp(env)
    order = signing_order(app)
    ent_file = app.parent / f".{app.name}.entitlements.plist"
    ent_file.write_bytes(ents)
    try:
        for rel in order:
            path = app / rel
            _rcodesign(apple_platform, path, p12, signer=signer, timestamp_url=stamp,
                       code_signature_flags=["runtime"],
                       entitlements_xml_file=str(ent_file) if _is_executable(path) else None)
        # the bundle: CodeResources over the files now signed, then the main executable; nested code
        # is not signed again (shallow)
        _rcodesign(apple_platform, app, p12, signer=signer, timestamp_url=stamp, shallow=True,
                   code_signature_flags=["runtime"], entitlements_xml_file=str(ent_file))
    finally:
        ent_file.unlink(missing_ok=True)
    return (f"signed {app.name} with {p12.name} (rcodesign, hardened runtime, "
            f"{'no timestamp' if stamp == 'none' else 'timestamp from ' + stamp}): {len(order)} binaries, then the bundle")


def _rcodesign(apple_platform, path: Path, p12: Path, **kwargs) -> None:
    try:
        apple_platform.sign(str(path), **kwargs)
    except apple_platform.ApplePlatformError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise SignError(f"--sign-identity {p12}: rcodesign could not sign {path.name} ({detail}); check the "
                        f"PKCS#12 file, its password in ${PASSWORD_ENV} and the time-stamp server "
                        f"(${TIMESTAMP_ENV}=none signs without one)") from exc


def codesign_commands(app: Path, identity: str, ent_file: Path, order: list[str], executables: set[str],
                      timestamp: bool = True) -> list[list[str]]:
    """Apple's ``codesign`` command lines, inside out: each Mach-O, then the bundle."""
    base = [CODESIGN, "--force", "--options", "runtime", "--timestamp" if timestamp else "--timestamp=none",
            "--sign", identity]
    cmds = [[*base, *(("--entitlements", str(ent_file)) if rel in executables else ()), str(app / rel)]
            for rel in order]
    cmds.append([*base, "--entitlements", str(ent_file), str(app)])
    return cmds


def _sign_codesign(app: Path, identity: str, ents: bytes, env: Mapping[str, str]) -> str:
    check_signer(Identity(identity))
    order = signing_order(app)
    executables = {rel for rel in order if _is_executable(app / rel)}
    ent_file = app.parent / f".{app.name}.entitlements.plist"
    ent_file.write_bytes(ents)
    timestamp = env.get(TIMESTAMP_ENV, "") != "none"
    try:
        for cmd in codesign_commands(app, identity, ent_file, order, executables, timestamp):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SignError(f"--sign-identity {identity!r}: codesign could not sign {Path(cmd[-1]).name} "
                                f"({' '.join(proc.stderr.split())[:300] or proc.returncode}); check the identity "
                                "with `security find-identity -v -p codesigning`")
    finally:
        ent_file.unlink(missing_ok=True)
    return f"signed {app.name} with {identity!r} (codesign, hardened runtime): {len(order)} binaries, then the bundle"
