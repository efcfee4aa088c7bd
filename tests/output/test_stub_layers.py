"""Layers shared between trees of the end user's cache (stubs/layers.zig): two apps on the same
runtime keep one copy of it on disk; an upgrade unpacks only what changed.

Real artifacts (the packaged stub + small payloads laid out like a build's: runtime,
dependencies and app layers) run for real; what is checked is the file system they leave.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import support.stubtools as st

from bundler.output import payload as pl
from bundler.output import stub as stubmod

RUNTIME_FILE = "lib/python3.11/os.py"  # runtime layer
DEP_FILE = "lib/python3.11/site-packages/dep/__init__.py"  # dependencies layer
APP_FILE = "lib/python3.11/site-packages/app/__init__.py"  # app layer


@pytest.fixture(scope="module")
def stub(build_cache) -> Path:
    found = stubmod.stub_for("linux-x86_64", cache_dir=build_cache)
    assert found.prebuilt, "no packaged stubs: run `make stubs` first (make test does)"
    return found.path


def _artifact(stub: Path, where: Path, app: str, marker: str, *, dep: bytes = b"VALUE = 1\n") -> Path:
    """An artifact of *app* whose app layer holds *marker*; runtime (and, by default,
    dependencies) the same for every call."""
    tree = st.make_tree(where / f"tree-{app}-{marker}", {APP_FILE: marker.encode(), DEP_FILE: dep})
    return st.write_artifact(stub, st.build_block(tree, app=app), where / marker / app)


def _run(artifact: Path, env: dict) -> None:
    proc = st.run(artifact, env=env)
    assert proc.returncode == 0, proc.stderr


def _info(artifact: Path, env: dict) -> dict:
    return json.loads(st.run(artifact, env={**env, "BUNDLER_STUB": "info"}).stdout)["cache"]


def _tree(artifact: Path, env: dict) -> Path:
    return Path(_info(artifact, env)["tree"])


def _keys(artifact: Path) -> dict[str, str]:
    layers = pl.read_manifest(artifact).payload.layers
    return {layer.name: layer.key for layer in layers}


def _registry(cache: Path) -> dict[str, list[str]]:
    """<cache>/.layers as {key: sorted names in it}."""
    store = cache / ".layers"
    return {k: sorted(os.listdir(store / k)) for k in sorted(os.listdir(store))} if store.exists() else {}


def _unpacked(artifact: Path, dest: Path) -> dict:
    proc = st.run(artifact, env=st.base_env(dest.parent / "unused", BUNDLER_STUB=f"extract:{dest}"))
    assert proc.returncode == 0, proc.stderr
    return st.snapshot(dest)


def _alpha_then_beta(stub: Path, tmp_path: Path, between=None) -> tuple[Path, dict, Path, Path]:
    """Two apps on the same runtime and dependencies, each run once (*between*(cache, alpha's
    env) runs in between): the cache, the env, alpha and beta."""
    cache = tmp_path / "cache"
    env = st.base_env(cache)
    alpha = _artifact(stub, tmp_path, "alpha", "a")
    beta = _artifact(stub, tmp_path, "beta", "b")
    _run(alpha, env)
    if between:
        between(cache, _tree(alpha, env))
    _run(beta, env)
    return cache, env, alpha, beta


def _same_file(a: Path, b: Path) -> bool:
    return a.lstat().st_ino == b.lstat().st_ino and a.lstat().st_dev == b.lstat().st_dev


def test_the_layer_key_is_the_stubs(stub, tmp_path):
    """The key bundler computes (inspect) is the one the stub names the layer by (info)."""
    art = _artifact(stub, tmp_path, "alpha", "a")
    keys = _keys(art)
    info = _info(art, st.base_env(tmp_path / "cache"))
    assert {l["name"]: l["key"] for l in info["layers"]} == keys
    frames = pl.read_manifest(art).payload.layers[0].frames
    assert keys["runtime"] == hashlib.sha256("".join(f.sha256 + "\n" for f in frames).encode()).hexdigest()[:32]
    assert all(l["trees"] == 0 for l in info["layers"])


def test_two_apps_share_the_runtime_and_dependencies_on_disk(stub, tmp_path):
    cache, env, alpha, beta = _alpha_then_beta(stub, tmp_path)
    a, b = _tree(alpha, env), _tree(beta, env)
    assert a.parent.name == "alpha" and b.parent.name == "beta"
    # beta's first run linked alpha's files (the same inodes), and unpacked only its app layer
    for rel in (RUNTIME_FILE, "bin/python3.11", "share/naïve file.txt", DEP_FILE):
        assert _same_file(a / rel, b / rel), rel
        assert (b / rel).stat().st_nlink == 2
    assert not _same_file(a / APP_FILE, b / APP_FILE)
    assert (b / APP_FILE).read_text() == "b"
    # the linked tree is the tree an unpacking makes: kinds, modes, contents, symlinks, empty dirs
    assert st.snapshot(b) == {**_unpacked(beta, tmp_path / "plain"), ".bundler-complete": st.snapshot(b)[".bundler-complete"]}
    assert os.readlink(b / "bin/python3") == "python3.11"
    info = _info(beta, env)
    trees = {l["name"]: l["trees"] for l in info["layers"]}
    assert trees == {"runtime": 2, "dependencies": 2, "app": 1}
    keys = _keys(beta)
    registry = _registry(cache)
    assert registry[keys["runtime"]] == sorted([f"{a.name}-alpha", f"{b.name}-beta", "index"])
    # a third app with other dependencies shares the runtime only
    gamma = _artifact(stub, tmp_path, "gamma", "c", dep=b"VALUE = 2\n")
    _run(gamma, env)
    c = _tree(gamma, env)
    assert _same_file(a / RUNTIME_FILE, c / RUNTIME_FILE) and (c / RUNTIME_FILE).stat().st_nlink == 3
    assert not _same_file(a / DEP_FILE, c / DEP_FILE) and (c / DEP_FILE).read_text() == "VALUE = 2\n"


def test_removing_one_app_leaves_the_other_whole(stub, tmp_path):
    cache, env, alpha, beta = _alpha_then_beta(stub, tmp_path)
    b = _tree(beta, env)
    before = st.snapshot(b)
    info = _info(alpha, env)
    app_bytes = (b / APP_FILE).stat().st_size  # the app layer's files: the only ones alpha does not share
    assert 0 < info["shared"] < info["size"]
    out = st.run(alpha, env={**env, "BUNDLER_STUB": "uninstall"}).stdout.decode()
    mb = f"{info['size'] / 1e6:.1f} MB"
    freed = info["size"] - info["shared"]  # the app layer's files and the marker: a few hundred bytes
    assert freed >= app_bytes and freed < 1000
    assert out == (f"removed 1 unpacked copy of alpha ({mb}) from {cache}, freeing {freed} bytes "
                   "(the rest is shared with other apps' copies and stays)\n")
    assert not (cache / "alpha").exists()
    assert st.snapshot(b) == before and (b / RUNTIME_FILE).stat().st_nlink == 1
    _run(beta, env)
    keys = _keys(beta)
    assert _registry(cache)[keys["runtime"]] == sorted([f"{b.name}-beta", "index"])  # alpha's holder went
    assert st.run(beta, env={**env, "BUNDLER_STUB": "uninstall"}).returncode == 0
    assert os.listdir(cache) == []  # no app, no registry left


def test_an_upgrade_unpacks_only_what_changed(stub, tmp_path):
    """v2 links v1's runtime and dependencies, then the clean-up removes v1: v2 stays whole."""
    cache = tmp_path / "cache"
    env = st.base_env(cache)
    v1 = _artifact(stub, tmp_path, "app", "1")
    v2 = _artifact(stub, tmp_path, "app", "2")
    _run(v1, env)
    inode = (_tree(v1, env) / RUNTIME_FILE).lstat().st_ino
    _run(v2, env)
    t2 = _tree(v2, env)
    assert st.cache_entries(cache, "app") == [t2.name]  # v1 went
    assert (t2 / RUNTIME_FILE).lstat().st_ino == inode and (t2 / RUNTIME_FILE).stat().st_nlink == 1
    assert (t2 / APP_FILE).read_text() == "2"
    keys1, keys2 = _keys(v1), _keys(v2)
    registry = _registry(cache)
    assert set(registry) == set(keys2.values())  # v1's app layer left the registry with v1
    assert registry[keys2["runtime"]] == sorted([f"{t2.name}-app", "index"])
    assert keys1["runtime"] == keys2["runtime"] and keys1["app"] != keys2["app"]


