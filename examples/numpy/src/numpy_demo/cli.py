import sys

from . import __version__

USAGE = "usage: numpy-demo [--version] [N]\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--version"]:
        print(f"numpy-demo {__version__}")
        return 0
    if args[:1] in (["-h"], ["--help"]):
        sys.stdout.write(USAGE)
        return 0
    try:
        n = int(args[0]) if args else 200
    except ValueError:
        sys.stderr.write(USAGE)
        return 2

    import numpy as np

    rng = np.random.default_rng(42)
    a = rng.standard_normal((n, n))
    x = rng.standard_normal(n)
    b = a @ x
    solved = np.linalg.solve(a, b)
    print(f"numpy {np.__version__}: solved a {n}x{n} system, max error {np.abs(solved - x).max():.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
