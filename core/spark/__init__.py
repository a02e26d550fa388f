"""The Spark backend: the analyses of ``core`` on Apache Spark, with no second implementation.

Selected with ``PATHLENS_BACKEND=spark`` (:mod:`core.backend`) or ``python -m core.batch
--backend spark``. The Polars per-partition functions of ``core`` run unchanged inside
``mapInArrow`` on partitions hashed by ``user_id`` (:mod:`core.spark.runner`); only their small
results come back and are merged by ``core``'s merge functions. Only this package imports
pyspark (``requirements-spark.txt``); ``import core`` never does. ``docs/scale-out.md`` says
how it runs on Databricks, EMR and Kubernetes (Spark Connect).

Modules: ``session`` (the session, shipping ``core``), ``runner`` (partition and merge),
``funnels``, ``paths``, ``segments`` (features, K-means), ``rules`` (MLlib FPGrowth),
``scoring`` (cart model), ``carts`` (the Cart page's events), ``retention``, ``overview``
(the Overview page's numbers), ``trends`` (the funnel trend by attempt), ``dropoff`` (the
paths after a funnel drop-off), ``views`` (a dashboard view: the sidebar's filters, cohorts
and segments applied in every partition; the sidebar's summary; earlier windows; cohort
members), ``lake`` (registering a lake table as a dataset). The dashboard's pages call them
for a lake dataset when Spark is the engine (``ui/engine.py``).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "get_session": "core.spark.session",
    "stop_session": "core.spark.session",
    "compute_funnel_spark": "core.spark.funnels",
    "compute_paths_spark": "core.spark.paths",
    "user_features_spark": "core.spark.segments",
    "feature_report_spark": "core.spark.segments",
    "fit_segments_spark": "core.spark.segments",
    "mine_rules_spark": "core.spark.rules",
    "score_carts_spark": "core.spark.scoring",
    "cart_events_spark": "core.spark.carts",
    "compute_retention_spark": "core.spark.retention",
    "paths_after_drop_off_spark": "core.spark.dropoff",
    "conversion_by_attempt_spark": "core.spark.trends",
    "overview_spark": "core.spark.overview",
    "SparkOverview": "core.spark.overview",
    "view_events": "core.spark.views",
    "dataset_info_spark": "core.spark.views",
    "segment_events_spark": "core.spark.views",
    "view_frame": "core.spark.views",
    "then": "core.spark.views",
    "within": "core.spark.views",
    "members_spark": "core.spark.views",
    "span_spark": "core.spark.views",
    "register_lake_dataset": "core.spark.lake",
    "LakeDataset": "core.spark.lake",
    "lake_roots": "core.spark.lake",
    "lake_source_refusal": "core.spark.lake",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'core.spark' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
