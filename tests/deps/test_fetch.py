"""fetch_all: find-links, local files, a real HTTP server on 127.0.0.1, the cache, --offline, local builds."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.wheelfactory import make_wheel, sha256_of

from bundler.base.target import Target
from bundler.deps.fetch import FetchedWheel, fetch_all
from bundler.deps.lock import DirectoryRef, HashedRequirement, WheelRef
from bundler.deps.options import FetchOptions
from bundler.errors import BuildError, FetchError

SETUPTOOLS = "setuptools==80.9.0"


# --- a tiny web server --------------------------------------------------------------------


@dataclass
class Server:
    base: str
    routes: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Accept header)

    def url(self, path: str) -> str:
        return self.base + path

    def serve_file(self, route: str, path: Path) -> str:
        self.routes[route] = ("application/octet-stream", path.read_bytes())
        return self.url(route)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            state.requests.append((self.path, self.headers.get("Accept", "")))
            found = state.routes.get(self.path)
            if found is None:
                self.send_error(404)
                return
            content_type, body = found
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) any attempt to build a request or connect a socket."""
    attempts: list[str] = []

    def refuse(what: str) -> Callable[..., None]:
        def refused(*args: object, **kwargs: object) -> None:
            attempts.append(what)
            raise AssertionError(f"network used: {what}")

        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(urllib.request, "Request", refuse("urllib.request.Request"))
    monkeypatch.setattr(urllib.request, "urlopen", refuse("urllib.request.urlopen"))
    return attempts


def options(tmp_path: Path, *find_links: Path, offline: bool = False, index_url: str = "") -> FetchOptions:
    extra = {"index_url": index_url} if index_url else {}
    return FetchOptions(find_links=find_links, offline=offline, cache_dir=tmp_path / "cache", **extra)


def events() -> tuple[list[tuple[str, str]], Callable[[str, str], None]]:
    seen: list[tuple[str, str]] = []
    return seen, lambda event, detail: seen.append((event, detail))


def files_under(path: Path) -> list[Path]:
    """Cache files, without the entries' lock files (cachefs.locked: empty, kept for the next build)."""
    return [p for p in path.rglob("*") if p.is_file() and "locks" not in p.relative_to(path).parts] if path.exists() else []


def ref(wheel: Path, *, url: str | None = None, path: Path | None = None, sha256: str | None = "") -> WheelRef:
    name, version = wheel.name.split("-")[:2]
    return WheelRef(
        name=name.replace("_", "-"),
        version=version,
        filename=wheel.name,
        url=url,
        path=path,
        sha256=sha256_of(wheel) if sha256 == "" else sha256,
    )


# --- locked wheel files -------------------------------------------------------------------


def test_find_links_wins(tmp_path: Path, host_target: Target, no_network: list[str]) -> None:
    wheel = make_wheel(tmp_path / "links", "alpha", "1.0")
    seen, progress = events()
    item = ref(wheel, url="https://pypi.example/alpha-1.0-py3-none-any.whl")
    result = fetch_all([item], host_target, options(tmp_path, tmp_path / "links"), progress)
    assert result == (FetchedWheel("alpha", "1.0", wheel),)
    assert seen == [("local", str(wheel))]
    assert no_network == []


def test_local_path_and_file_url(tmp_path: Path, host_target: Target, no_network: list[str]) -> None:
    a = make_wheel(tmp_path / "a", "alpha", "1.0")
    b = make_wheel(tmp_path / "b", "beta", "2.0")
    c = make_wheel(tmp_path / "c", "gamma", "3.0")
    items = [ref(a, path=a), ref(b, url=b.as_uri()), ref(c, path=c, sha256=None)]
    result = fetch_all(items, host_target, options(tmp_path))
    assert [r.path for r in result] == [a, b, c]
    assert files_under(tmp_path / "cache") == []


def test_local_hash_mismatch(tmp_path: Path, host_target: Target) -> None:
    wheel = make_wheel(tmp_path / "links", "alpha", "1.0")
    with pytest.raises(FetchError) as err:
        fetch_all([ref(wheel, sha256="0" * 64)], host_target, options(tmp_path, tmp_path / "links"))
    message = str(err.value)
    assert message.startswith(f"alpha-1.0-py3-none-any.whl from --find-links {tmp_path / 'links'}: sha256 is ")
    assert f"the lock says {'0' * 64}" in message


