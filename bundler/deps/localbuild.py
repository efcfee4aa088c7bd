"""Build a local project (a lock's ``directory`` entry) into a wheel with an isolated PEP 517 build."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from build import (
    BuildBackendException,
    BuildException,
    FailedProcessError,
    ProjectBuilder,
)

from bundler import cachefs
from bundler.config.spec import PYPI_SIMPLE
from bundler.errors import BuildError

if TYPE_CHECKING:
    from bundler.deps.options import FetchOptions


#: Directories that are never part of a project's source (for the source digest).
SKIP_DIRS = {".git", ".hg", ".svn", "dist", "build", ".venv", "venv", "__pycache__", ".tox", ".nox",
             ".mypy_cache", ".pytest_cache", ".ruff_cache", "node_modules"}


def source_digest(project: Path) -> str:
    """SHA-256 over the project's files (names and contents), skipping build outputs and VCS data."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(project):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            digest.update(path.relative_to(project).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class CachedEnv:
    """A build environment kept between builds (keyed by its requirements), like uv's build cache.

    Creating a virtualenv and installing the backend costs seconds; a rebuild
    after an edit should not pay it again. Implements ``build.env.IsolatedEnv``.
    A published env is never changed again: builds that share the cache may be
    using it (a project whose backend asks for more gets an env of its own).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def python_executable(self) -> str:
        return str(self.path / "bin" / "python")

    def make_extra_environ(self) -> dict[str, str]:
        return {"PATH": f"{self.path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}

    def installed(self) -> set[str]:
        record = self.path / ".installed"
        return set(record.read_text().splitlines()) if record.is_file() else set()

    def install(self, requirements, runner: Runner) -> None:
        """Install *requirements* (only while the env is being made; remembered in ``.installed``).

        The env has no pip of its own (a venv's bundled setuptools would shadow the
        requested one); bundler's own pip installs into it with ``--python``.
        """
        reqs = sorted(set(requirements) - self.installed())
        if reqs:
            runner([sys.executable, "-m", "pip", "--python", self.python_executable, "install",
                    "--disable-pip-version-check", "-q", *reqs], None, None)
            (self.path / ".installed").write_text("".join(f"{r}\n" for r in sorted(self.installed() | set(reqs))))


def _cached_env(cache_dir: Path, requires, settings: Mapping[str, str], runner: Runner) -> CachedEnv:
    """The published env with exactly *requires*: made once (under its lock) and shared from then on."""
    key = hashlib.sha256(
        json.dumps([sys.version, sorted(set(requires)), sorted(settings.items())]).encode()
    ).hexdigest()[:24]
    final = cache_dir / "build-envs" / key
    if cachefs.is_complete(final):
        cachefs.mark_used(final)
        return CachedEnv(final)
    with cachefs.locked(cache_dir, final, "PEP 517 build environment"):
        if cachefs.is_complete(final):  # another build made it while we waited
            return CachedEnv(final)
        cachefs.remove_leftovers(final)
        with cachefs.new_dir(final, key) as tmp:
            runner([sys.executable, "-m", "venv", "--without-pip", str(tmp)], None, None)
            CachedEnv(tmp).install(requires, runner)
        # a venv records its own path in pyvenv.cfg and its scripts; the renamed env runs
        # by bin/python, which finds its prefix from its own location, so the rename is harmless
    return CachedEnv(final)


#: What a build writes into a source tree and reads from nowhere: left out of the copy it builds from.
_BUILD_LEFTOVERS = ("__pycache__", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "node_modules",
                    ".venv", "venv", "*.egg-info")


def copy_source(project: Path, dest: Path) -> Path:
    """A copy of *project* to build from, so that the backend's ``build/`` and ``*.egg-info`` land
    there and the user's tree stays as it was. VCS data is kept (setuptools-scm and hatch-vcs read
    the version from it); the top level's ``build/`` and ``dist/`` are not (earlier outputs); links
    are followed (a README linked from elsewhere is part of the source)."""
    def ignore(directory: str, names: list[str]) -> set[str]:
        skip = shutil.ignore_patterns(*_BUILD_LEFTOVERS)(directory, names)
        if Path(directory) == project:
            skip |= {"build", "dist"} & set(names)
        return skip

    try:
        shutil.copytree(project, dest, symlinks=False, ignore=ignore, ignore_dangling_symlinks=True)
    except shutil.Error as exc:  # every file that failed: (source, destination, why)
        src, _dst, why = exc.args[0][0]
        raise BuildError(f"{src}: cannot copy it to build {project} from ({why}); fix its permissions or remove it") from exc
    except OSError as exc:
        raise BuildError(f"{exc.filename or project}: cannot copy it to build {project} from ({exc.strerror}); "
                         "fix its permissions or remove it") from exc
    return dest


def build_wheel(project: Path, out_dir: Path, options: FetchOptions,
                warn: Callable[[str], None] = lambda line: None) -> Path:
    """Build *project* (non-editable, from a copy: :func:`copy_source`) into *out_dir*; the wheel's path.

    The backend's output is captured (never written over the progress bar): on
    failure its last line goes into the error; on success every line that
    looks like a warning is passed to *warn*.
    """
    log: list[str] = []
    settings = _pip_settings(options)
    runner = _capturing_runner(log, settings)
    with tempfile.TemporaryDirectory(prefix="bundler-src-") as work:
        source = copy_source(project, Path(work) / project.name)
        try:
            requires = set(ProjectBuilder(source, runner=runner).build_system_requires)
            env = _cached_env(options.cache_dir, requires, settings, runner)
            builder = ProjectBuilder.from_isolated_env(env, source, runner=runner)
            dynamic = set(builder.get_requires_for_build("wheel"))  # what the backend asks for besides
            if dynamic - env.installed():
                env = _cached_env(options.cache_dir, requires | dynamic, settings, runner)
                builder = ProjectBuilder.from_isolated_env(env, source, runner=runner)
            built = Path(builder.build("wheel", out_dir))
        except subprocess.CalledProcessError as exc:  # pip failed to install build requirements
            log += [_text(exc.stdout), _text(exc.stderr)]
            raise _build_error(project, log, "installing its build requirements failed") from exc
        except FailedProcessError as exc:
            log += [_text(exc.exception.stdout), _text(exc.exception.stderr)]
            raise _build_error(project, log, str(exc)) from exc
        except BuildBackendException as exc:
            log.append(str(exc.exception) if not isinstance(exc.exception, subprocess.CalledProcessError) else "")
            raise _build_error(project, log, str(exc)) from exc
        except BuildException as exc:
            raise _build_error(project, [str(exc)], str(exc)) from exc
    if not built.name.endswith(".whl") or not built.is_file():
        raise _build_error(project, log, f"the backend produced {built.name}, not a wheel")
    for line in warnings_in(log):
        warn(line)
    return built


#: warnings every setuptools build prints, about nothing the project can change
ROUTINE_WARNINGS = ("byte-compiling is disabled, skipping",)  # build_py, install_lib


def warnings_in(log: list[str]) -> list[str]:
    """The lines of a build log that report a warning (setuptools' deprecations, pip's notices), once each."""
    seen: dict[str, None] = {}
    for chunk in log:
        for line in chunk.splitlines():
            text = line.strip()
            if not text or any(r in text for r in ROUTINE_WARNINGS):
                continue
            if ("warning" in text.lower() or text.startswith("!!")) and text.strip("!* ") and text not in seen:
                seen[text] = None
    return list(seen)


def _pip_settings(options: FetchOptions) -> dict[str, str]:
    """pip environment variables that make build requirements come from where fetching may."""
    settings: dict[str, str] = {}
    if options.offline:
        settings["PIP_NO_INDEX"] = "1"
    elif options.index_url.rstrip("/") != PYPI_SIMPLE:
        settings["PIP_INDEX_URL"] = options.index_url
    if options.find_links:
        settings["PIP_FIND_LINKS"] = " ".join(str(p) for p in options.find_links)
    return settings


Runner = Callable[[Sequence[str], "str | None", "Mapping[str, str] | None"], None]


def _capturing_runner(log: list[str], settings: Mapping[str, str]) -> Runner:
    """A pyproject_hooks runner that keeps the backend's output in *log* and gives every
    subprocess (pip, the backend) the pip *settings* on top of bundler's environment."""

    def run(cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None) -> None:
        env = {**os.environ, **settings, **(extra_environ or {})}
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        log.append(proc.stdout)
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout)

    return run


def _text(stream: str | bytes | None) -> str:
    if stream is None:
        return ""
    return stream.decode(errors="replace") if isinstance(stream, bytes) else stream


def _build_error(project: Path, log: list[str], fallback: str) -> BuildError:
    lines = [line.strip() for chunk in log for line in chunk.splitlines() if line.strip()]
    last = lines[-1] if lines else fallback
    return BuildError(
        f"{project}: building a wheel failed ({last}); run `python -m build --wheel {project}` to see the full log"
    )
