"""read_lock: pylock.toml and hashed requirements.txt, selected for the host target."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundler.base.target import Target
from bundler.deps.lock import DirectoryRef, HashedRequirement, WheelRef, read_lock
from bundler.errors import ConfigError, LockError

H1 = "a" * 64
H2 = "b" * 64
H3 = "c" * 64
FOREIGN = "cp311-cp311-win_amd64"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def pylock(packages: str, header: str = 'lock-version = "1.0"\ncreated-by = "test"\n') -> str:
    return header + packages


# --- pylock.toml --------------------------------------------------------------------------


def test_pylock_picks_best_wheel_and_honours_markers(tmp_path: Path, host_target: Target) -> None:
    best = str(host_target.tags[0])
    text = pylock(f"""
[[packages]]
name = "alpha"
version = "1.0"
marker = "sys_platform == 'linux'"
wheels = [
  {{ url = "https://example.org/alpha-1.0-py3-none-any.whl", hashes = {{ sha256 = "{H1}" }} }},
  {{ url = "https://example.org/alpha-1.0-{best}.whl", hashes = {{ sha256 = "{H2.upper()}" }} }},
  {{ url = "https://example.org/alpha-1.0-{FOREIGN}.whl", hashes = {{ sha256 = "{H3}" }} }},
]

[[packages]]
name = "windows-only"
version = "2.0"
marker = "sys_platform == 'win32'"
wheels = [{{ url = "https://example.org/windows_only-2.0-py3-none-any.whl", hashes = {{ sha256 = "{H1}" }} }}]

[[packages]]
name = "beta"
version = "3.1"
wheels = [{{ path = "wheels/beta-3.1-py3-none-any.whl", hashes = {{ sha256 = "{H3}" }} }}]
""")
    items = read_lock(write(tmp_path, "pylock.toml", text), host_target)
    assert items == (
        WheelRef(
            name="alpha",
            version="1.0",
            filename=f"alpha-1.0-{best}.whl",
            url=f"https://example.org/alpha-1.0-{best}.whl",
            path=None,
            sha256=H2,
        ),
        WheelRef(
            name="beta",
            version="3.1",
            filename="beta-3.1-py3-none-any.whl",
            url=None,
            path=(tmp_path / "wheels" / "beta-3.1-py3-none-any.whl").resolve(),
            sha256=H3,
        ),
    )


def test_pylock_directory_and_archive(tmp_path: Path, host_target: Target) -> None:
    text = pylock(f"""
[[packages]]
name = "myapp"
directory = {{ path = "src/myapp" }}

[[packages]]
name = "gamma"
version = "0.5"
archive = {{ path = "dist/gamma-0.5-py3-none-any.whl", hashes = {{ sha256 = "{H1}" }} }}

[[packages]]
name = "delta"
archive = {{ url = "https://example.org/files/delta-2.0-py3-none-any.whl", hashes = {{ sha256 = "{H2}" }} }}
""")
    lock = write(tmp_path, "pylock.dev.toml", text)
    items = read_lock(lock, host_target)
    assert [item.name for item in items] == ["delta", "gamma", "myapp"]
    delta, gamma, myapp = items
    assert delta == WheelRef(
        "delta", "2.0", "delta-2.0-py3-none-any.whl", "https://example.org/files/delta-2.0-py3-none-any.whl", None, H2
    )
    assert isinstance(gamma, WheelRef) and gamma.path == (tmp_path / "dist/gamma-0.5-py3-none-any.whl").resolve()
    assert myapp == DirectoryRef("myapp", (tmp_path / "src" / "myapp").resolve())


def test_pylock_sdist_archive_is_an_error(tmp_path: Path, host_target: Target) -> None:
    text = pylock(f"""
[[packages]]
name = "gamma"
version = "0.5"
archive = {{ url = "https://example.org/gamma-0.5.tar.gz", hashes = {{ sha256 = "{H1}" }} }}
""")
    with pytest.raises(LockError, match=r"gamma 0\.5 .*source archive gamma-0\.5\.tar\.gz"):
        read_lock(write(tmp_path, "pylock.toml", text), host_target)


def test_pylock_sdist_only_package(tmp_path: Path, host_target: Target) -> None:
    text = pylock(f"""
[[packages]]
name = "oldpkg"
version = "0.1"
sdist = {{ url = "https://example.org/oldpkg-0.1.tar.gz", hashes = {{ sha256 = "{H1}" }} }}
""")
    with pytest.raises(LockError) as err:
        read_lock(write(tmp_path, "pylock.toml", text), host_target)
    message = str(err.value)
    assert "oldpkg 0.1 has no wheel for target linux-x86_64 (only an sdist is locked)" in message
    assert "pip wheel --no-deps oldpkg==0.1 -w wheelhouse" in message


def test_pylock_vcs_package(tmp_path: Path, host_target: Target) -> None:
    text = pylock("""
