"""The pages: the page context (``Study``), the one registry of properties
(``PROPERTIES``) and one module per property. A property module declares its settings,
its headline metrics (``schema.Metric``), ``requests(study)`` (what to predict),
``build(study, answers)`` (the tables and headline rows it shows), ``compute(study)`` (the
one call a notebook makes: ``pages.calibration.compute(study)``) and its ``PROPERTY``.
See ``pages.base`` for the shared pieces (intervals, comparisons, published numbers) and
``pages.schema`` for the headline-row schema."""

from . import calibration, humans, invariance, mistakes, robustness, shape_bias, similarity, synthetic, transfer
from .base import Answer, Page, Request, gather
from .context import Study
from .properties import PROPERTIES, get_property
from .schema import HEADLINE_FIELDS, HeadlineRow, Metric, Property

__all__ = ["Answer", "HEADLINE_FIELDS", "HeadlineRow", "Metric", "PROPERTIES", "Page", "Property", "Request",
           "Study", "calibration", "gather", "get_property", "humans", "invariance", "mistakes", "robustness",
           "shape_bias", "similarity", "synthetic", "transfer"]
