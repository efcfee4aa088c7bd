import sys

from . import __version__

USAGE = "usage: sklearn-demo [--version]\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--version"]:
        print(f"sklearn-demo {__version__}")
        return 0
    if args:
        sys.stderr.write(USAGE)
        return 2 if args[:1] not in (["-h"], ["--help"]) else 0

    import sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    x, y = load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0)
    model = LogisticRegression(max_iter=500).fit(x_train, y_train)
    print(f"scikit-learn {sklearn.__version__}: iris test accuracy {model.score(x_test, y_test):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
