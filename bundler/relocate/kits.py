"""The binary format of each target, with everything relocation needs to drive it.

One :class:`FormatKit` per target: the reader/rewriter (``elf``, ``pe``,
``macho``), the system-library policy, the loader rules the planner follows,
where vendored libraries go, how to find libraries on the build machine and
inside the runtime, the format's own checks and the system floor its files
set. Nothing else in bundler asks which OS a target is for when it relocates.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bundler.base.model import BaseInterpreter
from bundler.base.target import Target
from bundler.binfmt.interface import (
    BinaryFormat,
    BinaryInfo,
    FloorOf,
    PathCheck,
    Resolver,
    no_floor,
    no_path_check,
)
from bundler.binfmt.ldpath import LdSoResolver, host_resolver
from bundler.relocate.model import ELF_RULES, VENDOR_DIR, LoaderRules
from bundler.relocate.policy import Policy, load_policy


@dataclass(frozen=True)
class FormatKit:
    name: str
    fmt: BinaryFormat
    policy: Policy
    rules: LoaderRules
    #: runtime-relative directory for vendored libraries ("" = the runtime root)
    vendor_dir: str
    #: finds what a binary needs on the build machine (the plan)
    build_resolver: Resolver
    #: finds what a binary needs inside the runtime only (the verification)
    inside_resolver: Resolver
    #: run on each vendored copy before any rewrite (strip: never after LIEF)
    prepare: Callable[[Path], None]
    #: a format's own test of a rewritten file (Mach-O: its code signature), given the path
    check: Callable[[Path], None] | None = None
    #: the format's rules for a relocated binary's search paths and names
    check_paths: PathCheck = no_path_check
    #: the oldest system (glibc, macOS) the relocated binaries run on
    floor: FloorOf = no_floor
    #: (stub, payload block, file name) → the single file, when the payload must sit inside the
    #: stub's signed region (Mach-O); None: the block simply follows the stub
    seal_onefile: Callable[[bytes, bytes, str], bytes] | None = None


def _noop(path: Path) -> None:
    pass


@dataclass(frozen=True)
class WithLibPath:
    """A loader's search, then the user's ``--lib-path`` directories (by file name)."""

    inner: Resolver
    dirs: tuple[Path, ...]
    machine: Callable[[Path], str]
    arch: str
    case_insensitive: bool = False

    def search(self, needed: str, info: BinaryInfo, origin: Path) -> Path | None:
        found = self.inner.search(needed, info, origin)
        if found is not None or not self.dirs:
            return found
        name = posixpath.basename(needed)
        for d in self.dirs:
            for cand in sorted(d.iterdir()) if d.is_dir() else ():
                same = cand.name.lower() == name.lower() if self.case_insensitive else cand.name == name
                if same and cand.is_file():
                    try:
                        if self.machine(cand) == self.arch:
                            return cand
                    except Exception:  # not a binary of any format we read
                        continue
        return None


def _elf(target: Target, interp: BaseInterpreter, root: Path, python_rel: str, sitepackages: str) -> FormatKit:
    from bundler.binfmt.elf import (
        ElfFormat,
        glibc_floor_of,
        search_path_check,
        stripper,
    )

    policy = load_policy("manylinux")
    dirs = policy.library_dirs(target.arch)
    if interp.sysroot is not None:
        # another architecture's system image: its libraries, never the host's
        build: Resolver = LdSoResolver(arch=target.arch, default_dirs=tuple(str(interp.sysroot) + d for d in dirs))
    elif interp.runnable:
        build = host_resolver(target.arch, dirs)
    else:
        build = LdSoResolver(arch=target.arch, default_dirs=())  # a self-contained base (python-build-standalone)
    return FormatKit(
        name="elf", fmt=ElfFormat(), policy=policy, rules=ELF_RULES, vendor_dir=VENDOR_DIR,
        build_resolver=build, inside_resolver=LdSoResolver(arch=target.arch, default_dirs=()),
        prepare=stripper(target.arch),
        check_paths=search_path_check(policy.loader(target.arch)),
        floor=glibc_floor_of,
    )


def _pe(target: Target, interp: BaseInterpreter, root: Path, python_rel: str, sitepackages: str) -> FormatKit:
    from bundler.binfmt import pe

    app_dir = posixpath.dirname(python_rel)
    return FormatKit(
        name="pe", fmt=pe.PeFormat(), policy=load_policy("windows"),
        rules=LoaderRules(unique_name=pe.unique_name, origin=None, rename_vendored_id=False, name_from_file=True),
        # next to python.exe: the application directory is searched for every DLL of the process
        vendor_dir=app_dir,
        build_resolver=pe.PeResolver(app_dir=interp.executable.parent, machine=target.arch,
                                     runtime_root=root, sitepackages=sitepackages),
        inside_resolver=pe.PeResolver(app_dir=root / app_dir, machine=target.arch,
                                      runtime_root=root, sitepackages=sitepackages),
        prepare=_noop,
    )


def _macho(target: Target, interp: BaseInterpreter, root: Path, python_rel: str, sitepackages: str) -> FormatKit:
    from bundler.binfmt.macho import codesign
    from bundler.binfmt.macho import format as macho

    policy = load_policy("macos")
    return FormatKit(
        name="macho", fmt=macho.MachOFormat(arch=target.arch), policy=policy,
        rules=LoaderRules(unique_name=macho.unique_name, origin="@loader_path",
                          install_name_prefix="@rpath/", search_in_rpath=True),
        vendor_dir=VENDOR_DIR,
        # a Mac's files copied to this machine, if the base came with them, before the paths as they are
        build_resolver=macho.MachOResolver(executable_dir=interp.executable.parent,
                                           sysroots=(interp.sysroot,) if interp.sysroot is not None else ()),
        inside_resolver=macho.MachOResolver(executable_dir=root / posixpath.dirname(python_rel)),
        prepare=_noop,
        check=codesign.verify_adhoc,
        check_paths=macho.search_path_check(policy.is_system),
        floor=macho.macos_floor_of(target.arch),
        seal_onefile=codesign.sign_with_payload,
    )


_KITS = {"elf": _elf, "pe": _pe, "macho": _macho}


def kit_for(target: Target, interp: BaseInterpreter, root: Path, python_rel: str,
            lib_path: tuple[Path, ...] = (), sitepackages: str = "") -> FormatKit:
    """The format kit for *target*, whose runtime is staged at *root* with its interpreter at *python_rel*
    (and its *sitepackages*, where packages keep DLL folders); *lib_path* directories are searched after
    the loader's own search on the build machine."""
    kit = _KITS[target.binary_format](target, interp, Path(os.path.realpath(root)), python_rel, sitepackages)
    if not lib_path:
        return kit
    wrapped = WithLibPath(kit.build_resolver, tuple(lib_path), kit.fmt.machine, target.arch,
                          case_insensitive=kit.policy.case_insensitive)
    return dataclasses.replace(kit, build_resolver=wrapped)
