"""SHA-256 of files, streamed (one implementation for the whole package).

A build hashes the same wheel more than once (verified against the lock when
fetched, then as part of the base runtime's cache key); the digest is kept per
file identity (device, inode, size, mtime) for the life of the process, so each
file is read once. A file replaced by rename, as every cache entry is, has a new
inode and is hashed again.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    st = os.stat(path)
    return _sha256(os.fspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=4096)
def _sha256(path: str, dev: int, ino: int, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
