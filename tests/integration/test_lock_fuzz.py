"""Mutated lock files through the real CLI (in process, seeded): every outcome is a documented exit
code, never 1 (an internal error); a failure is one stderr line; the output directory keeps the
user's file and gets nothing but a whole output (issue 11)."""

from __future__ import annotations

import os
import random

import pytest
from support.wheelfactory import make_wheel, sha256_of

from bundler import cli, errors

SEED = 20261203
MUTATIONS = 200
DOCUMENTED = {0} | {c.exit_code for c in vars(errors).values()
                    if isinstance(c, type) and issubclass(c, errors.BundlerError) and c is not errors.BundlerError}

#: pieces a mutation splices in: TOML and requirement syntax, hostile values, odd characters
SNIPPETS = [
    '[[packages]]', 'name = "alpha"', 'name = "Alpha_Pkg"', 'version = "1.0"', 'version = 1.0', 'version = "../../x"',
    'marker = "os_name == \'nt\' and"', 'marker = "python_version >= \'3\'"', 'requires-python = "<3"',
    'size = -1', 'size = 99999999999999999999', 'size = "12"', 'path = "/etc/passwd"', 'path = "../../../../x.whl"',
    'path = "a\\u0000b.whl"', 'url = "file:///nonexistent/alpha-1.0-py3-none-any.whl"', 'url = "http://127.0.0.1:9/x.whl"',
    'hashes = {}', 'hashes = { sha256 = "zz" }', 'hashes = { md5 = "00" }', 'directory = { path = "." }',
    'archive = { path = "alpha-1.0.tar.gz", hashes = { sha256 = "' + "0" * 64 + '" } }',
    'vcs = { type = "git", url = "https://example.org/x.git" }', 'lock-version = "2.0"', 'created-by = ""',
    '[' * 50, '{ a = { b = { c = [[[[1]]]] } } }', '"""', "'''", '\\', '\x00', '\ufeff', 'é', '\x1b[31m',
    '--hash=sha256:' + "0" * 64, '-e .', '--index-url http://127.0.0.1:9/', 'alpha==1.0 ; os_name ==', 'alpha>=1',
    'file:///etc/passwd', '--find-links /nonexistent', '-r other.txt', 'alpha @ file:///nonexistent.whl',
]


def _mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 3)):
        lines = text.split("\n")
        op = rng.randrange(7)
        i = rng.randrange(len(lines))
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2:
            lines.insert(i, rng.choice(SNIPPETS))
        elif op == 3 and lines[i]:
            j = rng.randrange(len(lines[i]))
            lines[i] = lines[i][:j] + rng.choice(SNIPPETS) + lines[i][j + 1:]
        elif op == 4:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 5:
            return "\n".join(lines)[: rng.randrange(len(text) + 1)]
        else:
            lines[i] = lines[i].replace('"', rng.choice(["'", "", '"""', '\\"']), 1)
        text = "\n".join(lines)
    return text


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("fuzz-wheels")
    alpha = make_wheel(d, "alpha", "1.0", files={"alpha/__init__.py": "def main(): pass\n"})
    beta = make_wheel(d, "beta", "2.0")
    pylock = f'''lock-version = "1.0"
created-by = "bundler-fuzz"
requires-python = ">=3.9"

[[packages]]
name = "alpha"
version = "1.0"
[[packages.wheels]]
name = "{alpha.name}"
path = "{alpha}"
size = {alpha.stat().st_size}
hashes = {{ sha256 = "{sha256_of(alpha)}" }}

[[packages]]
name = "beta"
version = "2.0"
marker = "python_version >= '3.9'"
[[packages.wheels]]
name = "{beta.name}"
url = "file://{beta}"
hashes = {{ sha256 = "{sha256_of(beta)}" }}
'''
    requirements = f'''# a hashed requirements file
alpha==1.0 \\
    --hash=sha256:{sha256_of(alpha)}
beta==2.0 ; python_version >= "3.9" --hash=sha256:{sha256_of(beta)}
'''
    return {"pylock.toml": pylock, "requirements.txt": requirements, "links": str(d)}


def test_mutated_locks_end_in_a_documented_code_and_one_line(seeds, build_cache, tmp_path, capsys):
    rng = random.Random(SEED)
    out = tmp_path / "out"
    out.mkdir()
    (out / "user.txt").write_text("the user's own file\n")
    outcomes: dict[int, int] = {}
    for n in range(MUTATIONS):
        kind = "pylock.toml" if n % 2 == 0 else "requirements.txt"
        work = tmp_path / f"case{n:03d}"
        work.mkdir()
        text = _mutate(seeds[kind], rng)
        (work / kind).write_bytes(text.encode("utf-8", "surrogatepass"))
        code = cli.main(["build", "-q", "--lock", str(work / kind), "--name", "fz", "--format", "dir",
                         "--entry", "fz=alpha:main", "--find-links", seeds["links"], "--offline",
                         "--output-dir", str(out), "--cache-dir", str(build_cache)])
        captured = capsys.readouterr()
        case = f"case {n} ({kind}), exit {code}:\n{text}\n--- stderr:\n{captured.err}"
        assert code in DOCUMENTED and code != 1, case
        listing = sorted(os.listdir(out))
        if code == 0:
            assert captured.err == "", case
            assert listing in (["fz", "fz.cdx.json", "user.txt"],), case  # the directory and its SBOM
        else:
            lines = captured.err.splitlines()
            assert len(lines) == 1 and lines[0].startswith("bundler: error: "), case
            assert listing in (["user.txt"], ["fz", "fz.cdx.json", "user.txt"]), case  # an earlier success stays
        assert (out / "user.txt").read_text() == "the user's own file\n"
        outcomes[code] = outcomes.get(code, 0) + 1
    # the mutations reach more than one kind of outcome (a fuzzer that only ever hits one path tests little)
    assert len(outcomes) >= 3, outcomes
