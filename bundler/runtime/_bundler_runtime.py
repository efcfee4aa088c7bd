"""Start-up hook of a bundler runtime (imported from _bundler_runtime.pth).

It only sets environment defaults the end user has not set: where OpenSSL finds
CA certificates and where ncurses finds terminfo. It never overrides a value the
user chose. And a runtime built with ``stdlib = "imported"`` lists what it left
out in ``_bundler_left_out.txt`` beside this file: an import of one of those
fails with an error that says so, instead of a bare "No module named". Kept
tiny: it runs at every interpreter start (the list is read on the first failed
import only).
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


class _LeftOut:
    """Last on ``sys.meta_path``: asked only when no other finder found the module."""

    names = None
    hint = ('left out of this runtime by stdlib = "imported" (nothing bundled imports it by name); '
            'rebuild with include-module = ["{0}"] or stdlib = "all"')

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if cls.names is None:
            try:
                with open(os.path.join(os.path.dirname(__file__), "_bundler_left_out.txt"), encoding="utf-8") as f:
                    cls.names = frozenset(line.strip() for line in f if line.strip())
            except OSError:
                cls.names = frozenset()
        top = name.partition(".")[0]
        if top in cls.names:
            raise ModuleNotFoundError(f"No module named {name!r}: " + cls.hint.format(top), name=name)
        return None


_setup()
sys.meta_path.append(_LeftOut)
