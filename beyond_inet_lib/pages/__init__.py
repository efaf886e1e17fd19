"""One module per property: what a page predicts (``requests``), the tables and headline
rows it shows (``build``), and the one call a notebook makes (``pages.<property>(study)``).
See ``pages.base`` for the shared pieces (intervals, comparisons, published numbers)."""

from .base import Answer, Page, Request, gather
from .calibration import calibration
from .mistakes import mistakes
from .shape_bias import shape_bias
from .similarity import similarity

__all__ = ["Answer", "Page", "Request", "gather", "calibration", "mistakes", "shape_bias", "similarity"]
