"""Batch analyses from the command line, on Polars or on Spark, written where a dashboard reads.

::

    python -m core.batch funnel|paths|features|segments|rules|score \\
        --input PATH --backend polars|spark --out DIR [analysis options]

``--input`` is a Parquet file, folder or glob of canonical events (``core.schema``), or with
``--backend spark`` also a catalog table name. ``--backend`` defaults to ``PATHLENS_BACKEND``
(:mod:`core.backend`), else ``polars``. Both backends give the same numbers (the Spark backend
runs the same Polars functions per ``user_id`` partition; ``tests/test_spark_parity.py``).

``DIR`` receives one Parquet file per result table and ``manifest.json``; ``docs/scale-out.md``
gives the layout, and :func:`open_results` reads it back as the result object a page draws
(:class:`FunnelResult`, :class:`PathsResult`, the feature table, :class:`RuleSet`...).
A bad option or input ends with exit status 2 and one line naming what is wrong.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from core.backend import get_backend
from core.errors import DatasetNotFound, ParameterError, PathLensError

__all__ = ["ANALYSES", "FORMAT", "main", "run_batch", "open_results"]

ANALYSES = ("funnel", "paths", "features", "segments", "rules", "score")
#: Version of the output layout (``manifest.json`` ``format``).
FORMAT = "pathlens-batch/1"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str, name: str = "window") -> timedelta:
    """``"90s"``, ``"30m"``, ``"2h"``, ``"1d"``, ``"1w"`` as a timedelta.

    Raises
    ------
    ParameterError
        Names ``name``, the text and the accepted forms.
    """
    m = _DURATION.match(text or "")
    if not m:
        raise ParameterError(
            f"`{name}` must be a number and a unit (s, m, h, d or w), like 30m or 1d; got {text!r}"
        )
    return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})


def parse_time(text: str | None, name: str = "as_of") -> datetime | None:
    """An ISO 8601 time (naive is UTC), or None."""
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ParameterError(
            f"`{name}` must be an ISO 8601 time like 2026-06-30T23:59:59Z, got {text!r}"
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _steps(text: str) -> list[str | list[str]]:
    """``view_item,add_to_cart|begin_checkout,purchase``: commas between steps, ``|`` between
    the events of one step."""
    steps: list[str | list[str]] = []
    for part in text.split(","):
        names = [n.strip() for n in part.split("|") if n.strip()]
        if not names:
            raise ParameterError(f"`steps` has an empty step in {text!r}; write a,b|c,d")
        steps.append(names[0] if len(names) == 1 else names)
    return steps


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.batch", description=__doc__.split("\n")[0])
    p.add_argument("analysis", choices=ANALYSES)
    p.add_argument("--input", required=True, help="Parquet file/folder/glob or table name")
    p.add_argument("--backend", default=None, help="polars or spark (default PATHLENS_BACKEND)")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--partitions", type=int, default=8, help="Spark hash partitions")
    f = p.add_argument_group("funnel")
    f.add_argument("--steps", default="view_item,add_to_cart,begin_checkout,purchase")
    f.add_argument("--window", default="1d")
    f.add_argument("--order", default="ordered")
    f.add_argument("--breakdown", default=None)
    f.add_argument("--count-by", default=None, help="funnel: user_id; paths: session_id")
    g = p.add_argument_group("paths")
    g.add_argument("--start", default=None)
    g.add_argument("--end", default=None)
    g.add_argument("--max-steps", type=int, default=5)
    g.add_argument("--node", default="event")
    s = p.add_argument_group("features, segments, score")
    s.add_argument("--as-of", default=None, help="ISO 8601 time (UTC when naive)")
    s.add_argument("--k", type=int, default=None)
    s.add_argument("--seed", type=int, default=0)
    r = p.add_argument_group("rules")
    r.add_argument("--basket", default="order_id")
    r.add_argument("--item", default="product_id")
    r.add_argument("--source-event", default="purchase")
    r.add_argument("--min-support", type=float, default=0.01)
    r.add_argument("--min-confidence", type=float, default=0.2)
    r.add_argument("--min-lift", type=float, default=1.0)
    r.add_argument("--max-len", type=int, default=3)
    return p


def _params(analysis: str, a: argparse.Namespace) -> Any:
    from core import FunnelParams, PathsParams, SegmentParams
    from core.rules import RulesParams

    if analysis == "funnel":
        return FunnelParams(
            steps=_steps(a.steps), window=parse_duration(a.window), order=a.order,
            count_by=a.count_by or "user_id", breakdown=a.breakdown,
        )  # fmt: skip
    if analysis == "paths":
        return PathsParams(
            start=a.start, end=a.end, max_steps=a.max_steps,
            count_by=a.count_by or "session_id", node=a.node,
        )  # fmt: skip
    if analysis == "segments":
        return SegmentParams(k=a.k, seed=a.seed)
    if analysis == "rules":
        return RulesParams(
            basket=a.basket, item=a.item, source_event=a.source_event,
            min_support=a.min_support, min_confidence=a.min_confidence, min_lift=a.min_lift,
            max_len=a.max_len,
        )  # fmt: skip
    return None


def _polars_events(path: str) -> pl.LazyFrame:
    if not (os.path.exists(path) or any(ch in path for ch in "*?[")):
        raise DatasetNotFound(f"`input` {path!r} does not exist; give a Parquet file or folder")
    target = os.path.join(path, "**", "*.parquet") if os.path.isdir(path) else path
    return pl.scan_parquet(target)


def _compute_polars(analysis: str, source: str, params: Any, as_of: datetime | None) -> Any:
    from core import fit_segments, load_bundled_model, score_carts, user_features

    lf = _polars_events(source)
    if analysis in ("funnel", "paths"):
        return params.compute(lf)
    if analysis == "features":
        return user_features(lf, as_of=as_of)
    if analysis == "segments":
        feats = user_features(lf, as_of=as_of)
        seg = fit_segments(
            feats, k=params.k, k_range=params.k_range, seed=params.seed, columns=params.columns
        )
        return feats, seg
    if analysis == "rules":
        return params.compute(lf)  # mine_rules with these settings
    return score_carts(load_bundled_model(), lf, as_of=as_of)


def _compute_spark(
    analysis: str, source: str, params: Any, as_of: datetime | None, partitions: int
) -> Any:
    from core import spark as sp

    if analysis == "funnel":
        return sp.compute_funnel_spark(source, params, partitions=partitions)
    if analysis == "paths":
        return sp.compute_paths_spark(source, params, partitions=partitions)
    if analysis == "features":
        return sp.user_features_spark(source, as_of=as_of, partitions=partitions)
    if analysis == "segments":
        return sp.fit_segments_spark(source, params, as_of=as_of, partitions=partitions)
    if analysis == "rules":
        return sp.mine_rules_spark(source, params)
    return sp.score_carts_spark(source, as_of=as_of, partitions=partitions)


def _tables(analysis: str, result: Any) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    """The result's tables and the facts of the manifest."""
    if analysis == "funnel":
        return (
            {"steps": result.steps, "entities": result.entities,
             "breakdown_steps": result.breakdown_steps},
            {"reason": result.reason, "params_query": result.params.to_query(),
             "data_end": result.data_end.isoformat() if result.data_end else None,
             "absent_steps": list(result.absent_steps)},
        )  # fmt: skip
    if analysis == "paths":
        return (
            {"edges": result.edges, "nodes": result.nodes, "top_paths": result.top_paths,
             "path_counts": result.path_counts},
            {"reason": result.reason, "entities": result.entities,
             "node_types": dict(result.node_types)},
        )  # fmt: skip
    if analysis == "features":
        return {"features": result}, {"users": result.height}
    if analysis == "segments":
        feats, seg = result
        tables = {"features": feats}
        for name in ("labels", "scores", "centroids", "sizes", "profile", "projection"):
            tables[name] = getattr(seg, name)
        return tables, {"k": seg.k, "silhouette": seg.silhouette, "columns": list(seg.columns),
                        "reason": getattr(seg, "reason", None)}  # fmt: skip
    if analysis == "rules":
        return (
            {"rules": result.rules, "itemsets": result.itemsets},
            {"reason": result.reason, "notes": dataclasses.asdict(result.notes)},
        )
    return {"scores": result}, {"carts": result.height}


