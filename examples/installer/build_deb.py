#!/usr/bin/env python3
"""Wrap a bundler runtime directory (`bundler build --format dir`) into a .deb.

    python3 build_deb.py dist/hello --version 1.0.0 --entry hello \\
        --maintainer "You <you@example.com>" --description "Greets people" -o dist/

Package layout:

    /opt/<name>/                        the runtime, unchanged (bin/, lib/, ...)
    /usr/bin/<entry>                    -> /opt/<name>/bin/<entry>, one per --entry
    /usr/share/applications/<name>.desktop   (unless --no-desktop)
    DEBIAN/control, DEBIAN/md5sums

The runtime needs nothing from the system but glibc, so the package declares
no Depends. Launchers in bin/ find the runtime through the /usr/bin symlinks.
No maintainer scripts: the runtime's byte code is precompiled and it writes
nothing at install time. Needs Python 3.9+ and `dpkg-deb` (Debian's dpkg);
the result is built with --root-owner-group, so this does not need root.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
DEB_VERSION = re.compile(r"^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~-]*$")
ENTRY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def fail(message: str) -> NoReturn:
    print(f"build_deb: {message}", file=sys.stderr)
    sys.exit(1)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runtime", type=Path, help="a `bundler build --format dir` output, e.g. dist/hello")
    p.add_argument("--name", help="Debian package name and /opt/<name> (default: the runtime directory's name)")
    p.add_argument("--version", required=True, help="package version, e.g. 1.0.0 (add -1 etc. for Debian revisions)")
    p.add_argument("--entry", action="append", default=[], help="bin/ launcher to expose in /usr/bin (repeatable; default: <name>)")
    p.add_argument("--maintainer", default="Unknown <unknown@example.com>", help='"Full Name <email>"')
    p.add_argument("--description", default="", help="one-line summary (default: '<name>, a bundled Python application')")
    p.add_argument("--architecture", default="amd64", help="Debian architecture (linux-x86_64 runtimes: amd64)")
    p.add_argument("--section", default="misc")
    p.add_argument("--homepage")
    p.add_argument("--display-name", help="Name= in the .desktop file (default: the package name, capitalised)")
    p.add_argument("--categories", default="Utility;", help="Categories= in the .desktop file")
    p.add_argument("--icon", help="Icon= in the .desktop file (a theme icon name or an absolute path)")
    p.add_argument("--gui", action="store_true", help="a GUI app: Terminal=false in the .desktop file")
    p.add_argument("--no-desktop", action="store_true", help="do not write a .desktop file")
    p.add_argument("--compression", default="xz", choices=("xz", "zstd", "gzip", "none"),
                   help="dpkg-deb -Z (default: xz; zstd needs dpkg >= 1.21.18 on the installing machine)")
    p.add_argument("-o", "--output-dir", type=Path, default=Path("."), help="where the .deb goes (default: .)")
    return p.parse_args(argv)


def desktop_entry(args: argparse.Namespace, name: str, entry: str) -> str:
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        f"Name={args.display_name or name.capitalize()}",
        f"Comment={args.description}",
        f"Exec=/usr/bin/{entry}",
        f"Terminal={'false' if args.gui else 'true'}",
        f"Categories={args.categories}",
    ]
    if args.icon:
        lines.append(f"Icon={args.icon}")
    return "\n".join(lines) + "\n"


def control(args: argparse.Namespace, name: str, installed_kib: int) -> str:
    fields = {
        "Package": name,
        "Version": args.version,
        "Architecture": args.architecture,
        "Maintainer": args.maintainer,
        "Installed-Size": str(installed_kib),
        "Section": args.section,
        "Priority": "optional",
        "Homepage": args.homepage,
        "Description": args.description,
    }
    return "".join(f"{k}: {v}\n" for k, v in fields.items() if v)


def installed_size_kib(root: Path) -> int:
    """Roughly what dpkg-gencontrol counts: every file and link, rounded up to KiB."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, n))
            total += max(1, -(-st.st_size // 1024))
    return total


def md5sums(root: Path) -> str:
    """DEBIAN/md5sums: regular files only, paths relative to /."""
    lines = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not (dirpath == str(root) and d == "DEBIAN"))
        for n in sorted(filenames):
            p = Path(dirpath) / n
            if p.is_symlink() or not p.is_file():
                continue
            lines.append(f"{hashlib.md5(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}\n")
    return "".join(lines)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    runtime = args.runtime.resolve()
    if not (runtime / "bin").is_dir() or not (runtime / "lib").is_dir():
        fail(f"{runtime}: not a bundler runtime directory (no bin/ and lib/); build one with --format dir")
    name = args.name or runtime.name
    if not PACKAGE_NAME.match(name):
        fail(f"package name {name!r}: use lower-case letters, digits, '+', '-' and '.' (at least 2 characters); pass --name")
    if not DEB_VERSION.match(args.version):
        fail(f"version {args.version!r} is not a Debian version; pass --version 1.0.0 or similar")
    args.description = args.description or f"{name}, a bundled Python application"
    if "\n" in args.description:
        fail("--description must be one line")
    entries = args.entry or [name]
    for entry in entries:
        if not ENTRY_NAME.match(entry) or not os.access(runtime / "bin" / entry, os.X_OK):
            fail(f"entry {entry!r}: {runtime}/bin/{entry} is not an executable launcher; pick one from {runtime}/bin")
    if shutil.which("dpkg-deb") is None:
        fail("dpkg-deb not found; apt-get install dpkg (or build on Debian/Ubuntu)")

    args.output_dir.mkdir(parents=True, exist_ok=True)
    deb = args.output_dir.resolve() / f"{name}_{args.version.split(':')[-1]}_{args.architecture}.deb"
    with tempfile.TemporaryDirectory(prefix="build-deb-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir(mode=0o755)
        opt = root / "opt" / name
        opt.parent.mkdir(parents=True)
        shutil.copytree(runtime, opt, symlinks=True)
        usr_bin = root / "usr" / "bin"
        usr_bin.mkdir(parents=True)
        for entry in entries:
            (usr_bin / entry).symlink_to(f"/opt/{name}/bin/{entry}")
        if not args.no_desktop:
            apps = root / "usr" / "share" / "applications"
            apps.mkdir(parents=True)
            (apps / f"{name}.desktop").write_text(desktop_entry(args, name, entries[0]), encoding="utf-8")
        root.chmod(0o755)  # "./" in the package: dpkg applies it to / when installing
        for dirpath, dirnames, filenames in os.walk(root):  # sane modes, whatever the caller's umask
            for d in dirnames:
                os.chmod(os.path.join(dirpath, d), 0o755)
            for f in filenames:
                p = os.path.join(dirpath, f)
                if not os.path.islink(p):
                    os.chmod(p, 0o755 if os.stat(p).st_mode & 0o111 else 0o644)
        size = installed_size_kib(root)
        debian = root / "DEBIAN"
        debian.mkdir(mode=0o755)
        (debian / "md5sums").write_text(md5sums(root), encoding="utf-8")
        (debian / "control").write_text(control(args, name, size), encoding="utf-8")
        for f in debian.iterdir():
            f.chmod(0o644)
        debian.chmod(0o755)
        proc = subprocess.run(
            ["dpkg-deb", "--build", "--root-owner-group", f"-Z{args.compression}", str(root), str(deb)],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            fail(f"dpkg-deb failed: {proc.stderr.strip() or proc.stdout.strip()}")
    print(deb)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
