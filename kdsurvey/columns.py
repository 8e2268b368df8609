"""The columns every result row has, reported or reproduced (shared by catalogue and reproduced)."""

from __future__ import annotations

SURVEY_COLUMNS = (
    "row_id", "table", "strategy",
    "architecture_printed", "architecture", "dataset_printed", "dataset", "dataset_truncated",
    "accuracy_reduction_printed", "accuracy_reduction_pct",
    "baseline_improvement_printed", "baseline_improvement_pct",
    "baseline_improvement_low_pct", "baseline_improvement_high_pct",
    "size_reduction_printed", "size_reduction_pct",
    "metric_kind", "reference", "attribution", "evidence", "notes",
)  # fmt: skip
FLOAT_COLUMNS = (
    "accuracy_reduction_pct", "baseline_improvement_pct",
    "baseline_improvement_low_pct", "baseline_improvement_high_pct", "size_reduction_pct",
)  # fmt: skip
