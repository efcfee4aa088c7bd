"""``--format app``: a macOS .app bundle around the relocated runtime, sealed over every file.

Built from this Linux host for macos-arm64 and macos-x86_64 on python-build-standalone-shaped
bases whose binaries are real Mach-O files compiled by zig (tests/support/bases.py). No macOS
kernel runs here, so the bundle is checked the ways that do not need one: rcodesign (from
apple-platform-py) reads and verifies every Mach-O of it and seals a copy of the bundle itself,
which must agree with bundler's seal; bundler's own verifier catches a changed file; Info.plist
round-trips through plistlib. The main executable's logic (stubs/launcher.zig, ``planBundle``)
runs for real: built for this host and put into the same layout around a Linux runtime.
"""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import subprocess
import zipfile
from pathlib import Path

import apple_platform
import pytest
from support.bases import macos_pbs_archive
from support.e2e import run_bundler
from support.wheelfactory import make_wheel, sha256_of

from bundler.binfmt.macho import codesign
from bundler.binfmt.macho.parse import is_macho
from bundler.errors import OutputError
from bundler.output import appbundle, appsign, stubbuild
from bundler.output.tree import iter_tree

TARGETS = ("macos-arm64", "macos-x86_64")
MAIN = "import sys\ndef main():\n    print('tinyapp on', sys.platform, sys.argv[1:])\n"


def _project(work: Path) -> Path:
    wheel = make_wheel(work / "wheels", "tinyapp", "2.1rc1", files={"tinyapp/__init__.py": MAIN})
    project = work / "proj"
    project.mkdir()
    (project / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "tests"\n\n[[packages]]\nname = "tinyapp"\nversion = "2.1rc1"\n'
        f'wheels = [{{name = "{wheel.name}", path = "{os.path.relpath(wheel, project)}", '
        f'hashes = {{sha256 = "{sha256_of(wheel)}"}}}}]\n'
    )
    targets = "".join(f'[tool.bundler.targets.{t}]\npython = "{macos_pbs_archive(work, t.split("-")[1])}"\n'
                      for t in TARGETS)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "Tiny App"\nversion = "2.1rc1"\n\n[tool.bundler]\nname = "TinyApp"\n'
        'entry = ["tiny=tinyapp:main"]\n'
        f'target = {json.dumps(list(TARGETS))}\nformat = ["app", "dir"]\nbundle-id = "org.example.tinyapp"\n'
        f'{targets}'
    )
    return project


@pytest.fixture(scope="module")
def app_build(tmp_path_factory, build_cache) -> dict:
    work = tmp_path_factory.mktemp("appbuild")
    project = _project(work)
    proc = run_bundler("build", str(project), "--json", "--cache-dir", str(build_cache))
    assert proc.returncode == 0, proc.stderr
    return {"builds": json.loads(proc.stdout)["builds"], "project": project, "work": work, "stderr": proc.stderr}


def _apps(app_build) -> list[tuple[str, Path]]:
    return [(b["target"], Path(b["outputs"][0]["path"])) for b in app_build["builds"]]


def _rcodesign_problems(path: Path) -> list[str]:
    """rcodesign's verifier, less its complaint that an ad-hoc signature has no CMS data."""
    return [p["description"] for p in apple_platform.verify_macho(str(path)) if "CMS" not in p["description"]]


def _machos(app: Path) -> list[Path]:
    return [p for _rel, p in iter_tree(app) if p.is_file() and not p.is_symlink() and is_macho(p)]


def test_layout_names_and_outputs(app_build):
    for b in app_build["builds"]:
        app, runtime = (Path(o["path"]) for o in b["outputs"])
        assert [o["format"] for o in b["outputs"]] == ["app", "dir"]
        assert app.name == f"TinyApp-{b['target']}.app"  # two targets: each output names its own
        contents = app / "Contents"
        assert sorted(p.name for p in contents.iterdir()) == ["Info.plist", "MacOS", "PkgInfo", "Resources",
                                                              "_CodeSignature"]
        assert [p.name for p in (contents / "MacOS").iterdir()] == ["tiny"]
        assert (contents / "PkgInfo").read_bytes() == b"APPL????"
        inside = contents / appbundle.RUNTIME_DIR
        assert (inside / "bin" / "python3.11").is_file() and (inside / "bin" / "tiny").is_file()
        assert os.readlink(inside / "bin" / "python3") == "python3.11"  # symlinks stay links
        # the runtime inside is the dir output, but for the SBOM that names the app's launcher
        for rel, path in iter_tree(runtime):
            if rel != "bundler.cdx.json" and path.is_file() and not path.is_symlink():
                assert (inside / rel).read_bytes() == path.read_bytes(), rel
        app_sbom = json.loads((inside / "bundler.cdx.json").read_text())
        dir_sbom = json.loads((runtime / "bundler.cdx.json").read_text())
        assert any("Contents/MacOS/tiny" in json.dumps(c) for c in app_sbom["components"])
        assert "Contents/MacOS" not in json.dumps(dir_sbom)
        assert b["app_zip"] == str(app.parent / f"TinyApp-2.1rc1-{b['target']}.app.zip")
        assert Path(b["sboms"][0]).name == f"{app.name}.cdx.json"


