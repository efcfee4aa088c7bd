"""One command, three targets: linux-x86_64, windows-x86_64 and macos-arm64 from this Linux host.

The Windows and macOS bases are built by tests/support/bases.py in the layouts of the
Windows embeddable zip and python-build-standalone (neither can be downloaded
here); their binaries are real PE and Mach-O files compiled by zig. The
Windows artifact runs under wine; the macOS one cannot run without a macOS
kernel, so its relocated Mach-O files are read back with LIEF and their
signatures checked.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import lief
import pefile
import pytest
from support.bases import (
    macos_extension,
    macos_helper_dylib,
    macos_pbs_archive,
    windows_embeddable_zip,
    windows_extension,
    windows_helper_dll,
)
from support.e2e import run_bundler
from support.native import shared_lib
from support.signing import make_signing_cert, osslsigncode_verify
from support.wheelfactory import make_wheel, sha256_of
from support.winetools import run_wine

from bundler.binfmt.macho.codesign import verify_adhoc
from bundler.output import payload

TARGETS = ("linux-x86_64", "windows-x86_64", "macos-arm64")
MAIN = "import sys\ndef main():\n    print('tinyext main on', sys.platform)\n"


def _wheels(work: Path, libs: Path) -> dict[str, Path]:
    """tinyext 1.0 as three platform wheels, each carrying a native module built for its platform."""
    out = work / "wheels"
    linux_so = shared_lib(work / "ext" / "linux" / "_native.so", "_native.so", "int ext_value(void){return 1;}\n")
    win_pyd = windows_extension(work / "ext" / "win" / "_native.pyd", libs, work)
    mac_so = macos_extension(work / "ext" / "mac" / "_native.so", libs, work)
    common = {"tinyext/__init__.py": MAIN}
    return {
        "linux-x86_64": make_wheel(out, "tinyext", "1.0", "cp311-cp311-manylinux_2_17_x86_64", files={
            **common, "tinyext/_native.cpython-311-x86_64-linux-gnu.so": linux_so.read_bytes()}),
        "windows-x86_64": make_wheel(out, "tinyext", "1.0", "cp311-cp311-win_amd64", files={
            **common, "tinyext/_native.cp311-win_amd64.pyd": win_pyd.read_bytes()}),
        "macos-arm64": make_wheel(out, "tinyext", "1.0", "cp311-cp311-macosx_11_0_arm64", files={
            **common, "tinyext/_native.cpython-311-darwin.so": mac_so.read_bytes()}),
    }


@pytest.fixture(scope="module")
def cross_build(tmp_path_factory, build_cache) -> dict:
    work = tmp_path_factory.mktemp("cross")
    libs = work / "libs"
    windows_helper_dll(libs)
    macos_helper_dylib(libs)
    win_zip = windows_embeddable_zip(work, libs)
    mac_tar = macos_pbs_archive(work)
    wheels = _wheels(work, libs)
    project = work / "proj"
    project.mkdir()
    entries = ",\n".join(
        f'  {{name = "{w.name}", path = "{os.path.relpath(w, project)}", hashes = {{sha256 = "{sha256_of(w)}"}}}}'
        for w in wheels.values()
    )
    (project / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "tests"\n\n[[packages]]\nname = "tinyext"\nversion = "1.0"\n'
        f"wheels = [\n{entries}\n]\n"
    )
    (project / "pyproject.toml").write_text(
        '[project]\nname = "cross"\nversion = "1.0"\n\n[tool.bundler]\nentry = ["hello=tinyext:main"]\n'
        f'target = {json.dumps(list(TARGETS))}\n'
        f'[tool.bundler.targets.windows-x86_64]\npython = "{win_zip}"\n'
        f'[tool.bundler.targets.macos-arm64]\npython = "{mac_tar}"\n'
    )
    proc = run_bundler("build", str(project), "--lib-path", str(libs), "--json", "--cache-dir", str(build_cache))
    assert proc.returncode == 0, proc.stderr
    return {"summary": json.loads(proc.stdout), "work": work, "wheels": wheels, "stderr": proc.stderr}


def _extract(artifact: Path, dest: Path) -> Path:
    payload.extract(artifact, dest)
    return dest


def test_three_artifacts_name_their_targets_and_carry_their_wheels(cross_build, tmp_path):
    builds = cross_build["summary"]["builds"]
    assert [b["target"] for b in builds] == list(TARGETS)
    for b in builds:
        (out,) = b["outputs"]
        artifact = Path(out["path"])
        assert artifact.name == f"cross-1.0-{b['target']}" + (".exe" if b["target"].startswith("windows") else "")
        manifest = payload.read_manifest(artifact)
        assert manifest.target == b["target"]
        tree = _extract(artifact, tmp_path / b["target"])
        site = next(tree.rglob("tinyext-1.0.dist-info"))
        tags = [l.split(": ", 1)[1] for l in (site / "WHEEL").read_text().splitlines() if l.startswith("Tag: ")]
        assert tags == [cross_build["wheels"][b["target"]].name.removesuffix(".whl").split("-", 2)[2]]
        assert b["wheels"] == [cross_build["wheels"][b["target"]].name]


def test_linux_artifact_runs(cross_build):
    (out,) = cross_build["summary"]["builds"][0]["outputs"]
    proc = subprocess.run([out["path"]], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "tinyext main on linux"


def test_windows_runtime_vendors_and_renames_the_dll(cross_build, tmp_path):
    b = cross_build["summary"]["builds"][1]
    tree = _extract(Path(b["outputs"][0]["path"]), tmp_path / "win")
    vendored = sorted(p.name for p in tree.glob("helper-*.dll"))
    assert len(vendored) == 1 and b["vendored"] == vendored
    for binary in (tree / "python.exe", tree / "Lib/site-packages/tinyext/_native.cp311-win_amd64.pyd"):
        pe = pefile.PE(str(binary))
        imports = [e.dll.decode().lower() for e in pe.DIRECTORY_ENTRY_IMPORT]
        assert vendored[0].lower() in imports and "helper.dll" not in imports, (binary, imports)
    # the embeddable distribution's ._pth now adds site-packages
    pth = (tree / "python311._pth").read_text()
    assert "Lib\\site-packages" in pth and "\nimport site" in pth.replace("\r", "")


def test_windows_artifact_runs_under_wine(cross_build, wine, tmp_path):
    b = cross_build["summary"]["builds"][1]
    artifact = Path(b["outputs"][0]["path"])
    env = dict(wine)
    proc = run_wine(artifact, "two words", "ünï", "--exit", "3", env=env,
                    extra_env={"PYTHONHOME": "C:\\elsewhere", "BUNDLER_CACHE_DIR": "C:\\bundler-cache"})
    out = proc.stdout.decode("utf-8", "replace").replace("\r", "")
    assert proc.returncode == 3, (out, proc.stderr.decode("utf-8", "replace"))
    args = [l[4:] for l in out.splitlines() if l.startswith("arg=")]
    assert args[0] == "-I" and args[1].lower().endswith("\\bin\\hello") or args[1].endswith("/bin/hello"), args
    assert args[2:] == ["two words", "ünï", "--exit", "3"]
    assert "helper=42" in out  # python.exe found the vendored, renamed helper DLL
    assert "PYTHONHOME=(unset)" in out


def test_macos_runtime_is_relocated_and_signed(cross_build, tmp_path):
    b = cross_build["summary"]["builds"][2]
    assert b["macos_minimum"] == "11.0"
    tree = _extract(Path(b["outputs"][0]["path"]), tmp_path / "mac")
    python = tree / "bin" / "python3.11"
    keep = []  # LIEF frees a slice with its FatBinary: keep the parsed files alive

    def parse(path: Path):
        fat = lief.MachO.parse(str(path))
        keep.append(fat)
        return fat.at(0)

    binary = parse(python)
    libs = [c.name for c in binary.libraries]
    bundled = sorted(p.name for p in (tree / "lib" / "bundled").iterdir())
    assert any(n.startswith("libpython3.11-") for n in bundled) and any(n.startswith("libhelper-") for n in bundled)
    assert all(l.startswith(("@rpath/", "/usr/lib/", "/System/")) for l in libs), libs
    rpaths = [c.path for c in binary.commands if c.command == lief.MachO.LoadCommand.TYPE.RPATH]
    assert rpaths == ["@loader_path/../lib/bundled"]
    ext = next(tree.rglob("_native.cpython-311-darwin.so"))
    ext_libs = [c.name for c in parse(ext).libraries]
    assert not any("/opt/homebrew" in l for l in ext_libs), ext_libs
    assert any(l.startswith("@rpath/libhelper-") for l in ext_libs), ext_libs
    for f in (python, ext, *(tree / "lib" / "bundled").iterdir()):
        verify_adhoc(f)
    manifest = payload.read_manifest(Path(b["outputs"][0]["path"]))
    assert manifest.macos_minimum == "11.0" and manifest.python.executable == "bin/python3.11"
    # the single file itself: its payload inside __LINKEDIT, an ad-hoc signature over every byte
    import apple_platform

    problems = apple_platform.verify_macho(b["outputs"][0]["path"])
    assert [p["description"] for p in problems if "CMS" not in p["description"]] == []  # (ad hoc: no CMS)
    verify_adhoc(Path(b["outputs"][0]["path"]))


def test_each_target_carries_an_sbom_and_its_report_traces_the_helper_library(cross_build):
    """PE and Mach-O as well as ELF: the SBOM validates and names the stub; the report (read from the
    single file alone) finds which extension module needs the vendored helper, in each format."""
    from bundler import buildreport
    from bundler.output import sbom

    for b in cross_build["summary"]["builds"]:
        artifact = Path(b["outputs"][0]["path"])
        beside = artifact.parent / f"cross-1.0-{b['target']}.cdx.json"
        assert b["sboms"] == [str(beside)]
        text = beside.read_text()
        sbom.validate(text)
        refs = {c["bom-ref"]: c for c in json.loads(text)["components"]}
        assert refs["stub"]["hashes"][0]["content"] == payload.read_manifest(artifact).stub.sha256
        assert refs["pypi:tinyext"]["hashes"][0]["content"] == sha256_of(cross_build["wheels"][b["target"]])
        if b["target"] == "linux-x86_64":
            continue  # its extension needs nothing but libc
        data = buildreport.of_single_file(artifact)
        (helper,) = [lib for lib in data.libraries if any("/tinyext/_native" in u for u in lib.needed_by)]
        assert "helper" in helper.path and helper.origin.endswith(("helper.dll", "libhelper.1.dylib")), helper
        assert helper.sha256 is not None


def test_the_same_lock_and_bases_give_the_same_bytes_elsewhere_with_an_empty_cache(cross_build, tmp_path):
    """A copy of the project (and the wheels its lock names by relative path) in another directory,
    built with an empty build cache: every target's single file and SBOM are byte-identical."""
    import shutil

    work = cross_build["work"]
    elsewhere = tmp_path / "another checkout"
    shutil.copytree(work / "proj", elsewhere / "proj", ignore=shutil.ignore_patterns("dist"))
    shutil.copytree(work / "wheels", elsewhere / "wheels")
    proc = run_bundler("build", str(elsewhere / "proj"), "--lib-path", str(work / "libs"), "--json",
                       "--cache-dir", str(tmp_path / "empty cache"))
    assert proc.returncode == 0, proc.stderr
    again = json.loads(proc.stdout)["builds"]
    for first, second in zip(cross_build["summary"]["builds"], again, strict=True):
        a, b = Path(first["outputs"][0]["path"]), Path(second["outputs"][0]["path"])
        assert a != b and a.name == b.name
        assert a.read_bytes() == b.read_bytes(), first["target"]
        (sa,), (sb,) = first["sboms"], second["sboms"]
        assert Path(sa).read_bytes() == Path(sb).read_bytes(), first["target"]


