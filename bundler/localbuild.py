"""Build a local project (a lock's ``directory`` entry) into a wheel with an isolated PEP 517 build."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from build import BuildBackendException, BuildException, FailedProcessError, ProjectBuilder
from build.env import DefaultIsolatedEnv

from .errors import BuildError

if TYPE_CHECKING:
    from .fetch import FetchOptions


def build_wheel(project: Path, out_dir: Path, options: FetchOptions) -> Path:
    """Build *project* (non-editable) into *out_dir* and return the wheel's path."""
    log: list[str] = []
    runner = _capturing_runner(log)
    try:
        with _pip_environ(_pip_settings(options)), DefaultIsolatedEnv() as env:
            builder = ProjectBuilder.from_isolated_env(env, project, runner=runner)
            env.install(builder.build_system_requires)
            env.install(builder.get_requires_for_build("wheel"))
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
    return built


def _pip_settings(options: FetchOptions) -> dict[str, str]:
    """pip environment variables that make build requirements come from where fetching may."""
    settings: dict[str, str] = {}
    if options.offline:
        settings["PIP_NO_INDEX"] = "1"
    elif options.index_url.rstrip("/") != "https://pypi.org/simple":
        settings["PIP_INDEX_URL"] = options.index_url
    if options.find_links:
        settings["PIP_FIND_LINKS"] = " ".join(str(p) for p in options.find_links)
    return settings


@contextmanager
def _pip_environ(settings: Mapping[str, str]) -> Iterator[None]:
    """Set *settings* in os.environ for the pip subprocesses `build` starts, then restore it."""
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


Runner = Callable[[Sequence[str], "str | None", "Mapping[str, str] | None"], None]


def _capturing_runner(log: list[str]) -> Runner:
    """A pyproject_hooks runner that keeps the backend's output in *log*."""

    def run(cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None) -> None:
        env = {**os.environ, **(extra_environ or {})}
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