def test_info_plist_round_trips_and_says_what_the_app_is(app_build):
    for target, app in _apps(app_build):
        raw = (app / "Contents" / "Info.plist").read_bytes()
        info = plistlib.loads(raw)
        assert plistlib.loads(plistlib.dumps(info)) == info
        assert plistlib.dumps(info, sort_keys=True) == raw  # what bundler wrote is plistlib's own form
        manifest = json.loads((app / "Contents" / appbundle.RUNTIME_DIR / "bundler.json").read_text())
        assert info["CFBundleExecutable"] == "tiny"
        assert info["CFBundleIdentifier"] == "org.example.tinyapp"
        assert info["CFBundleName"] == "TinyApp" and info["CFBundlePackageType"] == "APPL"
        assert info["CFBundleShortVersionString"] == info["CFBundleVersion"] == "2.1"  # Apple's integers only
        assert info["BundlerAppVersion"] == "2.1rc1"
        # the minimum macOS is the newest minimum among the relocated files, as the manifest records it
        assert info["LSMinimumSystemVersion"] == manifest["macos_minimum"] == {"macos-arm64": "11.0",
                                                                              "macos-x86_64": "10.13"}[target]


def test_every_macho_verifies_with_rcodesign(app_build):
    for _target, app in _apps(app_build):
        machos = _machos(app)
        assert {"tiny", "python3.11"} <= {p.name for p in machos} and any(p.name.startswith("libpython3.11") for p in machos)
        for path in machos:
            assert _rcodesign_problems(path) == [], path
        main = app / "Contents" / "MacOS" / "tiny"
        (sig,) = apple_platform.read_signature(str(main))
        cd = sig["entity"]["mach_o"]["signature"]["code_directory"]
        assert cd["identifier"] == "org.example.tinyapp" and "ADHOC" in cd["flags"]
        slots = dict(s.split(": ") for s in cd["slot_digests"])
        contents = app / "Contents"
        seal = codesign.BundleSeal.of((contents / "Info.plist").read_bytes(),
                                      (contents / appbundle.CODE_RESOURCES).read_bytes())
        assert slots["Info (1)"] == seal.info_plist.hex()  # rcodesign reads the bound hashes bundler wrote
        assert slots["Resources (3)"] == seal.code_resources.hex()
        assert appbundle.verify_app(app).startswith("tiny and ")


def test_rcodesign_seals_the_bundle_the_same_way(app_build, tmp_path):
    """rcodesign, signing a copy of the bundle ad hoc without touching the nested code, writes the
    same CodeResources (files, files2, rules) and binds the same Info.plist."""
    for target, app in _apps(app_build):
        copy = tmp_path / target / app.name
        shutil.copytree(app, copy, symlinks=True)
        shutil.rmtree(copy / "Contents" / "_CodeSignature")
        apple_platform.sign(str(copy), shallow=True, binary_identifier="org.example.tinyapp")
        ours = plistlib.loads((app / "Contents" / appbundle.CODE_RESOURCES).read_bytes())
        theirs = plistlib.loads((copy / "Contents" / appbundle.CODE_RESOURCES).read_bytes())
        assert ours == theirs
        (sig,) = apple_platform.read_signature(str(copy / "Contents" / "MacOS" / "tiny"))
        slots = dict(s.split(": ") for s in sig["entity"]["mach_o"]["signature"]["code_directory"]["slot_digests"])
        (mine,) = apple_platform.read_signature(str(app / "Contents" / "MacOS" / "tiny"))
        my_slots = dict(s.split(": ") for s in mine["entity"]["mach_o"]["signature"]["code_directory"]["slot_digests"])
        assert slots["Info (1)"] == my_slots["Info (1)"]


