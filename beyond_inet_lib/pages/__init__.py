"""One module per property: what a page predicts (``requests``), the tables and headline
rows it shows (``build``), and the one call a notebook makes (``pages.<property>(study)``).
See ``pages.base`` for the shared pieces (intervals, comparisons, published numbers)."""

from .base import Answer, Page, Request, gather
from .calibration import calibration
from .invariance import invariance
from .mistakes import mistakes
from .robustness import robustness
from .shape_bias import shape_bias
from .similarity import similarity
from .synthetic import synthetic
from .transfer import transfer

__all__ = ["Answer", "Page", "Request", "gather", "calibration", "invariance", "mistakes",
           "robustness", "shape_bias", "similarity", "synthetic", "transfer"]
