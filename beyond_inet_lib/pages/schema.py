"""What a page declares and what it records.

- ``Metric``: a headline metric, declared once beside its page: its name on the index,
  its unit, which direction is better (``higher`` / ``lower``, or None for a description
  that is not a score) and the paper's key. Names and keys may hold ``{fields}`` that the
  page fills (``Metric("top-1 {variant}", "higher", paper="top1_{variant}")
  .at(variant="imagenet-r")``). Intervals, comparisons, rankings and the index arrow all
  read the direction from here.
- ``HeadlineRow``: the one schema of a headline row (what the report's index shows),
  made by ``headline_row`` and checked by ``check_headline`` where a page's rows are
  recorded (``report.record``). A page without its data records no row: an empty
  headline is valid.
- ``Property``: what a page module declares (its name, settings, ``requests``,
  ``build``, ``compute``, notebook and metrics); ``pages.properties.PROPERTIES`` lists
  them, in the report's order.

A leaf module: it imports nothing of the package.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Callable, Mapping, TypedDict

#: a metric's direction: which of two values is the better one
BETTER = ("higher", "lower")


@dataclass(frozen=True)
class Metric:
    """A headline metric. ``name``: shown on the index and the page (may hold ``{fields}``);
    ``better``: 'higher' | 'lower' | None (no direction: rankings order it ascending and
    the index shows no arrow); ``unit``: what its values are ('fraction', 'ratio',
    'kappa', 'cka'); ``paper``: its key in ``references.PAPER`` (may hold ``{fields}``;
    None: the paper has no such number)."""

    name: str
    better: str | None
    unit: str = "fraction"
    paper: str | None = None

    def __post_init__(self):
        if self.better is not None and self.better not in BETTER:
            raise ValueError(f"Metric {self.name!r}: better={self.better!r}; accepted: {', '.join(BETTER)} or None")

    def at(self, **fields) -> "Metric":
        """The metric with its ``{fields}`` filled in (name and paper key)."""
        return dataclasses.replace(self, name=self.name.format(**fields),
                                   paper=self.paper.format(**fields) if self.paper else None)

    def without_paper(self) -> "Metric":
        """The same metric where the paper's number does not apply (a stand-in's data)."""
        return dataclasses.replace(self, paper=None)

    @property
    def higher_is_better(self) -> bool:
        return self.better == "higher"


class HeadlineRow(TypedDict):
    """One number on the report's index: ``value`` of ``metric`` for ``model``, its 95%
    interval (``ci_low``, ``ci_high``; None without one), the paper's number (``paper``),
    another harness's published number (``published``, ``published_source``: who and
    what in their protocol differs, ``published_flag``: this run's interval excludes it),
    the metric's direction (``better``) and notes ('untrained', 'stand-in', ...); the
    model's rank among the run's models on this metric with its 95% rank interval
    (``rank``, ``rank_low``, ``rank_high``: 1 is the best; None where the page ranks none);
    where a published field measures the same number (``references.field``), the percent
    of the field's models it is better than (``field_percentile``, with ``_low`` /
    ``_high`` from the value's interval), the field's size and source (``field_n``,
    ``field_source``: 'quba' | 'timm' | 'open_clip') and, when the model is in the field,
    the field's own number for it (``field_published``)."""

    model: str
    metric: str
    value: float
    ci_low: float | None
    ci_high: float | None
    paper: float | None
    published: float | None
    published_source: str | None
    published_flag: bool | None
    better: str | None
    note: str
    rank: int | None
    rank_low: int | None
    rank_high: int | None
    field_percentile: float | None
    field_percentile_low: float | None
    field_percentile_high: float | None
    field_n: int | None
    field_source: str | None
    field_published: float | None


#: the fields of a headline row, in order; the first three are required
HEADLINE_FIELDS = tuple(HeadlineRow.__annotations__)
HEADLINE_REQUIRED = ("model", "metric", "value")