[[packages]]
name = "fromgit"
vcs = { type = "git", url = "https://example.org/repo.git", commit-id = "abc123" }
""")
    with pytest.raises(LockError, match="only a VCS source is locked"):
        read_lock(write(tmp_path, "pylock.toml", text), host_target)


@pytest.mark.parametrize("with_sdist", [False, True])
def test_pylock_no_wheel_for_target(tmp_path: Path, host_target: Target, with_sdist: bool) -> None:
    sdist = f'sdist = {{ url = "https://example.org/winonly-1.2.tar.gz", hashes = {{ sha256 = "{H2}" }} }}\n'
    text = pylock(f"""
[[packages]]
name = "winonly"
version = "1.2"
wheels = [{{ url = "https://example.org/winonly-1.2-{FOREIGN}.whl", hashes = {{ sha256 = "{H1}" }} }}]
{sdist if with_sdist else ""}""")
    with pytest.raises(LockError) as err:
        read_lock(write(tmp_path, "pylock.toml", text), host_target)
    message = str(err.value)
    assert "winonly 1.2 has no wheel for target linux-x86_64" in message
    assert FOREIGN in message


def test_pylock_malformed_toml(tmp_path: Path, host_target: Target) -> None:
    lock = write(tmp_path, "pylock.toml", 'lock-version = "1.0\n')
    with pytest.raises(LockError, match=r"pylock\.toml: is not valid TOML"):
        read_lock(lock, host_target)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('lock-version = "2.0"\ncreated-by = "t"\npackages = []\n', "not supported"),
        ('lock-version = "1.0"\npackages = []\n', "created-by"),
        ('lock-version = "1.0"\ncreated-by = "t"\n[[packages]]\nname = "Bad_Name"\n', "not normalized"),
        ('lock-version = "1.0"\ncreated-by = "t"\n[[packages]]\nname = "x"\n', "Exactly one of vcs"),
    ],
)
def test_pylock_invalid(tmp_path: Path, host_target: Target, text: str, expected: str) -> None:
    with pytest.raises(LockError, match=expected) as err:
        read_lock(write(tmp_path, "pylock.toml", text), host_target)
    assert str(tmp_path / "pylock.toml") in str(err.value)


def test_pylock_requires_python_mismatch(tmp_path: Path, host_target: Target) -> None:
    text = 'lock-version = "1.0"\ncreated-by = "t"\nrequires-python = "<3.0"\npackages = []\n'
    with pytest.raises(LockError, match="re-lock for this target"):
        read_lock(write(tmp_path, "pylock.toml", text), host_target)


def test_missing_lock_file(tmp_path: Path, host_target: Target) -> None:
    with pytest.raises(ConfigError, match="no such lock file"):
        read_lock(tmp_path / "pylock.toml", host_target)


# --- requirements.txt ---------------------------------------------------------------------


def test_requirements_compiled(tmp_path: Path, host_target: Target) -> None:
    (tmp_path / "wheels").mkdir()
    text = f"""\
#
# This file is autogenerated by pip-compile with Python 3.11
#
--index-url https://pypi.org/simple
--extra-index-url https://example.org/simple
--find-links ./wheels
--no-binary :none:

Click[extra]==8.1.7 \\
    --hash=sha256:{H1} \\
    --hash=sha256:{H2.upper()}
    # via my-app
colorama==0.4.6 ; sys_platform == "win32" \\
    --hash=sha256:{H3}
