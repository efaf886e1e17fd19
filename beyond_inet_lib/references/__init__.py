"""What others published, to set beside a run.

- ``paper``      the paper's numbers (read from its figures), keyed by the paper's model key
- ``published``  OpenCLIP's and timm's published top-1, with the preprocessing they used
- ``humans``     cue-conflict decisions of ten human observers and the paper's own model runs
"""

from .humans import (REFERENCE_NAMES, aligned_correctness, human_shape_bias_range,
                     load_human_decisions, load_reference_decisions, observer_error_consistency,
                     read_decision_log, shape_bias_table)
from .paper import PAPER, PAPER_MODELS, paper_value
from .published import (BENCHMARKS, KNOWN_MODELS, PublishedRow, benchmark_name,
                        protocol_differences, published)

__all__ = [
    "BENCHMARKS", "KNOWN_MODELS", "PAPER", "PAPER_MODELS", "PublishedRow", "REFERENCE_NAMES",
    "aligned_correctness", "benchmark_name", "human_shape_bias_range", "load_human_decisions",
    "load_reference_decisions", "observer_error_consistency", "paper_value", "protocol_differences",
    "published", "read_decision_log", "shape_bias_table",
]