def _damage(cache: Path, tree: Path, how: str) -> None:
    registry = cache / ".layers"
    if how == "missing file":
        (tree / RUNTIME_FILE).unlink()
    elif how == "index":
        for index in registry.glob("*/index"):
            index.write_text("bundler-layer 1\nf\t644\t../../etc/passwd\n")
    elif how == "holder of no tree":
        for d in registry.iterdir():
            for holder in d.glob("*-alpha"):
                holder.rename(d / "0123456789abcdef-alpha")
    elif how == "other user's registry":
        registry.chmod(0o777)
    elif how == "holder's app directory open to others":
        tree.parent.chmod(0o777)


@pytest.mark.parametrize("how", ["missing file", "index", "holder of no tree", "other user's registry",
                                 "holder's app directory open to others"])
def test_a_registry_that_does_not_hold_is_passed_by(stub, tmp_path, how):
    """Whatever is wrong with the registry or the tree it names, the second app unpacks what it
    cannot link and ends up with the tree an unpacking makes; nothing is left half made."""
    cache, env, _alpha, beta = _alpha_then_beta(stub, tmp_path, lambda cache, tree: _damage(cache, tree, how))
    b = _tree(beta, env)
    assert st.snapshot(b) == {**_unpacked(beta, tmp_path / "plain"), ".bundler-complete": st.snapshot(b)[".bundler-complete"]}
    assert st.cache_entries(cache, "beta") == [b.name]  # no temp tree left behind
    assert (b / RUNTIME_FILE).stat().st_nlink == 1  # unpacked, not linked to anything damaged