def test_missing_local_file(tmp_path: Path, host_target: Target) -> None:
    item = WheelRef("alpha", "1.0", "alpha-1.0-py3-none-any.whl", None, tmp_path / "alpha-1.0-py3-none-any.whl", None)
    with pytest.raises(FetchError, match=r"alpha-1\.0-py3-none-any\.whl \(alpha 1\.0\) is not at"):
        fetch_all([item], host_target, options(tmp_path))


def test_download_then_cache_hit(tmp_path: Path, host_target: Target, server: Server) -> None:
    wheel = make_wheel(tmp_path / "src", "alpha", "1.0")
    item = ref(wheel, url=server.serve_file("/files/alpha-1.0-py3-none-any.whl", wheel))
    digest = sha256_of(wheel)
    cached = tmp_path / "cache" / "sha256" / digest[:2] / digest / wheel.name

    seen, progress = events()
    assert fetch_all([item], host_target, options(tmp_path), progress) == (FetchedWheel("alpha", "1.0", cached),)
    assert cached.read_bytes() == wheel.read_bytes()
    assert len(server.requests) == 1 and seen == [("download", item.url)]

    seen, progress = events()
    assert fetch_all([item], host_target, options(tmp_path), progress) == (FetchedWheel("alpha", "1.0", cached),)
    assert len(server.requests) == 1 and seen == [("cached", wheel.name)]
    assert files_under(tmp_path / "cache") == [cached]


