"""Built-in data sets (scikit-learn's digits: no download needed)."""

from .digits import Split, load_digits_split

__all__ = ["Split", "load_digits_split"]