def run_batch(
    analysis: str,
    *,
    source: str,
    out: str | os.PathLike,
    backend: str | None = None,
    params: Any = None,
    as_of: datetime | None = None,
    partitions: int = 8,
) -> Path:
    """Compute one analysis and write it to ``out`` (see the module docstring).

    Returns
    -------
    Path
        The ``manifest.json`` written.

    Raises
    ------
    ParameterError, SchemaError, DatasetNotFound
        Bad settings or input, named in the message.
    """
    if analysis not in ANALYSES:
        raise ParameterError(f"`analysis` must be one of {list(ANALYSES)}, got {analysis!r}")
    chosen = get_backend(backend)
    started = time.perf_counter()
    if chosen == "spark":
        result = _compute_spark(analysis, source, params, as_of, partitions)
    else:
        result = _compute_polars(analysis, source, params, as_of)
    seconds = time.perf_counter() - started
    tables, facts = _tables(analysis, result)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, table in tables.items():
        table.write_parquet(folder / f"{name}.parquet")
        files[name] = f"{name}.parquet"
    manifest = {
        "format": FORMAT, "analysis": analysis, "backend": chosen, "input": str(source),
        "created": datetime.now(UTC).isoformat(), "seconds": round(seconds, 3),
        "as_of": as_of.isoformat() if as_of else None,
        "params": params.as_dict() if params is not None else None,
        "tables": files, **facts,
    }  # fmt: skip
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return path


