"""linux-aarch64 from this x86_64 host: Debian 12's arm64 CPython + numpy's aarch64 wheel.

The base is Debian's arm64 python3.11 packages unpacked into a system image
(tests/support/foreign.py); nothing of the host's own libraries may end up in the
runtime. The artifact runs under qemu-user (binfmt_misc, F flag) in an aarch64
clean room that holds only the manylinux system libraries of that image.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.e2e import run_bundler
from support.foreign import aarch64_cleanroom, elf_machine

from bundler.output import payload

NUMPY = "numpy-2.4.6-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl"
NUMPY_URL = ("https://files.pythonhosted.org/packages/33/a8/6fa8c1a345a8c85dbb21932c447bee07c30a2c2a3f31e369c0a84b300147/"
             + NUMPY)
NUMPY_SHA256 = "0ab0a9c4ffb1a6d95ef519fe4247dba8eb6b18ad93999f76b7f657039acabd47"
PLACE = "/opt/arm app ü/npa"
CHECK = (
    "import platform, ssl, sqlite3, lzma, bz2, zlib, ctypes, decimal, numpy as np\n"
    "a = np.arange(12, dtype=float).reshape(3, 4)\n"
    "print(platform.machine(), np.__version__, float((a @ a.T).trace()), round(float(np.linalg.det(np.eye(3) * 2)), 6))\n"
    "print(ssl.OPENSSL_VERSION.split()[0], sqlite3.connect(':memory:').execute('select 6*7').fetchone()[0])\n"
)


@pytest.fixture(scope="module")
def sysroot(arm64_sysroot) -> Path:
    return arm64_sysroot


@pytest.fixture(scope="module")
def arm_build(sysroot, tmp_path_factory, build_cache) -> dict:
    work = tmp_path_factory.mktemp("arm-build")
    lock = work / "pylock.toml"
    lock.write_text(
        'lock-version = "1.0"\ncreated-by = "tests"\n\n[[packages]]\nname = "numpy"\nversion = "2.4.6"\n'
        f'wheels = [{{name = "{NUMPY}", url = "{NUMPY_URL}", hashes = {{sha256 = "{NUMPY_SHA256}"}}}}]\n'
    )
    proc = run_bundler(
        "build", "--lock", str(lock), "--entry", "f2py", "--name", "npa", "--version", "1.0",
        "--target", "linux-aarch64", "--python", f"linux-aarch64={sysroot}", "--format", "onefile",
        "--format", "dir", "--output-dir", str(work / "out"), "--cache-dir", str(build_cache), "--json",
    )
    assert proc.returncode == 0, proc.stderr
    return {"summary": json.loads(proc.stdout), "out": work / "out"}


def test_aarch64_runtime_holds_only_aarch64_code_from_the_image(arm_build, sysroot):
    s = arm_build["summary"]
    assert s["target"] == "linux-aarch64" and s["python"].startswith("3.11.")
    assert s["wheels"] == [NUMPY]
    runtime = arm_build["out"] / "npa"
    machines = {p.relative_to(runtime).as_posix(): elf_machine(p) for p in runtime.rglob("*")
                if p.is_file() and not p.is_symlink() and elf_machine(p)}
    assert machines and set(machines.values()) == {"aarch64"}, {k: v for k, v in machines.items() if v != "aarch64"}
    # libz.so.1 (needed by numpy's libgfortran) came from the arm64 image, not from the host
    assert any(Path(v).name.startswith("libz-") for v in s["vendored"]), s["vendored"]
    artifact = Path(next(o["path"] for o in s["outputs"] if o["format"] == "onefile"))
    assert elf_machine(artifact) == "aarch64"
    assert payload.read_manifest(artifact).target == "linux-aarch64"


def test_aarch64_artifact_runs_in_an_aarch64_clean_room(arm_build, sysroot, tmp_path):
    artifact = Path(next(o["path"] for o in arm_build["summary"]["outputs"] if o["format"] == "onefile"))
    room = aarch64_cleanroom(tmp_path / "room", sysroot)
    room.add_file(artifact, PLACE, mode=0o755)
    proc = room.run([PLACE, "-c", CHECK], env={"BUNDLER_STUB": "python"}, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    lines = proc.stdout.decode().splitlines()
    assert lines[0] == "aarch64 2.4.6 506.0 8.0", lines
    assert lines[1] == "OpenSSL 42", lines
    # the entry point (numpy's f2py console script) runs too, with its arguments
    proc = room.run([PLACE, "-v"], timeout=600)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stdout.decode().strip() == "2.4.6"
