"""What others published, to set beside a run.

- ``paper``      the paper's numbers (read from its figures), keyed by the paper's model key
- ``humans``     cue-conflict decisions of ten human observers and the paper's own model runs
"""

from .humans import (REFERENCE_NAMES, aligned_correctness, human_shape_bias_range,
                     load_human_decisions, load_reference_decisions, observer_error_consistency,
                     read_decision_log, shape_bias_table)
from .paper import PAPER, PAPER_MODELS, paper_value

__all__ = [
    "PAPER", "PAPER_MODELS", "REFERENCE_NAMES", "aligned_correctness", "human_shape_bias_range",
    "load_human_decisions", "load_reference_decisions", "observer_error_consistency",
    "paper_value", "read_decision_log", "shape_bias_table",
]
