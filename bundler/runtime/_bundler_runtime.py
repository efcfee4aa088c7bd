"""Start-up hook of a bundler runtime (imported from _bundler_runtime.pth).

It only sets environment defaults the end user has not set: where OpenSSL finds
CA certificates and where ncurses finds terminfo. It never overrides a value the
user chose. And a runtime built with ``stdlib = "imported"`` lists what it left
out in ``_bundler_left_out.txt`` beside this file: when an import of one of
those ends the program, the traceback says so and what to do. Kept tiny: it
runs at every interpreter start (the list is read only then).
"""

import os
import sys

# Usual CA bundle locations across Linux distributions (Debian/Ubuntu, Fedora/RHEL, SUSE, Alpine, ...).
_CA_FILES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
)
_TERMINFO_DIRS = ("/etc/terminfo", "/lib/terminfo", "/usr/share/terminfo", "/usr/lib/terminfo")


def _setup(env=os.environ, base=sys.base_prefix):
    if "SSL_CERT_FILE" not in env and "SSL_CERT_DIR" not in env:
        for candidate in _CA_FILES:
            if os.path.isfile(candidate):
                env["SSL_CERT_FILE"] = candidate
                break
        else:
            bundled = os.path.join(base, "etc", "ssl", "cert.pem")
            if os.path.isfile(bundled):
                env["SSL_CERT_FILE"] = bundled
    if "TERMINFO_DIRS" not in env and "TERMINFO" not in env:
        dirs = [d for d in _TERMINFO_DIRS if os.path.isdir(d)]
        dirs.append(os.path.join(base, "share", "terminfo"))
        env["TERMINFO_DIRS"] = ":".join(dirs)


def _left_out_hint(hook, listed):
    """*hook* (``sys.excepthook``), and after an uncaught import error of a module in the file *listed*, what to do.

    Imports themselves are untouched: ``try: import x / except ImportError`` and
    ``importlib.util.find_spec`` see what they would see in any Python without the module.
    """
    names = []

    def excepthook(kind, value, tb):
        name = getattr(value, "name", None) or ""
        top = name.partition(".")[0]
        if isinstance(value, ModuleNotFoundError) and top:
            if not names:
                try:
                    with open(listed, encoding="utf-8") as f:
                        names.append(frozenset(line.strip() for line in f if line.strip()))
                except OSError:
                    names.append(frozenset())
            if top in names[0]:
                note = (f"bundler: {top!r} was left out of this runtime by stdlib = \"imported\" (nothing bundled "
                        f"imports it by name); rebuild with include-module = [\"{top}\"] or stdlib = \"all\"")
                if hasattr(value, "add_note"):  # 3.11+: printed with the traceback
                    value.add_note(note)
                else:
                    hook(kind, value, tb)
                    sys.stderr.write(note + "\n")
                    return
        hook(kind, value, tb)

    return excepthook


_setup()
_LISTED = os.path.join(os.path.dirname(__file__), "_bundler_left_out.txt")
if os.path.exists(_LISTED):
    sys.excepthook = _left_out_hint(sys.excepthook, _LISTED)