def open_results(out: str | os.PathLike) -> tuple[dict[str, Any], Any]:
    """Read a folder written by :func:`run_batch`: its manifest and the result object.

    Returns
    -------
    (dict, object)
        The manifest and, per analysis: a :class:`FunnelResult` (rebuilt from ``entities`` by
        :func:`merge_funnel_results`, so every summary a page shows is available), a
        :class:`PathsResult` (from ``path_counts`` by :func:`merge_paths`), the feature table,
        ``{name: table}`` for segments, a :class:`RuleSet`, the scores table.

    Raises
    ------
    DatasetNotFound
        No manifest in ``out``, or one of another format.
    """
    from core import (
        FunnelParams,
        FunnelResult,
        PathsParams,
        PathsResult,
        RuleSet,
        merge_funnel_results,
        merge_paths,
    )

    folder = Path(out)
    path = folder / "manifest.json"
    if not path.is_file():
        raise DatasetNotFound(f"`out` {str(folder)!r} holds no manifest.json of core.batch")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise DatasetNotFound(
            f"{str(path)!r} has format {manifest.get('format')!r}; this PathLens reads {FORMAT!r}"
        )
    tables = {n: pl.read_parquet(folder / f) for n, f in manifest["tables"].items()}
    kind = manifest["analysis"]
    if kind == "funnel":
        params = FunnelParams.from_query(manifest["params_query"])
        end = manifest["data_end"]
        one = FunnelResult(
            steps=pl.DataFrame(), entities=tables["entities"], breakdown_steps=pl.DataFrame(),
            params=params, data_end=datetime.fromisoformat(end) if end else None,
            absent_steps=tuple(manifest["absent_steps"]),
        )  # fmt: skip
        return manifest, merge_funnel_results([one])
    if kind == "paths":
        raw = manifest["params"]
        raw["exclude"] = tuple(raw["exclude"])
        raw["groupings"] = tuple(tuple(g) if isinstance(g, list) else g for g in raw["groupings"])
        params = PathsParams(**raw)
        empty = pl.DataFrame()
        one = PathsResult(
            params=params, edges=empty, nodes=empty, top_paths=empty,
            path_counts=tables["path_counts"], entities=manifest["entities"],
            node_types=manifest["node_types"], reason=manifest["reason"],
        )  # fmt: skip
        return manifest, merge_paths([one])
    if kind == "rules":
        from core.rules import RulesParams

        rules = RuleSet(
            rules=tables["rules"], itemsets=tables["itemsets"],
            notes=dataclasses.replace(RuleSet().notes, **{
                k: (tuple(tuple(x) for x in v) if k == "rows_dropped" else v)
                for k, v in manifest["notes"].items()}),
            params=RulesParams(**manifest["params"]), reason=manifest["reason"],
        )  # fmt: skip
        return manifest, rules
    if kind in ("features", "score"):
        return manifest, next(iter(tables.values()))
    return manifest, tables


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (0 done, 2 bad option or input)."""
    args = _parser().parse_args(argv)
    session = sys.modules.get("core.spark.session")
    started_here = session is None or getattr(session, "_SESSION", None) is None
    try:
        params = _params(args.analysis, args)
        as_of = parse_time(args.as_of)
        manifest = run_batch(
            args.analysis, source=args.input, out=args.out, backend=args.backend,
            params=params, as_of=as_of, partitions=args.partitions,
        )  # fmt: skip
    except PathLensError as e:
        print(f"core.batch {args.analysis}: {e}", file=sys.stderr)
        return 2
    finally:  # a session this run started ends with it; a caller's session stays up
        if started_here and "core.spark.session" in sys.modules:
            sys.modules["core.spark.session"].stop_session()
    print(manifest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