def test_truncated_cached_download_is_fetched_again(tmp_path: Path, host_target: Target, server: Server) -> None:
    """A cached wheel cut short (a build killed mid-write by an older bundler, a full disk) is never used."""
    wheel = make_wheel(tmp_path / "src", "alpha", "1.0", files={"alpha/__init__.py": "x = 1\n" * 5000})
    item = ref(wheel, url=server.serve_file("/files/alpha-1.0-py3-none-any.whl", wheel))
    digest = sha256_of(wheel)
    cached = tmp_path / "cache" / "sha256" / digest[:2] / digest / wheel.name
    fetch_all([item], host_target, options(tmp_path))
    cached.write_bytes(wheel.read_bytes()[: wheel.stat().st_size // 2])

    seen, progress = events()
    assert fetch_all([item], host_target, options(tmp_path), progress) == (FetchedWheel("alpha", "1.0", cached),)
    assert seen == [("download", item.url)] and len(server.requests) == 2
    assert cached.read_bytes() == wheel.read_bytes()


def test_truncated_cached_wheel_is_not_used_offline(tmp_path: Path, host_target: Target, server: Server) -> None:
    wheel = make_wheel(tmp_path / "src", "alpha", "1.0")
    digest = sha256_of(wheel)
    server.serve_file("/files/alpha-1.0-py3-none-any.whl", wheel)
    item = ref(wheel, url=server.url("/files/alpha-1.0-py3-none-any.whl"))
    fetch_all([item], host_target, options(tmp_path))
    cached = tmp_path / "cache" / "sha256" / digest[:2] / digest / wheel.name
    cached.write_bytes(b"PK\x03\x04 cut")
    with pytest.raises(FetchError, match="--offline forbids downloading it"):
        fetch_all([item], host_target, options(tmp_path, offline=True))
    assert not cached.exists()


def test_download_hash_mismatch_leaves_nothing(tmp_path: Path, host_target: Target, server: Server) -> None:
    wheel = make_wheel(tmp_path / "src", "alpha", "1.0")
    url = server.serve_file("/alpha-1.0-py3-none-any.whl", wheel)
    with pytest.raises(FetchError) as err:
        fetch_all([ref(wheel, url=url, sha256="f" * 64)], host_target, options(tmp_path))
    assert str(err.value) == (
        f"alpha-1.0-py3-none-any.whl from {url}: sha256 is {sha256_of(wheel)}, the lock says {'f' * 64}; "
        "the file changed or the lock is stale — re-lock or replace the file"
    )
    assert files_under(tmp_path / "cache") == []


def test_remote_without_hash_is_refused(tmp_path: Path, host_target: Target, server: Server) -> None:
    wheel = make_wheel(tmp_path / "src", "alpha", "1.0")
    url = server.serve_file("/alpha-1.0-py3-none-any.whl", wheel)
    with pytest.raises(FetchError, match="the lock has no sha256"):
        fetch_all([ref(wheel, url=url, sha256=None)], host_target, options(tmp_path))
    assert server.requests == []


def test_http_errors(tmp_path: Path, host_target: Target, server: Server) -> None:
    wheel = make_wheel(tmp_path / "src", "alpha", "1.0")
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_all([ref(wheel, url=server.url("/missing.whl"))], host_target, options(tmp_path))
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError, match="check the network or use --find-links"):
        fetch_all([ref(wheel, url=f"http://127.0.0.1:{port}/alpha-1.0-py3-none-any.whl")], host_target, options(tmp_path))


def test_offline_missing_file(tmp_path: Path, host_target: Target, server: Server, no_network: list[str]) -> None:
    wheel = make_wheel(tmp_path / "src", "alpha", "1.0")
    item = ref(wheel, url=server.serve_file("/alpha-1.0-py3-none-any.whl", wheel))
    with pytest.raises(FetchError) as err:
        fetch_all([item], host_target, options(tmp_path, offline=True))
    assert str(err.value) == (
        "alpha-1.0-py3-none-any.whl (alpha 1.0) is not in the download cache or any --find-links directory, "
        "and --offline forbids downloading it; put it in a --find-links directory"
    )
    assert no_network == [] and server.requests == []


def test_offline_uses_cache(tmp_path: Path, host_target: Target, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = make_wheel(tmp_path / "src", "alpha", "1.0")
    item = ref(wheel, url=server.serve_file("/alpha-1.0-py3-none-any.whl", wheel))
    fetch_all([item], host_target, options(tmp_path))
    calls: list[object] = []
    monkeypatch.setattr(socket.socket, "connect", lambda *a: calls.append(a))
    (result,) = fetch_all([item], host_target, options(tmp_path, offline=True))
    assert result.path.read_bytes() == wheel.read_bytes()
    assert calls == [] and len(server.requests) == 1


# --- pinned requirements with hashes ------------------------------------------------------


def test_requirement_from_find_links(tmp_path: Path, host_target: Target, no_network: list[str]) -> None:
    links = tmp_path / "links"
    best = make_wheel(links, "pkg", "1.0", tag=str(host_target.tags[0]))  # best tag, but not the locked file
    generic = make_wheel(links, "pkg", "1.0")
    make_wheel(links, "pkg", "1.1")  # other version
    make_wheel(links, "pkg", "1.0", tag="cp311-cp311-win_amd64", files={"x.py": "pass\n"})  # other platform
    req = HashedRequirement("pkg", "1.0", frozenset({sha256_of(generic), "e" * 64}))
    assert fetch_all([req], host_target, options(tmp_path, links)) == (FetchedWheel("pkg", "1.0", generic),)

    both = HashedRequirement("pkg", "1.0", frozenset({sha256_of(generic), sha256_of(best)}))
    assert fetch_all([both], host_target, options(tmp_path, links)) == (FetchedWheel("pkg", "1.0", best),)


def _index_entry(wheel_or_name: Path | str, url: str, sha256: str) -> dict[str, object]:
    name = wheel_or_name if isinstance(wheel_or_name, str) else wheel_or_name.name
    return {"filename": name, "url": url, "hashes": {"sha256": sha256}}


def test_requirement_from_json_index(tmp_path: Path, host_target: Target, server: Server) -> None:
    src = tmp_path / "src"
    best = make_wheel(src, "my-pkg", "2.0", tag=str(host_target.tags[0]))
    generic = make_wheel(src, "my-pkg", "2.0")
    foreign = make_wheel(src, "my-pkg", "2.0", tag="cp311-cp311-win_amd64")
    for wheel in (best, generic, foreign):
        server.serve_file(f"/files/{wheel.name}", wheel)
    page = {
        "meta": {"api-version": "1.1"},
        "name": "my-pkg",
        "files": [
            _index_entry("my_pkg-2.0.tar.gz", "../../files/my_pkg-2.0.tar.gz", "d" * 64),
            _index_entry(generic, f"../../files/{generic.name}", sha256_of(generic)),
            _index_entry(best, f"../../files/{best.name}", sha256_of(best)),
            _index_entry(foreign, f"../../files/{foreign.name}", sha256_of(foreign)),
        ],
    }
    server.routes["/simple/my-pkg/"] = ("application/vnd.pypi.simple.v1+json", json.dumps(page).encode())
    req = HashedRequirement("my-pkg", "2.0", frozenset(sha256_of(w) for w in (best, generic, foreign)))
    opts = options(tmp_path, index_url=server.url("/simple"))

    (result,) = fetch_all([req], host_target, opts)
    assert result.name == "my-pkg" and result.path.name == best.name
    assert result.path.read_bytes() == best.read_bytes()
    assert server.requests == [
        ("/simple/my-pkg/", "application/vnd.pypi.simple.v1+json"),
        (f"/files/{best.name}", ""),
    ]
    # Offline, the cache alone answers.
    assert fetch_all([req], host_target, options(tmp_path, offline=True)) == (result,)
    assert len(server.requests) == 2


def test_requirement_sdist_only(tmp_path: Path, host_target: Target, server: Server) -> None:
    page = {"meta": {"api-version": "1.0"}, "name": "old", "files": [_index_entry("old-0.1.tar.gz", "/f/old-0.1.tar.gz", "d" * 64)]}
    server.routes["/simple/old/"] = ("application/vnd.pypi.simple.v1+json", json.dumps(page).encode())
    req = HashedRequirement("old", "0.1", frozenset({"d" * 64}))
    with pytest.raises(FetchError, match=r"old 0\.1: only an sdist is published .* no wheel for target linux-x86_64"):
        fetch_all([req], host_target, options(tmp_path, index_url=server.url("/simple")))


def test_requirement_stale_hashes(tmp_path: Path, host_target: Target, server: Server) -> None:
    wheel = make_wheel(tmp_path / "src", "pkg", "1.0")
    page = {"meta": {"api-version": "1.0"}, "name": "pkg", "files": [_index_entry(wheel, "/f/x.whl", sha256_of(wheel))]}
    server.routes["/simple/pkg/"] = ("application/vnd.pypi.simple.v1+json", json.dumps(page).encode())
    req = HashedRequirement("pkg", "1.0", frozenset({"e" * 64}))
    with pytest.raises(FetchError, match="has a sha256 listed in the lock"):
        fetch_all([req], host_target, options(tmp_path, index_url=server.url("/simple")))


def test_requirement_offline_missing(tmp_path: Path, host_target: Target, no_network: list[str]) -> None:
    req = HashedRequirement("pkg", "1.0", frozenset({"e" * 64}))
    with pytest.raises(FetchError, match=r"a wheel of pkg 1\.0 for linux-x86_64 is not in the download cache"):
        fetch_all([req], host_target, options(tmp_path, offline=True, index_url="http://127.0.0.1:9/simple"))
    assert no_network == []


# --- local projects -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def setuptools_links(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A find-links directory holding a setuptools wheel (downloaded once per session)."""
    links = tmp_path_factory.mktemp("setuptools-links")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", SETUPTOOLS, "--no-deps", "--only-binary", ":all:", "-d", str(links)],
        capture_output=True,
        text=True,
    )
    if proc.returncode or not list(links.glob("setuptools-*.whl")):
        pytest.fail(f"pip download {SETUPTOOLS} failed (network to PyPI needed):\n{proc.stdout}{proc.stderr}")
    return links


def make_project(root: Path, name: str, setup_py: str | None = None, backend: str = "setuptools.build_meta") -> Path:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        f'[build-system]\nrequires = ["setuptools"]\nbuild-backend = "{backend}"\n\n'
        f'[project]\nname = "{name}"\nversion = "0.3"\n\n[tool.setuptools]\npackages = ["tiny_app"]\n'
    )
    (root / "tiny_app").mkdir()
    (root / "tiny_app" / "__init__.py").write_text("VALUE = 42\n")
    if setup_py is not None:
        (root / "setup.py").write_text(setup_py)
    return root


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_directory_build(tmp_path: Path, host_target: Target, setuptools_links: Path, no_network: list[str]) -> None:
    project = make_project(tmp_path / "tiny", "tiny-app")
    (project / "dist").mkdir()  # an earlier build's output: not copied, not touched
    (project / "dist" / "old.txt").write_text("old\n")
    before = _tree(project)
    seen, progress = events()
    opts = options(tmp_path, setuptools_links, offline=True)
    (result,) = fetch_all([DirectoryRef("tiny-app", project)], host_target, opts, progress)
    assert (result.name, result.version) == ("tiny-app", "0.3")
    assert result.path.name == "tiny_app-0.3-py3-none-any.whl" and result.path.is_file()
    assert seen == [("build", str(project))]
    assert _tree(project) == before  # built from a copy: no build/, no tiny_app.egg-info in the user's tree

    with pytest.raises(BuildError, match="builds a wheel of tiny-app, but the lock calls it other"):
        fetch_all([DirectoryRef("other", project)], host_target, opts)