typing-extensions==4.12.2 ; python_version >= "3.8" --hash=sha256:{H3}  # via click
./wheels/local_pkg-1.0-py3-none-any.whl --hash=sha256:{H1}
other @ file://{tmp_path}/wheels/other-2.0-py3-none-any.whl --hash=sha256:{H2}
"""
    items = read_lock(write(tmp_path, "requirements.txt", text), host_target)
    assert items == (
        HashedRequirement("click", "8.1.7", frozenset({H1, H2})),
        WheelRef(
            "local-pkg",
            "1.0",
            "local_pkg-1.0-py3-none-any.whl",
            None,
            (tmp_path / "wheels" / "local_pkg-1.0-py3-none-any.whl").resolve(),
            H1,
        ),
        WheelRef(
            "other", "2.0", "other-2.0-py3-none-any.whl", None, (tmp_path / "wheels/other-2.0-py3-none-any.whl").resolve(), H2
        ),
        HashedRequirement("typing-extensions", "4.12.2", frozenset({H3})),
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"requests>=2.0 --hash=sha256:{H1}", r"line 2: requests>=2\.0 is not pinned"),
        ("requests==2.31.0", r"line 2: requests==2\.31\.0 has no --hash=sha256"),
        ("requests==2.31.0 --hash=md5:0123", r"line 2: requests==2\.31\.0 has no --hash=sha256"),
        ("-r other.txt", r"line 2: `-r` is not supported, flatten it"),
        ("--requirement=other.txt", r"line 2: `-r` is not supported, flatten it"),
        ("-e ./src", r"line 2: `-e` is not supported, flatten it"),
        ("-c constraints.txt", r"line 2: `-c` is not supported, flatten it"),
        (f"./dist/pkg-1.0.tar.gz --hash=sha256:{H1}", "is not a wheel"),
        (f"winpkg @ https://example.org/winpkg-1.0-{FOREIGN}.whl --hash=sha256:{H1}", "does not run on target"),
    ],
)
def test_requirements_errors(tmp_path: Path, host_target: Target, line: str, expected: str) -> None:
    lock = write(tmp_path, "requirements.txt", f"# header\n{line}\n")
    with pytest.raises(LockError, match=expected) as err:
        read_lock(lock, host_target)
    assert str(lock) in str(err.value)


def test_requirements_continuation_line_number(tmp_path: Path, host_target: Target) -> None:
    text = f"a==1 --hash=sha256:{H1}\n\nb==2 \\\n    --hash=md5:00\n"
    with pytest.raises(LockError, match="line 3: b==2"):
        read_lock(write(tmp_path, "requirements.txt", text), host_target)


def test_requirements_duplicate(tmp_path: Path, host_target: Target) -> None:
    text = f"a==1 --hash=sha256:{H1}\nA==2 --hash=sha256:{H2}\n"
    with pytest.raises(LockError, match="listed twice"):
        read_lock(write(tmp_path, "requirements.txt", text), host_target)


def test_requirements_directory(tmp_path: Path, host_target: Target) -> None:
    (tmp_path / "proj").mkdir()
    text = f"my_proj @ file://{tmp_path}/proj\n"
    assert read_lock(write(tmp_path, "requirements.txt", text), host_target) == (
        DirectoryRef("my-proj", (tmp_path / "proj").resolve()),
    )


def test_requirements_dot_line_takes_the_projects_name(tmp_path: Path, host_target: Target) -> None:
    """`uv pip compile --generate-hashes` writes a bare `.` for the project itself."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "My_Proj"\nversion = "1.0"\n')
    assert read_lock(write(tmp_path, "requirements.txt", ".\n"), host_target) == (
        DirectoryRef("my-proj", tmp_path.resolve()),
    )
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "setup.py").write_text("from setuptools import setup\nsetup(name='old-tool', version='1')\n")
    assert read_lock(write(legacy, "requirements.txt", "./\n"), host_target) == (
        DirectoryRef("old-tool", legacy.resolve()),
    )


def test_requirements_dot_line_without_a_name(tmp_path: Path, host_target: Target) -> None:
    with pytest.raises(LockError, match=r"line 1: the directory \. has no package name in its pyproject.toml"):
        read_lock(write(tmp_path, "requirements.txt", ".\n"), host_target)


def test_pylock_wheel_of_another_project_or_a_bad_size(tmp_path: Path, host_target: Target) -> None:
    other = ('lock-version = "1.0"\ncreated-by = "t"\n[[packages]]\nname = "alpha"\nversion = "1.0"\n'
             f'wheels = [{{ url = "https://example.org/evil-1.0-py3-none-any.whl", hashes = {{ sha256 = "{"a" * 64}" }} }}]\n')
    with pytest.raises(LockError, match=r"Name in 'evil-1\.0-py3-none-any\.whl' is not consistent with package name 'alpha'"):
        read_lock(write(tmp_path, "pylock.toml", other), host_target)  # packaging's own check, in one line
    archive = other.replace("wheels = [{", "archive = {").replace("}} }}]", "}} }}").replace(" }]\n", " }\n")
    with pytest.raises(LockError, match=r"package alpha 1\.0 locks evil-1\.0-py3-none-any\.whl, a wheel of evil; "
                                        "fix the entry or re-lock$"):
        read_lock(write(tmp_path, "pylock.toml", archive), host_target)  # an archive entry: bundler's check
    sized = other.replace("evil-1.0", "alpha-1.0").replace("hashes =", "size = 1234, hashes =")
    (item,) = read_lock(write(tmp_path, "pylock.toml", sized), host_target)
    assert item.size == 1234


def test_a_lock_file_that_is_a_symlink_loop(tmp_path: Path, host_target: Target) -> None:
    loop = tmp_path / "pylock.toml"
    loop.symlink_to(loop)
    with pytest.raises(ConfigError, match=r"pylock\.toml: no such lock file; pass the path of a pylock\.toml"):
        read_lock(loop, host_target)
