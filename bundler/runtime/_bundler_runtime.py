"""Start-up hook of a bundler runtime (imported from _bundler_runtime.pth).

It only sets environment defaults the end user has not set: where OpenSSL finds
CA certificates and where ncurses finds terminfo. It never overrides a value the
user chose. Kept tiny: it runs at every interpreter start.
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


_setup()
