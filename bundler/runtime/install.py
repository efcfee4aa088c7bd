"""Install wheels into the staged runtime with ``installer``; write entry launchers."""

from __future__ import annotations

import configparser
import io
import os
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.records import RecordEntry
from installer.sources import WheelContentElement, WheelFile
from installer.utils import Scheme
from packaging.utils import canonicalize_name

from bundler.errors import ConfigError, FetchError
from bundler.runtime import launchers as launcher
from bundler.runtime.entrycheck import check_entry
from bundler.runtime.stage import StagedRuntime
from bundler.runtime.stdlibzip import zip_name
from bundler.runtime.testdirs import SuitePlan, SuitesLeftOut, plan_wheel


@dataclass
class _LauncherDestination(SchemeDictionaryDestination):
    """Writes console scripts as relocatable launchers instead of absolute shebangs."""

    python_name: str = "python3"

    def write_file(self, scheme, path, stream, is_executable):  # type: ignore[override]
        if scheme == "scripts":
            data = launcher.rewrite_shebang(stream.read(), self.python_name)
            return self.write_to_fs(scheme, os.fspath(path), io.BytesIO(data), is_executable)
        return self.write_to_fs(scheme, os.fspath(path), stream, is_executable)

    def write_script(self, name, module, attr, section) -> RecordEntry:  # type: ignore[override]
        data = launcher.entry_script(self.python_name, module, attr).encode()
        entry = self.write_to_fs(Scheme("scripts"), name, io.BytesIO(data), is_executable=True)
        return entry


class _WheelWithoutTests(WheelFile):
    """A wheel source that skips the test directories of *plan* (RECORD then lists only what was written)."""

    def __init__(self, f: zipfile.ZipFile, plan: SuitePlan) -> None:
        super().__init__(f)
        self.plan = plan

    def get_contents(self) -> Iterator[WheelContentElement]:
        for element in super().get_contents():
            if not self.plan.leaves_out(element[0][0]):
                yield element


def install_wheels(staged: StagedRuntime, wheels: Iterable[Path], *, keep_tests: bool = True,
                   progress: Callable[[int, int], None] = lambda done, total: None) -> SuitesLeftOut:
    """Install each wheel into the runtime's site-packages (no bytecode yet; finalize does it).

    Without *keep_tests*, a wheel's test directories are left out unless its own
    code imports them (``testdirs``). *progress(done, total)* counts wheels.
    """
    wheels = list(wheels)
    root = staged.root
    site = str(root / staged.sitepackages)
    ver = staged.stdlib.rsplit("python", 1)[-1]
    scheme = {
        "purelib": site,
        "platlib": site,
        "headers": str(root / "include" / f"python{ver}"),
        "scripts": str(root / "bin"),
        "data": str(root),
    }
    dest = _LauncherDestination(
        scheme_dict=scheme,
        interpreter="python",
        script_kind="posix",
        python_name=Path(staged.python).name,
    )
    plans: list[SuitePlan] = []
    for n, wheel in enumerate(wheels, 1):
        try:
            with zipfile.ZipFile(wheel) as zf:
                plan = None if keep_tests else plan_wheel(zf)
                source = WheelFile(zf) if plan is None else _WheelWithoutTests(zf, plan)
                with warnings.catch_warnings():
                    # installer skips pycs a wheel ships in __pycache__ (numpy's do); finalize compiles its own
                    warnings.filterwarnings("ignore", message=r"Skip installing .*__pycache__", category=RuntimeWarning)
                    install(source, dest, additional_metadata={"INSTALLER": b"bundler\n"})
            if plan is not None:
                plans.append(plan)
            progress(n, len(wheels))
        except FileExistsError as exc:
            raise FetchError(f"{wheel.name}: installing it would overwrite {exc.args[0].split(': ', 1)[-1]}; two locked packages ship the same file") from exc
        except Exception as exc:  # installer raises plain exceptions for malformed wheels
            raise FetchError(f"{wheel.name}: not a valid wheel ({exc}); re-download it or rebuild it") from exc
    return SuitesLeftOut.total(plans)


@dataclass(frozen=True)
class ConsoleScript:
    name: str
    value: str  # module:attr
    distribution: str
    version: str


def installed_versions(staged: StagedRuntime) -> dict[str, str]:
    """Canonical distribution name -> version, for everything installed in site-packages."""
    site = staged.root / staged.sitepackages
    found: dict[str, str] = {}
    for dist in sorted(site.glob("*.dist-info")):
        name, _, version = dist.name[: -len(".dist-info")].partition("-")
        found[str(canonicalize_name(name))] = version
    return found


def console_scripts(staged: StagedRuntime) -> dict[str, ConsoleScript]:
    """Console scripts declared by the installed distributions."""
    site = staged.root / staged.sitepackages
    found: dict[str, ConsoleScript] = {}
    for dist in sorted(site.glob("*.dist-info")):
        ep = dist / "entry_points.txt"
        if not ep.is_file():
            continue
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(ep.read_text())
        name, _, version = dist.name[: -len(".dist-info")].partition("-")
        for section in ("console_scripts", "gui_scripts"):
            if parser.has_section(section):
                for script, value in parser.items(section):
                    found.setdefault(script, ConsoleScript(script, value.strip(), name, version))
    return found


def import_roots(staged: StagedRuntime) -> list[Path]:
    """Where the runtime's interpreter imports from: site-packages, the standard library, its extension modules."""
    root = staged.root
    zipped = zip_name(staged)
    return [root / staged.sitepackages, *([root / zipped] if zipped and (root / zipped).is_file() else []),
            root / staged.stdlib, root / staged.dynload]


def write_entries(staged: StagedRuntime, entries: Iterable[tuple[str, str | None]]) -> None:
    """Make sure ``bin/<name>`` exists for every requested entry point.

    ``(name, "module:func")`` writes a launcher; ``(name, None)`` must name a console
    script of an installed wheel.
    """
    scripts = console_scripts(staged)
    python_name = Path(staged.python).name
    for name, value in entries:
        if value is None:
            if name not in scripts:
                known = ", ".join(sorted(scripts)) or "none"
                raise ConfigError(
                    f"entry point {name!r} is not a console script of any locked package "
                    f"(declared: {known}); use --entry {name}=module:function"
                )
            continue
        module, sep, attr = value.partition(":")
        if not sep or not module or not attr:
            raise ConfigError(f"entry point {name}={value}: expected NAME=module:function")
        problem = check_entry(import_roots(staged), module.strip(), attr.strip())
        if problem is not None:
            raise ConfigError(f"entry point {name}={value}: {problem}; fix --entry (or [tool.bundler] entry), "
                              "or lock the package that provides it")
        path = staged.root / "bin" / name
        path.parent.mkdir(exist_ok=True)  # a Windows runtime has no bin/ until its first entry
        path.unlink(missing_ok=True)  # never write through a link into the build cache
        path.write_text(launcher.entry_script(python_name, module.strip(), attr.strip()))
        path.chmod(0o755)
