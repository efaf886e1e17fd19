"""A tiny fake project for the report tests: two notebooks and a one-model profile.

``good`` (shape_bias.py) records a headline and draws two charts with ``charts.show``;
``bad`` (calibration.py) raises. Shared by test_report.py and test_browser.py.
"""

from __future__ import annotations

from pathlib import Path

SOURCE_MARKER = "secret_source_marker_5521"   # appears only in code: must not reach the HTML
ERROR_TEXT = "deliberate failure 7731"
RECORDED_VALUE = 0.4321                          # shown as 0.432 on the index
PAPER_VALUE = 0.399
MODEL = "tiny_vit_untrained"

GOOD_NOTEBOOK = f'''# %% [markdown]
# # Shape bias (fake)
# Narration that should appear on the page.

# %% tags=["parameters"]
profile = "unset"
data_root = None
report_dir = None

# %%
import pandas as pd
from beyond_inet_lib import charts, report

{SOURCE_MARKER} = 41 + 1
headline = pd.DataFrame({{"model": ["{MODEL}"], "metric": ["shape bias"], "value": [{RECORDED_VALUE}],
                          "paper": [{PAPER_VALUE}], "better": ["higher"], "note": ["untrained"]}})
report.record("shape_bias", headline, report_dir)
charts.show(charts.bar_by_model(headline, "value", "Shape bias"))

# %%
per_category = pd.DataFrame({{"model": ["{MODEL}"] * 2, "category": ["cat", "dog"],
                              "shape_bias": [0.25, 0.75]}})
charts.show(charts.shape_bias_plot(per_category))
print("profile parameter:", profile)
'''

BAD_NOTEBOOK = f'''# %% tags=["parameters"]
profile = "unset"
data_root = None
report_dir = None

# %%
raise RuntimeError("{ERROR_TEXT}")
'''


def make_project(root: Path) -> tuple[Path, Path]:
    """Write the notebooks and the profile under ``root``; return (notebooks_dir, profile)."""
    notebooks = root / "notebooks"
    notebooks.mkdir(parents=True)
    (notebooks / "shape_bias.py").write_text(GOOD_NOTEBOOK)
    (notebooks / "calibration.py").write_text(BAD_NOTEBOOK)
    profile = root / "tiny.yaml"
    profile.write_text(f"models: [{MODEL}]\ndescription: fake project for tests\n")
    return notebooks, profile


def build(root: Path) -> dict:
    """Run ``build_report`` on the fake project; reports go to ``root/reports/tiny``."""
    from beyond_inet_lib import report

    notebooks, profile = make_project(root)
    return report.build_report(str(profile), properties=["shape_bias", "calibration"],
                               notebooks_dir=notebooks, reports_root=root / "reports",
                               check_models=False, progress=False)