def test_gui_app_gets_the_gui_subsystem_stub(cross_build, build_cache, tmp_path):
    """--gui picks the Windows GUI-subsystem stub (no console window); the default is the console one."""
    work = cross_build["work"]
    project = work / "proj"
    console = Path(cross_build["summary"]["builds"][1]["outputs"][0]["path"])
    proc = run_bundler("build", str(project), "--target", "windows-x86_64", "--gui", "--lib-path", str(work / "libs"),
                       "--output-dir", str(tmp_path), "--json", "--cache-dir", str(build_cache))
    assert proc.returncode == 0, proc.stderr
    gui = Path(json.loads(proc.stdout)["outputs"][0]["path"])
    subsystem = {p: pefile.PE(str(p), fast_load=True).OPTIONAL_HEADER.Subsystem for p in (console, gui)}
    assert subsystem == {console: 3, gui: 2}  # IMAGE_SUBSYSTEM_WINDOWS_CUI, _GUI
    assert payload.read_manifest(gui).gui is True


def test_sign_makes_a_verifying_signed_windows_single_file(cross_build, build_cache, wine, tmp_path):
    """`bundler build --sign PFX`: the published .exe carries an Authenticode signature osslsigncode
    verifies, inspect --verify passes, it runs under wine; the password never reaches a command line."""
    work = cross_build["work"]
    cert = make_signing_cert(tmp_path / "cert")
    out = tmp_path / "out"
    env = {**os.environ, "BUNDLER_SIGN_PASSWORD": cert.password}
    proc = run_bundler("build", str(work / "proj"), "--target", "windows-x86_64", "--lib-path", str(work / "libs"),
                       "--output-dir", str(out), "--json", "--cache-dir", str(build_cache), "--sign", str(cert.pfx),
                       env=env)
    assert proc.returncode == 0, proc.stderr
    signed = Path(json.loads(proc.stdout)["outputs"][0]["path"])
    assert sorted(os.listdir(out)) == sorted([signed.name, "cross-1.0-windows-x86_64.cdx.json"])
    assert signed.name == "cross-1.0-windows-x86_64.exe"
    osslsigncode_verify(signed, cert)
    unsigned = Path(cross_build["summary"]["builds"][1]["outputs"][0]["path"])
    assert payload.read_trailer(signed).payload_length == payload.read_trailer(unsigned).payload_length
    check = run_bundler("inspect", "--verify", str(signed))
    assert check.returncode == 0 and "verified:" in check.stdout, check.stderr
    run = run_wine(signed, "--exit", "3", env=wine, extra_env={"BUNDLER_CACHE_DIR": "C:\\bundler-cache-signed"})
    assert run.returncode == 3, run.stderr.decode("utf-8", "replace")
    assert b"helper=42" in run.stdout


def test_sign_refuses_other_targets_and_a_missing_osslsigncode(cross_build, build_cache, tmp_path):
    work = cross_build["work"]
    cert = make_signing_cert(tmp_path / "cert")
    common = ("build", str(work / "proj"), "--lib-path", str(work / "libs"), "--output-dir", str(tmp_path / "out"),
              "--cache-dir", str(build_cache), "--sign", str(cert.pfx))
    proc = run_bundler(*common, "--target", "linux-x86_64")
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("\n") == 1 and "signs Windows single files only, and linux-x86_64" in proc.stderr
    no_tool = {**os.environ, "PATH": str(tmp_path / "empty")}
    proc = run_bundler(*common, "--target", "windows-x86_64", env=no_tool)
    assert proc.returncode == 13, proc.stderr
    assert proc.stderr.count("\n") == 1 and "osslsigncode is not on PATH" in proc.stderr
    assert not (tmp_path / "out").exists()
