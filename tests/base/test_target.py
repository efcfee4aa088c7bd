"""base/target: a target's name, wheel tags and markers come from its base interpreter, never the host."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
from packaging.tags import Tag

from bundler.base.probe import probe
from bundler.base.target import linux_platforms, target_for, target_platform
from bundler.errors import InterpreterError


@pytest.fixture(scope="module")
def host():
    """The real interpreter running the tests, probed (a pyenv CPython on glibc)."""
    return probe(Path(sys.executable))


def test_linux_platforms_best_first_with_the_legacy_aliases():
    tags = linux_platforms("x86_64", (2, 17))
    assert tags[:2] == ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
    assert tags.index("manylinux_2_12_x86_64") + 1 == tags.index("manylinux2010_x86_64")
    assert tags.index("manylinux_2_5_x86_64") + 1 == tags.index("manylinux1_x86_64")
    assert tags[-1] == "linux_x86_64"
    assert "manylinux_2_18_x86_64" not in tags  # newer than the target's glibc: never accepted
    assert linux_platforms("aarch64", (2, 5)) == ["manylinux_2_5_aarch64", "manylinux1_aarch64", "linux_aarch64"]


def test_the_host_base_targets_linux_x86_64_with_its_own_tags(host):
    target = target_for(host)
    ver = f"{sys.version_info[0]}{sys.version_info[1]}"
    assert (target.name, target.os.name, target.arch, target.binary_format) == ("linux-x86_64", "linux", "x86_64", "elf")
    assert target.python_version == sys.version_info[:2]
    assert target.glibc is not None and target.macos_minimum is None
    assert target.environment["sys_platform"] == "linux"
    assert target.tags[0] == Tag(f"cp{ver}", f"cp{ver}", f"manylinux_{target.glibc[0]}_{target.glibc[1]}_x86_64")
    # a binary wheel for this Python beats an abi3 wheel, which beats a pure one; a Windows wheel fits nowhere
    binary = target.tag_rank(Tag(f"cp{ver}", f"cp{ver}", "manylinux2014_x86_64"))
    abi3 = target.tag_rank(Tag("cp39", "abi3", "manylinux2014_x86_64"))
    pure = target.tag_rank(Tag("py3", "none", "any"))
    assert binary is not None and abi3 is not None and pure is not None and binary < abi3 < pure
    assert target.tag_rank(Tag(f"cp{ver}", f"cp{ver}", "win_amd64")) is None


def test_a_windows_base_gets_windows_tags(host):
    win = dataclasses.replace(host, system="Windows", machine="AMD64", glibc="")
    target = target_for(win)
    assert (target.name, target.glibc, target.macos_minimum) == ("windows-x86_64", None, None)
    assert {t.platform for t in target.tags} == {"win_amd64", "any"}


def test_a_macos_base_gets_its_minimum_in_the_tags(host):
    mac = dataclasses.replace(host, system="Darwin", machine="arm64", glibc="", macos_minimum="11.0")
    target = target_for(mac)
    assert (target.name, target.macos_minimum, target.glibc) == ("macos-arm64", (11, 0), None)
    platforms = {t.platform for t in target.tags}
    assert "macosx_11_0_arm64" in platforms and "macosx_12_0_arm64" not in platforms
    with pytest.raises(InterpreterError, match=r"cannot tell its minimum macOS version \(''\)"):
        target_for(dataclasses.replace(mac, macos_minimum=None))


def test_a_free_threaded_base_asks_for_t_wheels(host):
    target = target_for(dataclasses.replace(host, gil_disabled=True))
    ver = f"{sys.version_info[0]}{sys.version_info[1]}"
    assert target.tags[0].abi == f"cp{ver}t"


def test_what_bundler_cannot_target_is_named_with_the_supported_list(host):
    with pytest.raises(InterpreterError) as exc:
        target_platform(dataclasses.replace(host, system="FreeBSD", machine="amd64"))
    message = str(exc.value)
    assert f"--python {host.executable}: is a CPython for FreeBSD amd64" in message
    assert "linux-x86_64" in message and "windows-x86_64" in message and "\n" not in message
    with pytest.raises(InterpreterError, match="Linux riscv64"):
        target_platform(dataclasses.replace(host, machine="riscv64"))
    with pytest.raises(InterpreterError, match="musl targets are not supported yet"):
        target_for(dataclasses.replace(host, glibc=""))
    with pytest.raises(InterpreterError, match=r"cannot tell its glibc version \('unknown'\)"):
        target_for(dataclasses.replace(host, glibc="unknown"))