def test_a_changed_file_breaks_the_seal(app_build, tmp_path):
    _target, app = _apps(app_build)[0]
    for victim, what in (("Resources/runtime/lib/python3.11/site-packages/tinyapp/__init__.py", "changed"),
                         ("Info.plist", "changed"), ("Resources/runtime/extra.txt", "added"),
                         ("Resources/runtime/bin/tiny", "removed")):
        copy = tmp_path / victim.replace("/", "_") / app.name
        shutil.copytree(app, copy, symlinks=True)
        path = copy / "Contents" / victim
        if what == "added":
            path.write_text("x")
        elif what == "removed":
            path.unlink()
        elif victim == "Info.plist":
            path.write_bytes(path.read_bytes().replace(b"<string>2.1</string>", b"<string>2.2</string>"))
        else:
            data = bytearray(path.read_bytes())
            data[-2] ^= 1
            path.write_bytes(bytes(data))
        with pytest.raises(OutputError) as err:
            appbundle.verify_app(copy)
        assert victim.rsplit("/", 1)[-1] in str(err.value) and "sign the app again" in str(err.value)


def test_zip_restores_the_same_bundle(app_build, tmp_path):
    for b in app_build["builds"]:
        app, zipped = Path(b["outputs"][0]["path"]), Path(b["app_zip"])
        with zipfile.ZipFile(zipped) as zf:
            names = zf.namelist()
            assert names[0] == f"{app.name}/"
            seen: set[str] = set()
            for n in names:  # every directory before what is in it
                assert n.rstrip("/").rsplit("/", 1)[0] + "/" in seen or n == names[0], n
                seen.add(n)
            link = zf.getinfo(f"{app.name}/Contents/Resources/runtime/bin/python3")
            assert (link.external_attr >> 16) & 0o170000 == 0o120000 and zf.read(link) == b"python3.11"
            main = zf.getinfo(f"{app.name}/Contents/MacOS/tiny")
            assert (main.external_attr >> 16) & 0o777 == 0o755
            assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}  # SOURCE_DATE_EPOCH unset
        again = appbundle.zip_app(app, tmp_path / "again" / zipped.name)
        assert again.read_bytes() == zipped.read_bytes()  # the same bundle, the same bytes
        # unzip (Info-ZIP) restores modes and symlinks like the Finder does; the seal still holds
        dest = tmp_path / b["target"]
        subprocess.run(["unzip", "-q", str(zipped), "-d", str(dest)], check=True)
        assert appbundle.verify_app(dest / app.name)
        assert os.readlink(dest / app.name / "Contents/Resources/runtime/bin/python3") == "python3.11"


