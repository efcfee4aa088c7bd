"""The planner's format knowledge is data (LoaderRules): PE and Mach-O plans from the same code.

``relocate.plan`` is pure given its reader, resolver and digest, so these tests
give it BinaryInfo values and a resolver over a dict; the formats themselves are
tested on real files in test_pe.py, test_macho.py and the cross-target build.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bundler.binfmt import pe
from bundler.binfmt.interface import BinaryInfo
from bundler.binfmt.macho import format as macho
from bundler.errors import RelocationError
from bundler.relocate.model import LoaderRules
from bundler.relocate.plan import plan as plan_relocation
from bundler.relocate.policy import load_policy
from bundler.relocate.verify import verify as verify_relocation

PE_RULES = LoaderRules(unique_name=pe.unique_name, origin=None, rename_vendored_id=False,
                                name_from_file=True)
MACHO_RULES = LoaderRules(unique_name=macho.unique_name, origin="@loader_path",
                                   install_name_prefix="@rpath/", search_in_rpath=True)


@dataclass(frozen=True)
class DictResolver:
    found: dict[str, Path]

    def search(self, needed: str, info: BinaryInfo, origin: Path) -> Path | None:
        return self.found.get(needed)


def info(*needed: str, soname: str | None = None, rpath: tuple[str, ...] = ()) -> BinaryInfo:
    return BinaryInfo(soname=soname, needed=needed, rpath=rpath, runpath=(), interpreter=None)


def test_pe_plan_vendors_next_to_python_with_unique_names(tmp_path: Path) -> None:
    ext = tmp_path / "ext" / "zlib1.dll"
    ext.parent.mkdir()
    ext.write_bytes(b"zlib")
    binaries = {"python.exe": info("python311.dll", "KERNEL32.dll", "zlib1.dll"),
                "python311.dll": info("kernel32.dll"),
                "Lib/site-packages/pkg/_x.pyd": info("ZLIB1.DLL", "api-ms-win-crt-heap-l1-1-0.dll")}
    plan = plan_relocation(
        tmp_path / "rt", binaries, {}, policy=load_policy("windows"),
        resolver=DictResolver({"zlib1.dll": ext, "ZLIB1.DLL": ext}), read=lambda p: info("kernel32.dll"),
        digest=lambda p: "1a2b3c4d99", vendor_dir="", rules=PE_RULES,
    )
    assert [v.dest for v in plan.vendored] == ["zlib1-1a2b3c4d.dll"]
    edits = dict(plan.edits)
    assert edits["python.exe"].replace_needed == (("zlib1.dll", "zlib1-1a2b3c4d.dll"),)
    assert edits["Lib/site-packages/pkg/_x.pyd"].replace_needed == (("ZLIB1.DLL", "zlib1-1a2b3c4d.dll"),)
    assert all(e.runpath == () and e.soname is None for e in edits.values())
    assert "python311.dll" not in edits and "zlib1-1a2b3c4d.dll" not in edits  # nothing to change there
    assert set(plan.system) == {"KERNEL32.dll", "kernel32.dll", "api-ms-win-crt-heap-l1-1-0.dll"}


def test_macho_plan_uses_rpath_names_and_loader_path(tmp_path: Path) -> None:
    lib = tmp_path / "brew" / "libfoo.1.dylib"
    lib.parent.mkdir()
    lib.write_bytes(b"foo")
    binaries = {
        "bin/python3.11": info("/usr/lib/libSystem.B.dylib", "/opt/homebrew/lib/libfoo.1.dylib",
                               rpath=("/Users/builder/lib",)),
        "lib/python3.11/site-packages/pkg/_x.so": info("@loader_path/.dylibs/libbar.dylib",
                                                      soname="/private/tmp/build/_x.so"),
        "lib/python3.11/site-packages/pkg/.dylibs/libbar.dylib": info(soname="@loader_path/.dylibs/libbar.dylib"),
    }
    found = {"/opt/homebrew/lib/libfoo.1.dylib": lib,
             "@loader_path/.dylibs/libbar.dylib": tmp_path / "rt/lib/python3.11/site-packages/pkg/.dylibs/libbar.dylib"}
    plan = plan_relocation(
        tmp_path / "rt", binaries, {}, policy=load_policy("macos"), resolver=DictResolver(found),
        read=lambda p: info("/usr/lib/libSystem.B.dylib", soname="/opt/homebrew/lib/libfoo.1.dylib"),
        digest=lambda p: "cafef00d11", rules=MACHO_RULES,
    )
    assert [v.dest for v in plan.vendored] == ["lib/bundled/libfoo-cafef00d.1.dylib"]
    edits = dict(plan.edits)
    py = edits["bin/python3.11"]
    assert py.replace_needed == (("/opt/homebrew/lib/libfoo.1.dylib", "@rpath/libfoo-cafef00d.1.dylib"),)
    assert py.runpath == ("@loader_path/../lib/bundled",)  # the absolute build rpath is gone
    assert edits["lib/bundled/libfoo-cafef00d.1.dylib"].soname == "@rpath/libfoo-cafef00d.1.dylib"
    # an extension whose id is a build path gets an @rpath id; its @loader_path dependency needs no rpath
    ext = edits["lib/python3.11/site-packages/pkg/_x.so"]
    assert ext.soname == "@rpath/_x.so" and ext.replace_needed == () and ext.runpath == ()


def test_macho_verify_refuses_build_paths(tmp_path: Path) -> None:
    policy = load_policy("macos")
    with pytest.raises(RelocationError, match="build-machine install name /private/tmp/x.dylib"):
        verify_relocation(tmp_path, {"lib/x.dylib": info(soname="/private/tmp/x.dylib")}, policy=policy,
                        resolver=DictResolver({}), check_paths=macho.search_path_check(policy.is_system))
    with pytest.raises(RelocationError, match="points outside the runtime"):
        verify_relocation(tmp_path, {"bin/p": info(rpath=("@loader_path/../../..",))}, policy=policy,
                        resolver=DictResolver({}), check_paths=macho.search_path_check(policy.is_system))
    with pytest.raises(RelocationError, match="does not resolve inside"):
        verify_relocation(tmp_path, {"bin/p": info("@rpath/libgone.dylib")}, policy=policy,
                        resolver=DictResolver({}), check_paths=macho.search_path_check(policy.is_system))
