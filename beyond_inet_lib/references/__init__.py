"""What others published, to set beside a run.

- ``paper``      the paper's numbers (read from its figures), keyed by the paper's model key
- ``field``      the published field: QUBA's 326 models, timm's and OpenCLIP's results
                 tables; a run model's row there and its percentile in the distribution
- ``published``  OpenCLIP's and timm's published top-1 (the field's top-1 rows), with the
                 preprocessing they used
- ``humans``     cue-conflict decisions of ten human observers and the paper's own model runs
"""

from .field import (FIELDS, NOT_COMPARABLE, QUBA_DEFINITIONS, QUBA_NAMES, SOURCES, FieldQuery, FieldSource,
                    Percentile, distribution, field_metrics, field_queries, field_table, find, model_rows,
                    percentile, place, place_in_fields, quba_name, table_identity)
from .humans import (REFERENCE_NAMES, aligned_correctness, human_shape_bias_range,
                     load_human_decisions, load_reference_decisions, observer_error_consistency,
                     read_decision_log, shape_bias_table)
from .paper import PAPER, PAPER_MODELS, paper_value
from .published import (BENCHMARKS, KNOWN_MODELS, PublishedRow, benchmark_name,
                        protocol_differences, published)

__all__ = [
    "BENCHMARKS", "FIELDS", "FieldQuery", "FieldSource", "NOT_COMPARABLE", "KNOWN_MODELS", "PAPER", "PAPER_MODELS", "Percentile", "PublishedRow",
    "QUBA_DEFINITIONS", "QUBA_NAMES", "REFERENCE_NAMES", "SOURCES", "aligned_correctness",
    "benchmark_name", "distribution", "field_metrics", "field_queries", "field_table", "find", "human_shape_bias_range", "load_human_decisions",
    "load_reference_decisions", "model_rows", "observer_error_consistency", "paper_value", "percentile",
    "place", "place_in_fields", "protocol_differences", "published", "quba_name", "read_decision_log", "shape_bias_table",
    "table_identity",
]
