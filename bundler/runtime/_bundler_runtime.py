"""Start-up hook of a bundler runtime (imported from _bundler_runtime.pth).

It only sets environment defaults the end user has not set: where OpenSSL finds
CA certificates and where ncurses finds terminfo. It never overrides a value the
user chose. And a runtime built with ``stdlib = "imported"`` lists what it left
out in ``_bundler_left_out.txt`` beside this file: an import of one of those
fails with an error that says so and what to do. Kept tiny: it runs at every
interpreter start (the list is read on the first failed import only).
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
    """Last on ``sys.meta_path``, so asked only about a module no other finder found: when an import
    (``import``, ``importlib.import_module``, ``__import__``) asks for a top-level module listed in
    *listed*, its error says why the module is missing and what to do, wherever it is caught or
    printed. ``importlib.util.find_spec`` and the like get None, as from any Python without it.
    """

    listed = ""
    names = None

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if path is not None:  # a submodule: its package was found
            return None
        if cls.names is None:
            try:
                with open(cls.listed, encoding="utf-8") as f:
                    cls.names = frozenset(line.strip() for line in f if line.strip())
            except OSError:
                cls.names = frozenset()
        if name not in cls.names:
            return None
        try:  # the import system's own lookup, not a question like find_spec's
            importing = sys._getframe(2).f_code.co_name == "_find_and_load_unlocked"
        except (AttributeError, ValueError):
            importing = False
        if not importing:
            return None
        raise ModuleNotFoundError(
            f"No module named {name!r}: this app's runtime was built without it (stdlib = \"imported\" keeps "
            f"only the standard library the app imports by name); whoever builds the app can keep it with "
            f"--include-module {name} (include-module = [\"{name}\"]) or --stdlib all", name=name)


_setup()
_LeftOut.listed = os.path.join(os.path.dirname(__file__), "_bundler_left_out.txt")
if os.path.exists(_LeftOut.listed):
    sys.meta_path.append(_LeftOut)
