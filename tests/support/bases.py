"""Base CPythons for foreign targets, in the layouts bundler reads, made of real binaries.

Neither python.org's Windows embeddable zip nor python-build-standalone's
archives can be downloaded here (only PyPI and Debian are reachable), so these
are built with the same layouts and metadata, from programs compiled by
``zig cc`` for the target: a PE ``python.exe`` importing ``python311.dll``, a
Mach-O ``bin/python3.11`` loading ``@executable_path/../lib/libpython3.11.dylib``
like python-build-standalone's. They are not Python interpreters: the
"interpreter" prints its arguments and exits with a code it is given, which is
what a test of relocation, packing and the stub needs to see.
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

from support.native import zig_cc

WINDOWS_TARGET = "x86_64-windows-gnu"
MACOS_TARGET = "aarch64-macos.11.0"

#: the fake interpreter: prints each argument, the helper's value and two env vars, exits with --exit N
PYTHON_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#include <shellapi.h>
#endif
extern int helper_value(void);
extern int py_version_hex(void);
int main(int argc, char **argv) {
#ifdef _WIN32
    /* like python.exe: arguments as UTF-16 from the command line, printed as UTF-8 */
    wchar_t **wargv = CommandLineToArgvW(GetCommandLineW(), &argc);
    static char buf[4096];
    for (int i = 0; i < argc; i++) {
        WideCharToMultiByte(CP_UTF8, 0, wargv[i], -1, buf, sizeof buf, NULL, NULL);
        argv[i] = _strdup(buf);
    }
#endif
    int code = 0;
    for (int i = 1; i < argc; i++) {
        printf("arg=%s\n", argv[i]);
        if (strcmp(argv[i], "--exit") == 0 && i + 1 < argc) code = atoi(argv[i + 1]);
    }
    const char *home = getenv("PYTHONHOME");
    const char *argv0 = getenv("BUNDLER_ARGV0");
    printf("helper=%d\nversion=%x\nPYTHONHOME=%s\nBUNDLER_ARGV0=%s\n", helper_value(), py_version_hex(),
           home ? home : "(unset)", argv0 ? argv0 : "(unset)");
    return code;
}
"""
LIBPYTHON_C = r"""
__attribute__((used)) static const char version_string[] = "\0" "3.11.9";
int py_version_hex(void) { return 0x030B09F0 + (version_string[1] == '3' ? 0 : 1); }
"""
HELPER_C = "int helper_value(void) { return 42; }\n"
EXTENSION_C = "extern int helper_value(void);\nextern int py_version_hex(void);\n" \
              "int ext_value(void) { return helper_value() + (py_version_hex() > 0); }\n"


def windows_helper_dll(out_dir: Path) -> Path:
    """``helper.dll``, the library the fake python.exe and the extension need, outside any base."""
    return zig_cc(out_dir / "helper.dll", {"helper.c": HELPER_C}, "-shared",
                  f"-Wl,--out-implib,{out_dir / 'helper.lib'}", target=WINDOWS_TARGET)


def windows_embeddable_zip(work: Path, helper_dir: Path) -> Path:
    """``python-3.11.9-embed-amd64.zip``: python.exe, python311.dll, python311.zip, python311._pth."""
    build = work / "win-build"
    dll = zig_cc(build / "python311.dll", {"libpython.c": LIBPYTHON_C}, "-shared",
                 f"-Wl,--out-implib,{build / 'python311.lib'}", target=WINDOWS_TARGET)
    exe = zig_cc(build / "python.exe", {"python.c": PYTHON_C}, str(build / "python311.lib"),
                 str(helper_dir / "helper.lib"), "-lshell32", target=WINDOWS_TARGET)
    stdlib = io.BytesIO()
    with zipfile.ZipFile(stdlib, "w") as zf:
        zf.writestr("os.py", "# the standard library lives in this zip in the embeddable distribution\n")
    out = work / "python-3.11.9-embed-amd64.zip"
    with zipfile.ZipFile(out, "w") as zf:
        zf.write(exe, "python.exe")
        zf.write(dll, "python311.dll")
        zf.writestr("python311.zip", stdlib.getvalue())
        zf.writestr("python311._pth", "python311.zip\r\n.\r\n\r\n# Uncomment to run site.main() automatically\r\n#import site\r\n")
    return out


