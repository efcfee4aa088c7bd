"""A scikit-learn app: trains a classifier on the iris data that ships with scikit-learn."""

__version__ = "1.0.0"
