"""The SBOM of a real build: hello + click + PyYAML built against Debian's libyaml (vendored) on the pyenv CPython.

It validates against the CycloneDX 1.6 schema, lists every wheel with the lock's
hash, the vendored libyaml with its sha256 and the Debian package that owns its
origin, the interpreter and the stub; the copy beside the single file is the
copy inside it.
"""

from __future__ import annotations

import hashlib
import json
import tomllib

from support.e2e import HELLO, REPORTED, run_bundler

from bundler.output import payload as pl
from bundler.output import sbom


def _sbom(reported) -> tuple[str, dict]:
    text = (reported / f"{REPORTED}.cdx.json").read_text()
    return text, json.loads(text)


def test_the_sbom_inside_is_the_one_beside_and_it_validates(reported):
    text, _doc = _sbom(reported)
    sbom.validate(text)
    proc = run_bundler("inspect", str(reported / REPORTED), "--sbom")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == text
    manifest = pl.read_manifest(reported / REPORTED)
    assert manifest.sbom == sbom.SBOM_NAME
    assert pl.read_file(reported / REPORTED, sbom.SBOM_NAME) == text.encode()


def test_every_wheel_with_its_lock_hash_the_vendored_library_the_interpreter_and_the_stub(reported, app_lock, tmp_path):
    _text, doc = _sbom(reported)
    by = {c["bom-ref"]: c for c in doc["components"]}
    lock = tomllib.loads(app_lock.read_text())
    for package in lock["packages"]:
        c = by[f"pypi:{package['name']}"]
        assert c["version"] == package["version"] if "version" in package else c["version"]
        if "wheels" in package:  # click from PyPI, PyYAML built here: the lock's hash
            assert c["hashes"] == [{"alg": "SHA-256", "content": package["wheels"][0]["hashes"]["sha256"]}]
        else:  # hello: a directory, built from the project
            assert "hashes" not in c
    assert by["pypi:click"]["purl"] == "pkg:pypi/click@8.1.8"
    click_hash = next(p for p in tomllib.loads((HELLO / "pylock.toml").read_text())["packages"] if p["name"] == "click")
    assert by["pypi:click"]["hashes"][0]["content"] == click_hash["wheels"][0]["hashes"]["sha256"]
    manifest = pl.read_manifest(reported / REPORTED)
    (yaml,) = [v for v in manifest.contents.vendored_libraries if "libyaml" in v.path]
    c = by[f"lib:{yaml.path}"]
    unpacked = tmp_path / "rt"
    pl.extract(reported / REPORTED, unpacked)
    assert c["hashes"][0]["content"] == hashlib.sha256((unpacked / yaml.path).read_bytes()).hexdigest()
    assert {"name": "bundler:origin", "value": yaml.origin} in c["properties"]
    assert c["purl"].startswith("pkg:deb/debian/libyaml-0-2@")  # Debian's package owns the origin
    assert by["cpython"]["version"] == manifest.python.version
    assert {"name": "bundler:base-kind", "value": "pyenv"} in by["cpython"]["properties"]
    assert manifest.stub is not None and by["stub"]["hashes"][0]["content"] == manifest.stub.sha256
    deps = {d["ref"]: set(d.get("dependsOn", ())) for d in doc["dependencies"]}
    assert "pypi:click" in deps["pypi:hello"]  # hello requires click
    assert f"lib:{yaml.path}" in deps["pypi:pyyaml"]  # PyYAML's _yaml module needs it
    assert f"lib:{yaml.path}" not in deps["cpython"]  # not the interpreter
    assert any("libssl" in d for d in deps["cpython"])  # the interpreter's _ssl needs libssl
