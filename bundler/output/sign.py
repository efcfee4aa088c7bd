"""Authenticode signing of the Windows single file with osslsigncode (``bundler build --sign``).

The signature is a PE certificate table appended after the trailer; the stub and
:func:`bundler.output.payload.read_trailer` find the trailer before it (docs/FORMAT.md).
The password comes from ``BUNDLER_SIGN_PASSWORD`` and reaches osslsigncode on its
standard input (``-readpass -``), never on a command line; unset or empty, none is given. No timestamp: that needs
a time-stamping server on the network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from bundler.errors import PayloadError, SignError
from bundler.output import payload as pl

OSSLSIGNCODE = "osslsigncode"
#: the environment variable holding the PKCS#12 file's password (unset or empty: a file without one)
PASSWORD_ENV = "BUNDLER_SIGN_PASSWORD"


def find_osslsigncode(pfx: Path) -> str:
    """The osslsigncode executable; SignError naming *pfx* if it is not on PATH."""
    found = shutil.which(OSSLSIGNCODE)
    if found is None:
        raise SignError(f"--sign {pfx}: osslsigncode is not on PATH; install it (Debian: apt-get install "
                        "osslsigncode) or build without --sign")
    return found


def sign_command(tool: str, pfx: Path, name: str, src: Path, dest: Path, *, password: bool = True) -> list[str]:
    """The osslsigncode command line; with *password*, osslsigncode reads it from stdin (it is
    never an argument). osslsigncode cannot read an empty one that way: without, it tries none."""
    return [tool, "sign", "-pkcs12", str(pfx), *(("-readpass", "-") if password else ()), "-n", name,
            "-h", "sha256", "-in", str(src), "-out", str(dest)]


def sign_file(path: Path, pfx: Path, name: str, env: Mapping[str, str] = os.environ) -> None:
    """Replace *path* (a Windows single file) with its Authenticode-signed copy; on failure *path*
    is left as it was and no partial file remains."""
    tool = find_osslsigncode(pfx)
    signed = path.with_name(path.name + ".signed")
    try:
        password = env.get(PASSWORD_ENV, "")
        proc = subprocess.run(sign_command(tool, pfx, name, path, signed, password=bool(password)),
                              input=password.encode(), capture_output=True, timeout=300)
        if proc.returncode != 0 or not signed.is_file():
            detail = " ".join(proc.stderr.decode("utf-8", "replace").split() or proc.stdout.decode("utf-8", "replace").split())
            raise SignError(f"--sign {pfx}: osslsigncode could not sign {path.name} ({detail[:300] or f'exit {proc.returncode}'}); "
                            f"check the PKCS#12 file and its password in ${PASSWORD_ENV}")
        try:
            pl.read_trailer(signed)
        except PayloadError as exc:
            raise SignError(f"--sign {pfx}: the signed {path.name} no longer has a readable bundler trailer ({exc}); "
                            "report it") from exc
        os.chmod(signed, 0o755)
        os.replace(signed, path)
    finally:
        signed.unlink(missing_ok=True)
