"""The platform vocabulary: every OS, CPU and target bundler knows, spelled once.

A target is ``<os>-<arch>`` (``linux-x86_64``, ``macos-arm64``). Its arch is
spelled the way the OS's own binary format names the CPU (ELF and PE say
``aarch64``, Mach-O says ``arm64``), so a binary's ``machine()`` compares
directly with a target's arch. Everything that differs by OS or CPU and is a
name rather than behaviour lives here: ``platform.system()`` and
``platform.machine()`` spellings, the binary format, the executable suffix,
the Zig triple of the stub, the machine codes in ELF and PE headers.
Behaviour that differs (how a format is read, rewritten or resolved) lives
behind :class:`bundler.binfmt.interface.BinaryFormat`.

Standard library only: ``setup.py`` loads the stub builder, which uses this
module, in a build environment without bundler's dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Os:
    """An operating system bundler builds for."""

    name: str  # the target's OS part: linux, windows, macos
    system: str  # platform.system() on it: Linux, Windows, Darwin
    binary_format: str  # elf, pe, macho
    exe_suffix: str  # "" or ".exe"
    sys_platform: str  # sys.platform on it: linux, win32, darwin
    os_name: str  # os.name on it: posix, nt
    #: each CPU (as its binary format names it) → its platform.machine() spellings, the usual one first
    machines: tuple[tuple[str, tuple[str, ...]], ...]
    #: a runtime directory gets a native ``bin/<entry>.exe`` per entry point (stubs/launcher.zig): its
    #: ``bin/<entry>`` scripts cannot start by themselves there (no ``#!``, no exec bit)
    native_launchers: bool = False
    #: builds ``.app`` bundles (``--format app``) whose main executable is the entry launcher
    #: (stubs/launcher.zig) running the runtime in ``Contents/Resources/runtime``
    app_bundles: bool = False

    @property
    def has_launcher(self) -> bool:
        """Whether bundler carries an entry launcher for this OS (a runtime directory's or an app's)."""
        return self.native_launchers or self.app_bundles

    def arch_of(self, machine: str) -> str | None:
        """The arch a ``platform.machine()`` value names on this OS (None: a CPU bundler does not know)."""
        return next((arch for arch, names in self.machines if machine in names), None)

    def machine_of(self, arch: str) -> str | None:
        """How ``platform.machine()`` reports *arch* on this OS."""
        return next((names[0] for a, names in self.machines if a == arch), None)

    def executable(self, stem: str) -> str:
        """*stem* as an executable file name on this OS (``app``, ``app.exe``)."""
        return stem + self.exe_suffix


LINUX = Os("linux", "Linux", "elf", "", "linux", "posix", (("x86_64", ("x86_64",)), ("aarch64", ("aarch64", "arm64"))))
WINDOWS = Os("windows", "Windows", "pe", ".exe", "win32", "nt", (("x86_64", ("AMD64", "x86_64")), ("aarch64", ("ARM64",))),
             native_launchers=True)
MACOS = Os("macos", "Darwin", "macho", "", "darwin", "posix", (("arm64", ("arm64",)), ("x86_64", ("x86_64",))),
           app_bundles=True)
OSES = (LINUX, WINDOWS, MACOS)


@dataclass(frozen=True)
class Platform:
    """A target: one OS on one CPU."""

    os: Os
    arch: str
    #: the Zig target triple the stub is compiled for
    zig_triple: str

    @property
    def name(self) -> str:
        return f"{self.os.name}-{self.arch}"

    @property
    def binary_format(self) -> str:
        return self.os.binary_format

    @property
    def is_windows(self) -> bool:
        return self.os is WINDOWS

    @property
    def is_macos(self) -> bool:
        return self.os is MACOS


#: Every target, in the order help texts list them. The stub is static musl on
#: Linux (it runs on any Linux), links the UCRT through MinGW-w64 on Windows, and
#: links libSystem only on macOS, with the oldest macOS named explicitly since
#: Zig 0.17 defaults to macOS 15 (11.0 is the first arm64 macOS, 10.13
#: python.org's floor for x86_64).
PLATFORMS = (
    Platform(LINUX, "x86_64", "x86_64-linux-musl"),
    Platform(LINUX, "aarch64", "aarch64-linux-musl"),
    Platform(WINDOWS, "x86_64", "x86_64-windows-gnu"),
    Platform(MACOS, "arm64", "aarch64-macos.11.0"),
    Platform(MACOS, "x86_64", "x86_64-macos.10.13"),
)
TARGET_NAMES = tuple(p.name for p in PLATFORMS)
_BY_NAME = {p.name: p for p in PLATFORMS}


def platform_named(name: str) -> Platform | None:
    """The target called *name* (``linux-x86_64``), None if bundler has no such target."""
    return _BY_NAME.get(name)


def os_of_system(system: str) -> Os | None:
    """The OS that ``platform.system()`` calls *system*."""
    return next((o for o in OSES if o.system == system), None)


def os_of_format(binary_format: str) -> Os:
    return next(o for o in OSES if o.binary_format == binary_format)


#: ELF ``e_machine`` (pyelftools' names, and the number in the header) → arch
ELF_MACHINES = {"EM_X86_64": "x86_64", "EM_AARCH64": "aarch64", "EM_386": "i386", "EM_ARM": "arm"}
#: arch → (EI_CLASS, e_machine) of a 64-bit ELF for it
ELF_CLASS_MACHINE = {"x86_64": (2, 62), "aarch64": (2, 183)}
#: PE ``FILE_HEADER.Machine`` → arch
PE_MACHINES = {0x8664: "x86_64", 0xAA64: "aarch64", 0x14C: "i386", 0x1C4: "arm"}
#: Mach-O ``cputype`` → arch
MACHO_CPUS = {0x01000007: "x86_64", 0x0100000C: "arm64"}
#: arch → Mach-O ``cputype``
MACHO_CPU_TYPES = {arch: code for code, arch in MACHO_CPUS.items()}
