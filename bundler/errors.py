"""Every error a user can cause, with the exit code the CLI returns for it.

A :class:`BundlerError` message is one sentence that names the file, package or
library involved and says what to do about it. The CLI prints it on one line.
"""

from __future__ import annotations


class BundlerError(Exception):
    """Base class of all user-facing errors."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(BundlerError):
    """Bad `[tool.bundler]` table, bad flag combination, unknown entry point."""

    exit_code = 3


class LockError(BundlerError):
    """Malformed lock file, or a locked package with no usable wheel for the target."""

    exit_code = 4


class FetchError(BundlerError):
    """A locked file is missing, unreachable, or its hash does not match."""

    exit_code = 5


class InterpreterError(BundlerError):
    """The base interpreter is missing, not CPython, too old or for another target."""

    exit_code = 6


class BuildError(BundlerError):
    """Building a local project (a `directory` lock entry) into a wheel failed."""

    exit_code = 7


class RelocationError(BundlerError):
    """A native library cannot be resolved, vendored or rewritten, or verification failed."""

    exit_code = 8


class OutputError(BundlerError):
    """The output directory cannot be written."""

    exit_code = 9


class PayloadError(BundlerError):
    """An artifact or payload that breaks docs/FORMAT.md (damaged, truncated, or unpackable tree)."""

    exit_code = 10


class StubError(BundlerError):
    """The native stub for a target cannot be built (Zig toolchain, zstd sources)."""

    exit_code = 11


class CacheError(BundlerError):
    """The build cache cannot be used: a lock held too long, or a directory that cannot be written."""

    exit_code = 12


class SignError(BundlerError):
    """Signing the Windows single file failed: osslsigncode is missing, or refused the certificate or password."""

    exit_code = 13