def headline_row(model: str, metric: Metric, value: float, interval=None, *, paper: float | None = None,
                 note: str = "") -> HeadlineRow:
    """The one place a headline row is made (``Study.headline_row`` fills it for a model
    of the study; ``base.with_published`` adds another harness's number, ``base.with_field``
    the field's percentile, ``base.rank_headline`` the ranks). ``interval``:
    anything with ``low`` and ``high`` (a ``stats.Interval``), or None; an infinite or
    NaN bound is None."""
    low, high = (None, None) if interval is None else (finite_or_none(interval.low), finite_or_none(interval.high))
    return HeadlineRow(model=model, metric=metric.name, value=float(value), ci_low=low, ci_high=high,
                       paper=paper, published=None, published_source=None, published_flag=None,
                       better=metric.better, note=note, rank=None, rank_low=None, rank_high=None,
                       field_percentile=None, field_percentile_low=None, field_percentile_high=None,
                       field_n=None, field_source=None, field_published=None)


def finite_or_none(x) -> float | None:
    """``float(x)``, or None when it is NaN or infinite (a bound JSON cannot hold)."""
    x = float(x)
    return x if math.isfinite(x) else None


def check_headline(rows) -> list[dict]:
    """``rows`` (headline rows: mappings) checked against ``HeadlineRow`` and made ready
    for JSON: every field present (None where a row has none), NaN as None. Raises
    ValueError naming the row and field of a missing required field, an unknown field, a
    value that is not a number or a direction that is not one of ``BETTER``. No rows: []."""
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"headline row {i}: expected a mapping of {list(HEADLINE_FIELDS)}, "
                             f"got a {type(row).__name__}")
        missing = [f for f in HEADLINE_REQUIRED if f not in row]
        if missing:
            raise ValueError(f"headline row {i}: lacks field(s) {missing}; needs {list(HEADLINE_REQUIRED)} "
                             f"and optionally {list(HEADLINE_FIELDS[3:])}")
        unknown = [f for f in row if f not in HEADLINE_FIELDS]
        if unknown:
            raise ValueError(f"headline row {i}: unknown field(s) {unknown}; accepted: {list(HEADLINE_FIELDS)}")
        clean = {f: json_value(row.get(f)) for f in HEADLINE_FIELDS}
        if clean["value"] is not None and (isinstance(clean["value"], bool)
                                           or not isinstance(clean["value"], numbers.Real)):
            raise ValueError(f"headline row {i}: value={row['value']!r} is not a number")
        if clean["better"] is not None and clean["better"] not in BETTER:
            raise ValueError(f"headline row {i}: better={clean['better']!r}; accepted: {', '.join(BETTER)}")
        clean["note"] = clean["note"] or ""
        out.append(clean)
    return out


def json_value(v):
    """A JSON value: numpy scalars as Python ones, NaN and pandas' missing markers as None."""
    if v is None:
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):   # a numpy scalar
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if type(v).__name__ in ("NAType", "NaTType"):
        return None
    return v


@dataclass(frozen=True)
class Property:
    """A property page as its module declares it: ``name`` (the report's file names),
    ``settings`` (the dataclass of its ``properties.<name>`` section of a profile),
    ``requests(study) -> [Request]``, ``build(study, answers) -> Page``,
    ``compute(study) -> Page`` (the notebook's one call), ``notebook`` (its file under
    ``notebooks/``), ``metrics`` (its headline metrics) and ``features_only`` (the page
    also uses features-only models, which have no ImageNet-1k logits: their features or
    layers; the other pages leave them out and say so)."""

    name: str
    settings: type
    requests: Callable
    build: Callable
    compute: Callable
    metrics: tuple[Metric, ...] = ()
    notebook: str = ""
    features_only: bool = False

    def __post_init__(self):
        if not self.notebook:
            object.__setattr__(self, "notebook", f"{self.name}.py")
