"""One module per property: what a page predicts (``requests``), the tables and headline
rows it shows (``build``), and the one call a notebook makes (``pages.<property>(study)``).
See ``pages.base`` for the shared pieces (intervals, comparisons, published numbers)."""

from .base import Answer, Page, Request, gather
from .calibration import calibration
from .invariance import invariance
from .robustness import robustness
from .synthetic import synthetic
from .transfer import transfer

__all__ = ["Answer", "Page", "Request", "gather", "calibration", "invariance", "robustness",
           "synthetic", "transfer"]