def windows_extension(out: Path, helper_dir: Path, work: Path) -> Path:
    """A ``.pyd`` that imports python311.dll (in the base; built by :func:`windows_embeddable_zip`)
    and helper.dll (found through --lib-path)."""
    return zig_cc(out, {"ext.c": EXTENSION_C}, "-shared", str(work / "win-build" / "python311.lib"),
                  str(helper_dir / "helper.lib"), target=WINDOWS_TARGET)


def macos_helper_dylib(out_dir: Path) -> Path:
    """``libhelper.1.dylib`` with a Homebrew install name, as an extension would link it on a Mac."""
    return zig_cc(out_dir / "libhelper.1.dylib", {"helper.c": HELPER_C}, "-shared",
                  "-Wl,-install_name,/opt/homebrew/opt/helper/lib/libhelper.1.dylib", target=MACOS_TARGET)


#: macOS arch -> (zig target, python-build-standalone triple, oldest macOS)
MACOS_ARCHES = {
    "arm64": (MACOS_TARGET, "aarch64-apple-darwin", "11.0"),
    "x86_64": ("x86_64-macos.10.13", "x86_64-apple-darwin", "10.13"),
}


def macos_pbs_archive(work: Path, arch: str = "arm64") -> Path:
    """A python-build-standalone ``install_only`` archive for macos-*arch* (``python/`` + PYTHON.json)."""
    zig_target, triple, minimum = MACOS_ARCHES[arch]
    build = work / f"mac-build-{arch}"
    lib = zig_cc(build / "lib" / "libpython3.11.dylib", {"libpython.c": LIBPYTHON_C}, "-shared",
                 "-Wl,-install_name,@executable_path/../lib/libpython3.11.dylib", target=zig_target)
    helper = zig_cc(build / "lib" / "libhelper.dylib", {"helper.c": HELPER_C}, "-shared",
                    "-Wl,-install_name,@executable_path/../lib/libhelper.dylib", target=zig_target)
    exe = zig_cc(build / "bin" / "python3.11", {"python.c": PYTHON_C}, str(lib), str(helper), target=zig_target)
    meta = {
        "version": "8",
        "target_triple": triple,
        "python_version": "3.11.9",
        "python_exe": "install/bin/python3.11",
        "python_stdlib": "install/lib/python3.11",
        "apple_sdk_deployment_target": minimum,
    }
    sysconfig = "build_time_vars = {'LDLIBRARY': 'libpython3.11.dylib', 'Py_ENABLE_SHARED': 1, " \
                "'EXT_SUFFIX': '.cpython-311-darwin.so', 'MULTIARCH': 'darwin'}\n"
    out = work / f"cpython-3.11.9+20240726-{triple}-install_only.tar.gz"
    with tarfile.open(out, "w:gz") as tf:
        def add(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(f"python/{name}")
            info.size, info.mode = len(data), mode
            tf.addfile(info, io.BytesIO(data))

        add("bin/python3.11", exe.read_bytes(), 0o755)
        add("lib/libpython3.11.dylib", lib.read_bytes(), 0o755)
        add("lib/libhelper.dylib", helper.read_bytes(), 0o755)
        add("lib/python3.11/os.py", b"# landmark\n")
        add("lib/python3.11/_sysconfigdata__darwin_darwin.py", sysconfig.encode())
        add("lib/python3.11/lib-dynload/.keep", b"")
        add("PYTHON.json", json.dumps(meta).encode())
    return out


def macos_extension(out: Path, helper_dir: Path, work: Path) -> Path:
    """An extension module linking the Homebrew-named libhelper (found through --lib-path)."""
    return zig_cc(out, {"ext.c": "extern int helper_value(void);\nint ext_value(void) { return helper_value(); }\n"},
                  "-shared", str(helper_dir / "libhelper.1.dylib"), target=MACOS_TARGET)