def test_host_launcher_runs_the_runtime_in_the_bundle_layout(runtimes, tmp_path):
    """stubs/launcher.zig built for this host (planBundle is the macOS and Linux plan): put as
    Contents/MacOS/hello in front of a real relocated Linux runtime in Contents/Resources/runtime,
    it starts the entry point from any working directory, drops Finder's -psn_ argument and passes
    the others and the exit code through."""
    kind = stubbuild.StubKind("linux-x86_64", program=stubbuild.LAUNCHER)
    launcher = tmp_path / "launcher"
    stubbuild.compile_stub(stubbuild.zig_command(), stubbuild.CHECKOUT_SOURCES, kind, launcher)
    app = tmp_path / "Hello World.app"
    shutil.copytree(runtimes["pyenv"] / "hello", app / "Contents" / appbundle.RUNTIME_DIR, symlinks=True)
    (app / "Contents" / "MacOS").mkdir()
    main = app / "Contents" / "MacOS" / "yamlcheck"
    shutil.copyfile(launcher, main)
    main.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "/nonexistent", "LC_ALL": "C.UTF-8"}
    proc = subprocess.run([str(main), "-psn_0_12345", "--name", "Zoë W", "--count", "2"], capture_output=True, text=True,
                          timeout=300, cwd="/", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["Hello, Zoë W!"] * 2
    assert f"at {app / 'Contents' / appbundle.RUNTIME_DIR})" in lines[2]  # sys.prefix: the runtime in the app
    proc = subprocess.run([str(main), "--bogus"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2 and "--bogus" in proc.stderr  # the app's own exit code comes through
    # a main executable named after no entry point says which file is missing, exit 127 like a shell
    stray = app / "Contents" / "MacOS" / "nosuch"
    shutil.copyfile(launcher, stray)
    stray.chmod(0o755)
    proc = subprocess.run([str(stray)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 127
    assert "Contents/Resources/runtime/bin/nosuch is missing" in proc.stderr and "copy the whole .app" in proc.stderr


def test_signing_with_a_p12_identity(app_build, tmp_path):
    """--sign-identity with a PKCS#12 file (rcodesign on Linux): every Mach-O carries a CMS signature
    and the hardened runtime, executables the entitlements, and the bundle's seal still holds."""
    d = tmp_path / "id"
    d.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-keyout", str(d / "k.pem"), "-out",
                    str(d / "c.pem"), "-days", "30", "-nodes", "-subj",
                    "/CN=Developer ID Application: bundler tests (TEAM000001)"], check=True, capture_output=True)
    # the keychain's export format (3DES, SHA-1 MAC), which rcodesign reads
    subprocess.run(["openssl", "pkcs12", "-export", "-inkey", str(d / "k.pem"), "-in", str(d / "c.pem"), "-out",
                    str(d / "id.p12"), "-passout", "pass:s3cret", "-certpbe", "PBE-SHA1-3DES", "-keypbe",
                    "PBE-SHA1-3DES", "-macalg", "sha1"], check=True, capture_output=True)
    out = tmp_path / "out"
    env = {**os.environ, appsign.PASSWORD_ENV: "s3cret", appsign.TIMESTAMP_ENV: "none"}
    proc = run_bundler("build", str(app_build["project"]), "--target", "macos-arm64", "--format", "app",
                       "--sign-identity", str(d / "id.p12"), "--output-dir", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    app, zipped = (Path(line) for line in proc.stdout.splitlines())  # stdout: the outputs, then the zip
    assert (app.name, zipped.name) == ("TinyApp.app", "TinyApp-2.1rc1-macos-arm64.app.zip")
    for path in _machos(app):
        assert apple_platform.verify_macho(str(path)) == [], path  # the CMS signature checks out too
        (sig,) = apple_platform.read_signature(str(path))
        signature = sig["entity"]["mach_o"]["signature"]
        assert signature["cms"] is not None and "RUNTIME" in signature["code_directory"]["flags"], path
        slots = [b["slot"] for b in signature["blobs"]]
        executable = path.name in ("tiny", "python3.11")
        assert ("Entitlements (5)" in slots) == executable, (path, slots)
    assert appbundle.verify_app(app)
    assert "signed TinyApp.app with id.p12" in proc.stderr


def test_app_errors(app_build, tmp_path):
    project = app_build["project"]
    proc = run_bundler("build", str(project), "--target", "linux-x86_64", "--format", "app",
                       "--output-dir", str(tmp_path / "o1"))
    assert proc.returncode == 3 and "linux-x86_64 is not a macos target" in proc.stderr  # ConfigError
    proc = run_bundler("build", str(project), "--target", "macos-arm64", "--format", "app",
                       "--sign-identity", "Developer ID Application: X (T)", "--output-dir", str(tmp_path / "o2"))
    assert proc.returncode == 13 and "needs Apple's codesign, which only a Mac has" in proc.stderr  # SignError
    assert not (tmp_path / "o2").exists()  # refused before the build
    proc = run_bundler("build", str(project), "--format", "dir", "--bundle-id", "org.example.x",
                       "--output-dir", str(tmp_path / "o3"))
    assert proc.returncode == 3 and "--bundle-id: applies to the app bundle only" in proc.stderr
    proc = run_bundler("build", str(project), "--bundle-id", "no dots", "--output-dir", str(tmp_path / "o4"))
    assert proc.returncode == 3 and "reverse DNS" in proc.stderr
    ents = tmp_path / "e.plist"
    ents.write_bytes(plistlib.dumps({"com.apple.security.cs.allow-jit": True}))
    proc = run_bundler("build", str(project), "--entitlements", str(ents), "--output-dir", str(tmp_path / "o5"))
    assert proc.returncode == 3 and "ad-hoc signature carries no entitlements" in proc.stderr


def test_inspect_shows_and_verifies_an_app(app_build, tmp_path):
    _target, app = _apps(app_build)[0]
    proc = run_bundler("inspect", str(app), "--verify")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("TinyApp 2.1rc1 for macos-arm64 (app bundle, format 1)")
    assert "verified: the signature seals the bundle (tiny and " in proc.stdout
    sbom = json.loads(run_bundler("inspect", str(app), "--sbom").stdout)
    assert any("Contents/MacOS/tiny" in json.dumps(c) for c in sbom["components"])
    copy = tmp_path / app.name
    shutil.copytree(app, copy, symlinks=True)
    (copy / "Contents/Resources/runtime/bin/tiny").write_text("print('not what was signed')\n")
    proc = run_bundler("inspect", str(copy), "--verify")
    assert proc.returncode == 9 and "bin/tiny: changed after the app was signed" in proc.stderr
