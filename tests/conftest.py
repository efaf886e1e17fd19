"""Where the tests find real data: the data root the product itself would use.

``$DATA_ROOT`` (CI passes it explicitly), else the project's ``data/`` (filled by
``make report`` on a connected machine). Tests that need a dataset skip, naming it, when it
is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from beyond_inet_lib.paths import resolve_data_root

PROJECT = Path(__file__).resolve().parent.parent
#: the data root of this test run, or None
TEST_DATA: Path | None = resolve_data_root(None)


def need_data(*parts: str) -> Path:
    """``TEST_DATA / parts``, or skip the test saying what is missing and how to provide it."""
    if TEST_DATA is None:
        pytest.skip("no data root: set DATA_ROOT (or fetch the demo data into data/ with `make report`)")
    path = TEST_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"test data absent: {path}")
    return path


#: the test files that take longest (a minute or more on 2 cores: whole reports, Ray clusters,
#: the paper's architectures built); run first, so that on several workers (make test) the
#: short files fill the time beside them instead of waiting behind them
LONGEST_FIRST = ("test_notebooks.py", "test_first_run.py", "test_execution_ray.py", "test_model_weights.py",
                 "test_models_python.py", "test_execution.py", "test_pages_calibration.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: files stay whole
