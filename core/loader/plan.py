"""The plan of the single pass over the file: one expression per canonical column, shaped by
what the first rows of the file show (:class:`ReadPlan`, decided by :func:`plan_reading`)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Final

import polars as pl

from core.formats import canonical_event_type
from core.io import ROW_COLUMN, RawSource, collect_raw
from core.loader.mapping import USER_NULLS, Layout
from core.loader.times import TimestampPlan, _sample, _text_plan, plan_timestamps
from core.loader.values import _NUMBER_RE, _SAMPLE, _id_expr, _number_expr, _padded, _text
from core.schema import UTC_US

_SAMPLE_ROWS: Final = 5000  # rows read first to decide how to parse each column
_TIMES_OF_DAY: Final = ("%H:%M:%S", "%H:%M", "%H:%M:%S%.f", "%I:%M:%S %p", "%I:%M %p")


@dataclass(frozen=True)
class ReadPlan(Layout):
    """How to turn the source columns into canonical ones: the :class:`Layout` and what its
    first rows show (``head``; the timestamp plan ``ts``).

    :meth:`build` is the single pass over the file.
    """

    ts: TimestampPlan
    head: pl.DataFrame

    @classmethod
    def of(cls, layout: Layout, *, ts: TimestampPlan, head: pl.DataFrame) -> ReadPlan:
        """The plan for ``layout`` with the timestamp plan and first rows."""
        return cls(**{f.name: getattr(layout, f.name) for f in fields(Layout)}, ts=ts, head=head)

    def col(self, canon: str) -> pl.Expr:
        return pl.col(self.used[canon])

    @property
    def time_kind(self) -> str | None:
        """``"offset"`` (numbers) or ``"time"`` (times of day) for the ``ts_time`` column."""
        if "ts_time" not in self.options:
            return None
        head = self.head[self.options["ts_time"]]
        if head.dtype.is_numeric():
            return "offset"
        values = head.drop_nulls().cast(pl.String).str.strip_chars()
        values = values.filter(values != "")
        numeric = values.str.contains(_NUMBER_RE)
        return "offset" if values.len() and int(numeric.sum()) * 2 >= values.len() else "time"

    def primary_user(self) -> pl.Expr | None:
        if "user_id" not in self.used:
            return None
        user = _id_expr(self.col("user_id"), self.head[self.used["user_id"]])
        return pl.when(~user.is_in(USER_NULLS)).then(user)

    def user_expr(self) -> pl.Expr:
        parts = [_id_expr(pl.col(c), self.head[c]) for c in self.user_fb]
        primary = self.primary_user()
        if primary is not None:
            parts.insert(0, primary)
        if "user_fallback" in self.options:
            col = self.options["user_fallback"]
            visit = _text(_id_expr(pl.col(col), self.head[col]))
            parts.append(pl.lit(f"{col}:") + visit)
        return pl.coalesce(parts)

    def ts_expr(self) -> tuple[pl.Expr, pl.Expr]:
        """The timestamp and whether the source holds one (day and time when combined)."""
        ts = self.ts.expr(self.col("ts"), clean=True)
        present = self.col("ts").is_not_null()
        kind = self.time_kind
        if kind is None:
            return ts, present
        col = self.options["ts_time"]
        raw = pl.col(col)
        if kind == "offset":
            factor = {"s": 1e6, "ms": 1e3, "us": 1.0}[self.options.get("ts_time_unit", "s")]
            num = (raw if self.head[col].dtype.is_numeric() else _text(raw)).cast(
                pl.Float64, strict=False
            )
            us = pl.when(num.is_finite() & (num.abs() * factor < 1e17)).then(
                (num * factor).round(0).cast(pl.Int64)
            )
            combined = ts + pl.duration(microseconds=us)
        else:
            t = _text(raw)
            time = pl.coalesce(
                [t.str.to_time(f, strict=False) for f in _TIMES_OF_DAY]  # type: ignore[arg-type]
            )
            combined = (
                ts.dt.replace_time_zone(None).dt.combine(time).dt.replace_time_zone("UTC")
            ).cast(UTC_US)
        return combined, present & _text(raw).is_not_null()

    def event_expr(self) -> pl.Expr:
        if "event" not in self.used and "event_constant" in self.options:
            return pl.lit(self.options["event_constant"], dtype=pl.String)
        if "event" not in self.used:  # order lines: a purchase per line, a return is a refund
            refund = pl.lit(False)
            if "quantity" in self.used:
                qty = _number_expr(self.col("quantity"), self.head[self.used["quantity"]])
                refund = refund | (qty < 0).fill_null(False)
            if "order_id" in self.used:
                oid = self.col("order_id").cast(pl.String)
                refund = refund | oid.str.starts_with("C").fill_null(False)
            return pl.when(refund).then(pl.lit("refund")).otherwise(pl.lit("purchase"))
        return pl.coalesce(
            [self.col("event").cast(pl.String), *(pl.col(c).cast(pl.String) for c in self.event_fb)]
        )

    def build(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """The pass over the file: text sources are cleaned once (stripped, blank -> null)
        where their first rows show padding, then every canonical column is parsed.

        Empty CSV fields are null as read; stripping every value of every column would cost
        about as much as reading the file, so it is done only where the first rows need it.
        """
        used, head = self.used, self.head
        lf = self._cleaned(lf)
        ts, ts_present = self.ts_expr()
        exprs: list[pl.Expr] = [
            pl.col(ROW_COLUMN),
            self.user_expr().alias("user_id"),
            ts.alias("ts"),
            self.event_expr().alias("event"),
            ts_present.alias("__ts_present"),
        ]
        unit = self.ts.unit_code(self.col("ts"), clean=True)
        if unit is not None:
            exprs.append(unit.alias("__ts_unit"))
        primary = self.primary_user()
        if primary is not None and (self.user_fb or "user_fallback" in self.options):
            exprs.append(primary.is_null().alias("__user_filled"))
        for canon in ("product_id", "order_id"):
            if canon in used:
                exprs.append(_id_expr(self.col(canon), head[used[canon]]).alias(canon))
        for canon in ("category", "brand"):
            if canon in used:
                exprs.append(self.col(canon).cast(pl.String).alias(canon))
        for canon in ("price", "quantity"):
            if canon in used:
                num = _number_expr(self.col(canon), head[used[canon]])
                present = self.col(canon).is_not_null()
                if canon == "quantity":
                    whole = num == num.round(0)
                    exprs.append(pl.when(whole).then(num).cast(pl.Int64, strict=False).alias(canon))
                    bad = present & ~whole.fill_null(False)
                else:
                    exprs.append(num.alias(canon))
                    bad = present & num.is_null()
                exprs.append(bad.alias(f"__bad_{canon}"))
        if "session_id" in used:
            sid = _id_expr(self.col("session_id"), head[used["session_id"]])
            if self.fmt is not None and self.fmt.session_null:
                sid = pl.when(~sid.is_in(list(self.fmt.session_null))).then(sid)
            exprs.append(sid.alias("__session"))
        exprs += [pl.col(c).alias(self.renamed[c]) for c in self.extras]
        # event types for the names of the first rows, computed while the file is read
        event_type = _event_type_expr(pl.col("event"), self.event_names())
        return lf.select(exprs).with_columns(event_type.alias("event_type"))

    def _cleaned(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """Text sources stripped, blank -> null, where their first rows show padding."""
        sources = dict.fromkeys([*self.used.values(), *self.user_fb, *self.event_fb])
        schema = lf.collect_schema()
        return lf.with_columns(
            _text(pl.col(c)) for c in sources if schema[c] == pl.String and _padded(self.head[c])
        )

    def event_names(self) -> dict[str, str]:
        """The event names of the first rows, each with its canonical event type: the names
        :func:`_event_type_expr` types during the pass (others are typed after it)."""
        names = (
            self._cleaned(self.head.lazy())
            .select(self.event_expr().alias("event"))
            .drop_nulls()
            .unique(maintain_order=True)
            .head(_HINTED_NAMES)
            .collect()["event"]
        )
        return {name: canonical_event_type(name) for name in names.to_list()}


#: Up to this many event names of the first rows are typed during the pass.
_HINTED_NAMES: Final = 200
#: Up to this many names, ``event_type`` is a chain of comparisons (beats a hash lookup).
_EQUALITY_CHAIN: Final = 8


def _event_type_expr(event: pl.Expr, lookup: dict[str, str]) -> pl.Expr:
    """The canonical event type of each name in ``lookup``; null for other names."""
    if len(lookup) > _EQUALITY_CHAIN:
        return event.replace_strict(lookup, default=None, return_dtype=pl.String)
    kind: pl.Expr = pl.lit(None, dtype=pl.String)
    for name, step in reversed(lookup.items()):
        kind = pl.when(event == name).then(pl.lit(step, dtype=pl.String)).otherwise(kind)
    return kind


def plan_reading(raw: RawSource, layout: Layout) -> tuple[ReadPlan, RawSource]:
    """A first look at the first rows decides how each column is parsed.

    Returns the plan and the source as read (its encoding may have been corrected).
    """
    options, used = layout.options, layout.used
    option_cols = [options[k] for k in ("ts_time", "user_fallback") if k in options]
    needed = list(dict.fromkeys([*used.values(), *layout.user_fb, *layout.event_fb, *option_cols]))
    head, raw = collect_raw(raw, lambda lf: lf.select(needed).head(_SAMPLE_ROWS))
    ts_plan = plan_timestamps(head[used["ts"]], column=used["ts"])
    if "ts_time" in options:
        ts_plan = replace(
            ts_plan, warnings=tuple(w for w in ts_plan.warnings if "without times" not in w)
        )
    if ts_plan.kind == "empty" and head.height == _SAMPLE_ROWS:  # blank at first: look further
        ts_col = used["ts"]
        later, raw = collect_raw(
            raw,
            lambda lf: lf.select(ts_col).filter(_text(pl.col(ts_col)).is_not_null()).head(_SAMPLE),
        )
        ts_plan = plan_timestamps(later[ts_col], column=ts_col)
    return ReadPlan.of(layout, ts=ts_plan, head=head), raw


def option_notes(plan: ReadPlan) -> list[str]:
    options, used = plan.options, plan.used
    notes = []
    if "event_constant" in options and "event" not in used:
        notes.append(
            f"The export has no event column: every row is a {options['event_constant']!r} event."
        )
    if "ts_time" in options:
        if plan.time_kind == "offset":
            unit = {"s": "seconds", "ms": "milliseconds", "us": "microseconds"}[
                options.get("ts_time_unit", "s")
            ]
            how = f"plus the offset in {options['ts_time']!r} ({unit})"
        else:
            how = f"at the time of day in {options['ts_time']!r}"
        notes.append(f"Timestamps are the day in {used['ts']!r} {how}.")
    if "user_fallback" in options:
        col = options["user_fallback"]
        if "user_id" not in used:
            notes.append(
                f"The export has no user column: each {col!r} stands for its own user "
                f"(user ids '{col}:<value>')."
            )
        else:
            notes.append(
                f"Rows without a user in {used['user_id']!r} (empty or {USER_NULLS[0]!r}...) take "
                f"'{col}:<value>' as their user."
            )
    return notes


def widen_text_plan(df: pl.DataFrame, raw: RawSource, plan: ReadPlan) -> TimestampPlan | None:
    """When text timestamps failed beyond the first rows, look for layouts that read them."""
    failed_rows = df.filter(pl.col("__ts_present") & pl.col("ts").is_null())[ROW_COLUMN]
    if failed_rows.len() == 0:
        return None
    src = plan.used["ts"]
    wanted = _sample(failed_rows)
    got, _ = collect_raw(
        raw,
        lambda lf: lf.filter(pl.col(ROW_COLUMN).is_in(wanted.implode())).select(
            pl.col(src).cast(pl.String)
        ),
        row_index=True,
    )
    extra = _text_plan(got[src].str.strip_chars(), src)
    new = [f for f in extra.formats if f not in plan.ts.formats]
    if (
        not new
        or extra.formats == (("%Y-%m-%d %H:%M:%S%.f", "naive"),)
        and not any(
            got[src]
            .str.strip_chars()
            .str.to_datetime(extra.formats[0][0], strict=False)
            .is_not_null()
        )
    ):
        return None
    return replace(
        plan.ts,
        formats=plan.ts.formats + tuple(new),
        warnings=tuple(dict.fromkeys(plan.ts.warnings + extra.warnings)),
    )