def test_a_damaged_frame_of_a_shared_layer_is_refused_all_the_same(stub, tmp_path):
    """A file whose runtime frame does not match its manifest digest (payload digest made to
    match) is refused when that layer would be linked, as when it would be unpacked."""
    cache = tmp_path / "cache"
    env = st.base_env(cache)
    alpha = _artifact(stub, tmp_path, "alpha", "a")
    _run(alpha, env)
    beta = _artifact(stub, tmp_path, "beta", "b")
    data = bytearray(beta.read_bytes())
    trailer = pl.read_trailer(beta)
    manifest = pl.read_manifest_json(beta)
    frame = manifest["layers"][0]["frames"][0]
    at = trailer.payload_offset + frame["offset"] + frame["length"] // 2
    data[at] ^= 0xFF
    payload = bytes(data[trailer.payload_offset:trailer.payload_offset + trailer.payload_length])
    manifest["payload"]["sha256"] = hashlib.sha256(payload).hexdigest()
    text = json.dumps(manifest, separators=(",", ":")).encode()
    damaged = tmp_path / "damaged" / "beta"
    damaged.parent.mkdir()
    damaged.write_bytes(bytes(data[:trailer.payload_offset]) + payload + text + pl.trailer_bytes(len(payload), text))
    damaged.chmod(0o755)
    for e in (env, st.base_env(tmp_path / "empty-cache")):  # with alpha's layers to link, and without
        proc = st.run(damaged, env=e)
        assert proc.returncode == 65, proc.stderr
        assert b"checksum mismatch" in proc.stderr
    assert not (cache / "beta").exists() or st.cache_entries(cache, "beta") == []
