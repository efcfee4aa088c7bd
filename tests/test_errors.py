"""The README's exit-code table is the truth about every BundlerError subclass."""

from __future__ import annotations

import re
from pathlib import Path

from bundler import errors

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _table() -> dict[int, str]:
    section = README.split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M)}


def _subclasses() -> list[type[errors.BundlerError]]:
    return [c for c in vars(errors).values()
            if isinstance(c, type) and issubclass(c, errors.BundlerError) and c is not errors.BundlerError]


def test_every_error_has_its_own_documented_code():
    table = _table()
    codes = [c.exit_code for c in _subclasses()]
    assert len(codes) == len(set(codes)), "two error classes share an exit code"
    for cls in _subclasses():
        assert cls.exit_code in table, f"README's exit-code table lacks {cls.__name__} ({cls.exit_code})"
        assert cls.__doc__, cls.__name__


def test_the_table_documents_nothing_else():
    reserved = {0, 1, 2, 130, 143}  # success, internal error, click's usage error, Ctrl-C, SIGTERM
    assert set(_table()) == reserved | {c.exit_code for c in _subclasses()}
