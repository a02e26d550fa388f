"""PathLens core: pure analytics on the canonical event table (never imports streamlit).

Everything a page shows can be computed from a notebook with ``from core import ...``.
Names are resolved lazily from :data:`_EXPORTS`, so ``import core`` stays cheap and torch is
imported only when a cart-abandonment function is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    # schema, errors, filters, sessions
    "CANONICAL_COLUMNS": "core.schema",
    "CANONICAL_SCHEMA": "core.schema",
    "DEFAULT_FUNNEL": "core.schema",
    "EVENT_TYPES": "core.schema",
    "conform": "core.schema",
    "empty_events": "core.schema",
    "PathLensError": "core.errors",
    "LoadError": "core.errors",
    "SchemaError": "core.errors",
    "ParameterError": "core.errors",
    "DatasetNotFound": "core.errors",
    "ModelError": "core.errors",
    "DatasetCorrupt": "core.errors",
    "StoreWriteError": "core.errors",
    "Condition": "core.filters",
    "FilterParams": "core.filters",
    "apply_filters": "core.filters",
    "DEFAULT_SESSION_GAP": "core.sessions",
    "assign_sessions": "core.sessions",
    # loading and storage
    "load_events": "core.loader",
    "LoadParams": "core.loader",
    "LoadResult": "core.loader",
    "LoadReport": "core.loader",
    "canonical_event_type": "core.loader",
    "detect_format": "core.loader",
    "suggest_mapping": "core.loader",
    "suggest_options": "core.formats",
    "read_raw": "core.loader",
    "read_columns": "core.loader",
    "DatasetStore": "core.store",
    "generate_shop": "core.dev.synth",
    "overview_metrics": "core.overview",
    "activity_trend": "core.overview",
    "compare_with_previous": "core.overview",
    "detect_currency": "core.overview",
    "PeriodComparison": "core.overview",
    "compare_periods": "core.overview",
    # period comparison (previous period / same dates a year earlier), shared by every trend
    "ComparisonWindow": "core.compare",
    "comparison_window": "core.compare",
    "align_earlier": "core.compare",
    "counterpart_periods": "core.compare",
    "add_earlier_conversion": "core.compare",
    "year_earlier": "core.compare",
    "data_span": "core.compare",
    # funnels
    "compute_funnel": "core.funnels",
    "FunnelResult": "core.funnels",
    "FunnelStep": "core.funnels",
    "FunnelParams": "core.funnels",
    "dropped_off": "core.funnels",
    "merge_funnel_results": "core.funnels",
    "conversion_over_time": "core.funnels",
    "conversion_by_attempt": "core.funnels",
    "time_to_convert": "core.funnels",
    "breakdown_table": "core.funnels",
    "wilson_interval": "core.funnels",
    # paths
    "compute_paths": "core.paths",
    "PathsResult": "core.paths",
    "PathsParams": "core.paths",
    "merge_paths": "core.paths",
    "paths_figure": "core.paths",
    "paths_comparison_figure": "core.paths",
    "paths_after_drop_off": "core.paths",
    "FunnelDropOff": "core.paths",
    # segments
    "user_features": "core.segments",
    "fit_segments": "core.segments",
    "Segmentation": "core.segments",
    "SegmentParams": "core.segments",
    "segment_labels": "core.segments",
    "feature_availability": "core.segments",
    "FeatureReport": "core.segments",
    "default_columns": "core.segments",
    "user_features_partition": "core.segments",
    "silhouette_figure": "core.segments",
    "sizes_figure": "core.segments",
    "profile_figure": "core.segments",
    "pca_figure": "core.segments",
    # basket rules
    "mine_rules": "core.rules",
    "RuleSet": "core.rules",
    "bought_together": "core.rules",
    "load_baskets": "core.rules",
    "MiningBudgetExceeded": "core.rules",
    "MiningCancelled": "core.rules",
    # cart abandonment
    "cart_sessions": "core.cart",
    "load_bundled_model": "core.cart",
    "score_carts": "core.cart",
    "train_model": "core.cart",
    "evaluate": "core.cart",
    "explain": "core.cart",
    "ModelCard": "core.cart",
    "Metrics": "core.cart",
    "cart_status": "core.cart",
    "revenue_at_risk": "core.cart",
    "explain_reasons": "core.cart",
    "chance_warning": "core.cart",
    "save_retrained": "core.cart",
    "load_retrained": "core.cart",
    "retrained_model_dir": "core.cart",
    "CartParams": "core.cart",
    "CartResult": "core.cart",
    "choose_model": "core.cart",
    "ModelChoice": "core.cart",
    "train_for_dataset": "core.cart",
    "value_scale": "core.cart",
    # retention
    "compute_retention": "core.retention",
    "RetentionParams": "core.retention",
    "RetentionResult": "core.retention",
    "merge_retention": "core.retention",
    "retained_people": "core.retention",
    "retention_heatmap": "core.retention",
    "retention_curves_figure": "core.retention",
    # saved cohorts
    "Cohort": "core.cohorts",
    "CohortNotFound": "core.errors",
    "with_cohort_columns": "core.cohorts",
    "cohort_column": "core.cohorts",
    "cohort_csv": "core.cohorts",
    "CohortDraft": "core.cohorts",
    "funnel_dropoff_members": "core.cohorts",
    "funnel_conversion_members": "core.cohorts",
    "path_node_members": "core.cohorts",
    "path_entities": "core.cohorts",
    "segment_members": "core.cohorts",
    "antecedent_members": "core.cohorts",
    "riskiest_cart_members": "core.cohorts",
    "retention_cell_members": "core.cohorts",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