def test_directory_build_failure(tmp_path: Path, host_target: Target, setuptools_links: Path) -> None:
    project = make_project(tmp_path / "broken", "broken", setup_py="from setuptools import setup\nsetup(:\n")
    with pytest.raises(BuildError) as err:
        fetch_all([DirectoryRef("broken", project)], host_target, options(tmp_path, setuptools_links, offline=True))
    message = str(err.value)
    assert message.startswith(f"{project}: building a wheel failed (")
    assert "SyntaxError" in message
    assert message.endswith(f"run `python -m build --wheel {project}` to see the full log")


def test_directory_that_cannot_be_copied(tmp_path: Path, host_target: Target) -> None:
    project = make_project(tmp_path / "locked", "locked")
    os.mkfifo(project / "tiny_app" / "pipe")  # a FIFO: copying it would block; copytree refuses special files
    with pytest.raises(BuildError, match=r"pipe: cannot copy it to build .*locked from \(.*\); fix its permissions or remove it$"):
        fetch_all([DirectoryRef("locked", project)], host_target, options(tmp_path, offline=True))


def test_directory_bad_backend(tmp_path: Path, host_target: Target) -> None:
    project = tmp_path / "nobackend"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "no_such_backend"\n[project]\nname = "x"\nversion = "1"\n'
    )
    with pytest.raises(BuildError, match=r"nobackend: building a wheel failed \(.*no_such_backend"):
        fetch_all([DirectoryRef("x", project)], host_target, options(tmp_path, offline=True))


