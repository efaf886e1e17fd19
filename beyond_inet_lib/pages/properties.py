"""The one list of properties, in the report's order: each page module's ``PROPERTY``
(its name, settings, requests, build, notebook and headline metrics). The profile
(``config``), the run planner (``workload``), the report and its index read it here."""

from __future__ import annotations

from ..errors import did_you_mean
from . import calibration, humans, invariance, mistakes, robustness, shape_bias, similarity, synthetic, transfer
from .schema import Property

#: name -> Property, in the report's order
PROPERTIES: dict[str, Property] = {m.PROPERTY.name: m.PROPERTY for m in (
    mistakes, shape_bias, humans, calibration, robustness, transfer, synthetic, invariance, similarity)}


def get_property(name: str) -> Property:
    """The property ``name``; ValueError naming the closest one and every known name."""
    if name not in PROPERTIES:
        raise ValueError(f"unknown property {name!r}{did_you_mean(name, PROPERTIES)}; "
                         f"known: {', '.join(PROPERTIES)}")
    return PROPERTIES[name]
