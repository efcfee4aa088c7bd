"""The app bundle's pure parts: Info.plist, versions, identifiers, the resource rules and the seal.

The whole bundle, built and checked with rcodesign, is tests/integration/test_app_bundle.py.
"""

from __future__ import annotations

import hashlib
import os
import plistlib
import shutil
from pathlib import Path

import pytest

from bundler.binfmt.macho import codesign
from bundler.errors import OutputError, SignError
from bundler.output import appbundle, appsign
from bundler.output.stub import PACKAGED

INFO = appbundle.AppInfo(name="Tiny", identifier="org.example.tiny", version="1.2.3.4.post1", executable="tiny",
                         minimum_macos="11.0")


@pytest.mark.parametrize(("version", "expected"), [
    ("2.1rc1", "2.1"), ("2024.10.3.1", "2024.10.3"), ("1!3.0", "3.0"), ("7", "7"), ("not a version", "0"),
])
def test_bundle_version_is_apples_three_integers(version, expected):
    assert appbundle.bundle_version(version) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("hello", "local.hello"), ("My_App 2", "local.My-App-2"), ("__", "local.app"),
])
def test_default_identifier_is_valid_reverse_dns(name, expected):
    assert appbundle.default_identifier(name) == expected


def test_info_plist_is_stable_and_complete():
    data = appbundle.info_plist(INFO)
    assert data == appbundle.info_plist(INFO)
    info = plistlib.loads(data)
    assert info["CFBundleVersion"] == "1.2.3" and info["BundlerAppVersion"] == "1.2.3.4.post1"
    assert info["LSMinimumSystemVersion"] == "11.0" and info["CFBundleExecutable"] == "tiny"
    bare = plistlib.loads(appbundle.info_plist(appbundle.AppInfo("T", "a.b", "1", "t", None)))
    assert "LSMinimumSystemVersion" not in bare


@pytest.mark.parametrize(("rel", "in_files", "in_files2"), [
    ("Resources/runtime/bin/python3.11", True, True),
    ("Resources/en.lproj/locversion.plist", False, False),  # omitted by both rule sets
    ("Resources/.DS_Store", True, False),
    ("Info.plist", False, False),
    ("PkgInfo", False, False),
    ("version.plist", True, True),
])
def test_resource_rules_pick_the_heaviest_match(rel, in_files, in_files2):
    rule = appbundle._rule_for(rel, appbundle._RULES)
    rule2 = appbundle._rule_for(rel, appbundle._RULES2)
    assert (rule is not None and not rule.omit) == in_files
    assert (rule2 is not None and not rule2.omit) == in_files2


def _bundle(tmp_path: Path) -> Path:
    app = tmp_path / "Tiny.app"
    contents = app / "Contents"
    (contents / "MacOS").mkdir(parents=True)
    (contents / "Resources" / "runtime" / "bin").mkdir(parents=True)
    shutil.copyfile(PACKAGED / "bundler-launcher-macos-arm64", contents / "MacOS" / "tiny")
    (contents / "Resources" / "runtime" / "bin" / "tiny").write_text("print('hi')\n")
    os.symlink("tiny", contents / "Resources" / "runtime" / "bin" / "alias")
    (contents / "Info.plist").write_bytes(appbundle.info_plist(INFO))
    (contents / "PkgInfo").write_bytes(b"APPL????")
    appbundle.seal(app, INFO)
    return app


def test_seal_hashes_files_links_and_binds_info_plist(tmp_path):
    app = _bundle(tmp_path)
    contents = app / "Contents"
    doc = plistlib.loads((contents / appbundle.CODE_RESOURCES).read_bytes())
    script = (contents / "Resources/runtime/bin/tiny").read_bytes()
    assert doc["files"] == {"Resources/runtime/bin/tiny": hashlib.sha1(script).digest()}  # v1: no links
    assert doc["files2"] == {"Resources/runtime/bin/alias": {"symlink": "tiny"},
                             "Resources/runtime/bin/tiny": {"hash2": hashlib.sha256(script).digest()}}
    sig = codesign.read_signature((contents / "MacOS/tiny").read_bytes())
    (cd,) = sig.code_directories
    assert cd.identifier == "org.example.tiny"
    assert cd.special_hashes[0] == hashlib.sha256((contents / "Info.plist").read_bytes()).digest()
    assert cd.special_hashes[2] == hashlib.sha256((contents / appbundle.CODE_RESOURCES).read_bytes()).digest()
    assert appbundle.verify_app(app) == "tiny and 2 sealed files match the signature"


def test_nested_code_where_macos_expects_it_is_refused(tmp_path):
    app = _bundle(tmp_path)
    (app / "Contents/MacOS/helper").write_bytes(b"\0")
    with pytest.raises(OutputError, match="MacOS/helper: a file where macOS expects nested code"):
        appbundle.seal(app, INFO)


def test_a_missing_entry_script_stops_before_anything_is_written(tmp_path):
    runtime = tmp_path / "runtime"
    (runtime / "bin").mkdir(parents=True)
    with pytest.raises(OutputError, match="bin/tiny: the app's entry point is not in the runtime"):
        appbundle.write_app(runtime, tmp_path / "out" / "Tiny.app", PACKAGED / "bundler-launcher-macos-arm64", INFO)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_signing_order_is_inside_out(tmp_path):
    app = _bundle(tmp_path)
    deep = app / "Contents/Resources/runtime/lib/python3.11/lib-dynload"
    deep.mkdir(parents=True)
    shutil.copyfile(PACKAGED / "bundler-launcher-macos-arm64", deep / "_x.so")
    shutil.copyfile(PACKAGED / "bundler-launcher-macos-arm64", app / "Contents/Resources/runtime/bin/python3.11")
    assert appsign.signing_order(app) == ["Contents/Resources/runtime/lib/python3.11/lib-dynload/_x.so",
                                          "Contents/Resources/runtime/bin/python3.11"]
    cmds = appsign.codesign_commands(app, "Developer ID Application: X (T)", tmp_path / "e.plist",
                                     appsign.signing_order(app), {"Contents/Resources/runtime/bin/python3.11"})
    assert [c[-1] for c in cmds] == [str(app / r) for r in appsign.signing_order(app)] + [str(app)]
    assert all(c[:4] == [appsign.CODESIGN, "--force", "--options", "runtime"] for c in cmds)
    assert "--entitlements" not in cmds[0] and "--entitlements" in cmds[1] and "--entitlements" in cmds[2]


def test_entitlements_are_checked(tmp_path):
    assert plistlib.loads(appsign.entitlements_xml(None)) == appsign.DEFAULT_ENTITLEMENTS
    bad = tmp_path / "bad.plist"
    bad.write_bytes(plistlib.dumps(["a list"]))
    with pytest.raises(SignError, match="bad.plist: not a readable property list of a dictionary"):
        appsign.entitlements_xml(bad)