# --- what a verified wheel must also be ------------------------------------------------------


def _raw_wheel(path: Path, members: dict[str, str]) -> Path:
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def test_a_size_the_file_does_not_have(tmp_path: Path, host_target: Target, server: Server) -> None:
    wheel = make_wheel(tmp_path / "links", "alpha", "1.0")
    size = wheel.stat().st_size
    item = dataclasses.replace(ref(wheel), size=size + 1)
    with pytest.raises(FetchError, match=rf"from --find-links .*: {size} bytes, the lock says {size + 1}; "):
        fetch_all([item], host_target, options(tmp_path, tmp_path / "links"))
    assert fetch_all([dataclasses.replace(item, size=size)], host_target, options(tmp_path, tmp_path / "links"))
    # a download that runs longer than the lock says is cut off, and nothing is cached
    remote = dataclasses.replace(ref(wheel, url=server.serve_file("/f/alpha-1.0-py3-none-any.whl", wheel)), size=size - 10)
    with pytest.raises(FetchError, match=rf"alpha-1\.0-py3-none-any\.whl from http://.*: \d+ bytes, the lock says {size - 10}; "):
        fetch_all([remote], host_target, options(tmp_path))
    assert files_under(tmp_path / "cache") == []


@pytest.mark.parametrize(("members", "expected"), [
    ({"alpha/__init__.py": "", "alpha\\evil.py": "", "alpha-1.0.dist-info/METADATA": "Name: alpha\n"},
     r"member 'alpha\\\\evil\.py' has a backslash or NUL in its name; not a valid wheel, rebuild it$"),
    ({"../../etc/evil": "", "alpha-1.0.dist-info/METADATA": "Name: alpha\n"}, "would land outside site-packages"),
    ({"/etc/evil": "", "alpha-1.0.dist-info/METADATA": "Name: alpha\n"}, "would land outside site-packages"),
    ({"alpha/__init__.py": "", "alpha-1.0.dist-info/METADATA": "Name: evil\n"},
     r"its metadata names the project 'evil', the lock asks for alpha; the file is not what the lock says, re-lock$"),
    ({"alpha/__init__.py": ""}, r"holds 0 \.dist-info directories, none for alpha 1\.0"),
    ({"alpha-1.0.dist-info/RECORD": ""}, r"alpha-1\.0\.dist-info has no METADATA"),
])
def test_a_wheel_that_is_not_what_the_lock_says(tmp_path: Path, host_target: Target, members, expected) -> None:
    wheel = _raw_wheel(tmp_path / "links" / "alpha-1.0-py3-none-any.whl", members)
    with pytest.raises(FetchError, match=expected) as err:
        fetch_all([ref(wheel)], host_target, options(tmp_path, tmp_path / "links"))
    assert "\n" not in str(err.value) and str(err.value).startswith("alpha-1.0-py3-none-any.whl: ")


def test_a_wheel_that_is_not_a_zip(tmp_path: Path, host_target: Target) -> None:
    wheel = tmp_path / "links" / "alpha-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"not a zip file at all")
    with pytest.raises(FetchError, match=r"^alpha-1\.0-py3-none-any\.whl: not a valid wheel \(.*\); re-download it or rebuild it$"):
        fetch_all([ref(wheel)], host_target, options(tmp_path, tmp_path / "links"))
