"""output/sbom: a CycloneDX 1.6 document that the schema accepts, from a real tree, the same bytes every time.

The tree holds two installed distributions (one requiring the other under a
marker), a copy of this machine's real libz with its origin, and the stub
record; dpkg on this Debian machine names the package that owns libz.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
from support import golden

from bundler.base.probe import probe
from bundler.output import manifest as mf
from bundler.output import sbom

LIBZ = Path("/usr/lib/x86_64-linux-gnu/libz.so.1")
SITE = "lib/python3.11/site-packages"


def _dist(root: Path, name: str, version: str, *lines: str) -> None:
    info = root / SITE / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    meta = ["Metadata-Version: 2.4", f"Name: {name}", f"Version: {version}", *lines]
    (info / "METADATA").write_text("\n".join(meta) + "\n")


@pytest.fixture()
def tree(tmp_path) -> Path:
    root = golden.make_tree(tmp_path / "rt")
    _dist(root, "app", "2.0", "License-Expression: MIT", "Requires-Dist: dep>=1",
          "Requires-Dist: pywin32; sys_platform == 'win32'", "Requires-Dist: extra-only; extra == 'fast'")
    _dist(root, "dep", "1.0", "Classifier: License :: OSI Approved :: BSD License")
    (root / "lib/bundled").mkdir()
    shutil.copy(LIBZ, root / "lib/bundled/libz-0123abcd.so.1")
    return root


def _manifest(**kw) -> mf.Manifest:
    m = mf.parse(golden.MANIFEST, "golden")
    contents = mf.Contents(
        wheels=(mf.WheelRecord("app", "2.0", "app-2.0-py3-none-any.whl", None),
                mf.WheelRecord("dep", "1.0", "dep-1.0-py3-none-any.whl", "ab" * 32)),
        vendored_libraries=(mf.VendoredRecord("lib/bundled/libz-0123abcd.so.1", str(LIBZ)),),
    )
    return mf.Manifest(**{**m.__dict__, "contents": contents, "sbom": sbom.SBOM_NAME, **kw})


STUB = mf.StubRecord("linux-x86_64", "", "cd" * 32, "0.17.1", "ef" * 32, True)
MARKERS = {"sys_platform": "linux", "python_version": "3.11", "platform_system": "Linux"}


def _make(tree: Path, manifest: mf.Manifest | None = None) -> dict:
    text = sbom.make(manifest or _manifest(), tree, sitepackages=SITE, markers=MARKERS,
                     base=sbom.Base("pyenv", "/root/.pyenv/versions/3.11.7/bin/python3.11"),
                     stub=("bundler-stub-linux-x86_64", STUB))
    sbom.validate(text)  # the CycloneDX 1.6 JSON schema, by cyclonedx-python-lib's validator
    return json.loads(text)


def test_every_part_is_listed_with_its_hash_origin_and_licence(tree):
    doc = _make(tree)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    assert doc["metadata"]["component"]["name"] == "golden" and doc["metadata"]["component"]["version"] == "1.0"
    assert doc["metadata"]["timestamp"].startswith("1970-01-01T00:00:00")  # SOURCE_DATE_EPOCH of the manifest
    by = {c["bom-ref"]: c for c in doc["components"]}
    dep = by["pypi:dep"]
    assert dep["purl"] == "pkg:pypi/dep@1.0" and dep["hashes"] == [{"alg": "SHA-256", "content": "ab" * 32}]
    assert dep["licenses"] == [{"license": {"name": "BSD License"}}]
    app = by["pypi:app"]
    assert app["licenses"] == [{"license": {"id": "MIT"}}] and "hashes" not in app
    assert {"name": "bundler:built-from-project", "value": "true"} in app["properties"]
    lib = by["lib:lib/bundled/libz-0123abcd.so.1"]
    assert lib["hashes"][0]["content"] == hashlib.sha256(LIBZ.read_bytes()).hexdigest()
    assert {"name": "bundler:origin", "value": str(LIBZ)} in lib["properties"]
    assert lib["purl"].startswith("pkg:deb/debian/zlib1g@") and lib["version"]  # dpkg owns it here
    assert by["stub"]["hashes"][0]["content"] == "cd" * 32
    assert by["cpython"]["version"] == "3.11.0"
    assert by["cpython"]["hashes"][0]["content"] == hashlib.sha256((tree / "bin/python3.11").read_bytes()).hexdigest()


def test_dependencies_follow_requires_dist_under_the_target_markers(tree):
    deps = {d["ref"]: set(d.get("dependsOn", ())) for d in _make(tree)["dependencies"]}
    assert deps["pypi:app"] == {"pypi:dep"}  # not pywin32 (win32 only) nor an extra's
    assert deps["app"] == {"cpython", "pypi:app", "pypi:dep"}
    assert "cpython" not in deps or not deps["cpython"]  # no binary of this tree needs the libz copy


def test_the_same_runtime_gives_the_same_bytes_and_a_content_serial_number(tree, tmp_path):
    first = _make(tree)
    assert first == _make(tree)
    assert first["serialNumber"].startswith("urn:uuid:")
    other = _make(tree, _manifest(app=mf.App("golden", "1.1")))
    assert other["serialNumber"] != first["serialNumber"]
    later = _make(tree, _manifest(build=mf.Build("golden", 1700000000)))
    assert later["metadata"]["timestamp"].startswith("2023-11-14T22:13:20")


def test_the_base_is_named_by_where_it_came_from(tmp_path):
    host = probe(Path(sys.executable))
    assert sbom.base_origin(host, None).kind == "pyenv"
    debian = probe(Path("/usr/bin/python3.11"))
    origin = sbom.base_origin(debian, "/usr/bin/python3.11")
    assert origin.kind == "os-package" and origin.package is not None
    assert origin.package.name.startswith("python3.11") and origin.package.purl.startswith("pkg:deb/debian/python3.11")
    archive = tmp_path / "cpython-3.11.9+20240726-x86_64-unknown-linux-gnu-install_only.tar.gz"
    archive.write_bytes(b"not really an archive")
    origin = sbom.base_origin(host, str(archive))
    assert (origin.kind, origin.source) == ("python-build-standalone", archive.name)  # its name, not its path
    assert origin.sha256 == hashlib.sha256(b"not really an archive").hexdigest()


def test_rpm_answers_where_there_is_no_dpkg():
    """No RPM system here: the runner stands in for rpm (dpkg-query absent), as a Fedora machine answers."""
    def run(args):
        if args[0] == "dpkg-query":
            return None
        if args[0] == "rpm" and args[-1] == "/usr/lib64/libz.so.1":
            return "zlib-ng-compat 2.1.6-2.fc40 x86_64"
        return "file /x is not owned by any package\n"

    found = sbom.owning_packages(["/usr/lib64/libz.so.1", "/opt/x.so"], run)
    assert list(found) == ["/usr/lib64/libz.so.1"]
    assert found["/usr/lib64/libz.so.1"].purl.endswith("zlib-ng-compat@2.1.6-2.fc40?arch=x86_64")


def test_a_new_build_replaces_its_own_sbom_only(tree, tmp_path):
    from bundler.output.tree import is_bundler_output

    ours = tmp_path / "app-1.0-linux-x86_64.cdx.json"
    ours.write_text(json.dumps(_make(tree)))
    assert is_bundler_output(ours)
    theirs = tmp_path / "vendor.cdx.json"  # another tool's SBOM of the same name pattern
    theirs.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6",
                                  "metadata": {"tools": {"components": [{"name": "syft"}]}}}))
    broken = tmp_path / "notes.cdx.json"
    broken.write_text("not json")
    assert not is_bundler_output(theirs) and not is_bundler_output(broken)


def test_what_relocation_read_is_not_read_again(tree, tmp_path):
    """Who needs a vendored library comes from relocation's record where it has one (a rebuild has
    it from the build cache); only the binaries it does not list are opened."""
    ext = tree / SITE / "_fast.so"
    shutil.copy(LIBZ, ext)  # a real ELF that names nothing we vendor
    known = {f"{SITE}/_fast.so": ("libz-0123abcd.so.1",)}  # relocation's record says it needs libz
    users = sbom.library_users(tree, "linux-x86_64", ["lib/bundled/libz-0123abcd.so.1"], {f"{SITE}/_fast.so": "dep"},
                               known=known)
    assert users == {"pypi:dep": {"lib/bundled/libz-0123abcd.so.1"}}  # from the record: the file says nothing
    assert sbom.library_users(tree, "linux-x86_64", ["lib/bundled/libz-0123abcd.so.1"],
                              {f"{SITE}/_fast.so": "dep"}) == {}  # read from the files: nobody needs libz
    # a record of a file that is gone does not count
    assert sbom.library_users(tree, "linux-x86_64", ["lib/bundled/libz-0123abcd.so.1"], {},
                              known={"lib/gone.so": ("libz-0123abcd.so.1",)}) == {}
