"""Basket rules: which items sell together (Apriori / FP-Growth association rules)."""

import polars as pl
import streamlit as st

from core.errors import PathLensError
from core.rules import (
    BASKET_KINDS,
    MiningBudgetExceeded,
    RuleParams,
    bought_together,
    rules_network_figure,
    rules_people_table,
    rules_scatter_figure,
    together_people_table,
)
from ui.rules import (
    antecedent_cohort_control,
    basket_file_meta,
    basket_files,
    cached_file_rules,
    cached_rules,
    open_linked_basket_file,
    save_basket_file,
    show_mining_limit,
)
from ui.shell import download_csv, guarded, page_setup, show_error
from ui.tables import show_table
from ui.urls import BASKET_FILE_KEY, publish_basket_file

ctx = page_setup("Basket rules", icon=":material/shopping_basket:")
st.caption("Items that end up in the same basket more often than chance: bundles, cross-sell "
           "placement, \"frequently bought together\".")

source = st.segmented_control("Baskets from", ["dataset", "file"],
                              help="dataset: the events of the active dataset; file: an "
                              "uploaded basket file",
                              default="dataset", required=True, key="rules.source",
                              bind="query-params") or "dataset"
file_id = None
if source == "file":
    upload = st.file_uploader("Basket file: one basket per line (items separated by commas) "
                              "or order lines (an order id and an item per row)",
                              type=["csv", "txt", "tsv", "gz", "zip", "parquet"],
                              key="rules.upload")
    # read before the options are built: a file opened by link joins this session's list
    linked, problem = open_linked_basket_file()
    if problem:
        ctx.notice(problem)
    if upload is not None and st.session_state.get("rules._saved") != upload.file_id:
        saved = guarded(lambda: save_basket_file(upload.getvalue(), upload.name))
        if saved:
            st.session_state["rules._saved"] = upload.file_id
            st.session_state[BASKET_FILE_KEY] = saved
    files = basket_files()  # only this session's uploads and files opened by link
    if not files:
        st.info("Upload a basket file to mine its rules.")
        st.stop()
    if st.session_state.get(BASKET_FILE_KEY) not in files:
        st.session_state[BASKET_FILE_KEY] = linked if linked in files else next(iter(files))
    # Not bound: a bound selectbox puts its label in the URL; the link must hold the id.
    file_id = st.selectbox("Basket file", list(files), format_func=files.get, key=BASKET_FILE_KEY)
    publish_basket_file(file_id)
    meta = guarded(lambda: basket_file_meta(file_id))
    if meta:
        dropped = "; ".join(f"{n:,} {why}" for why, n in meta["rows_dropped"]) or "none"
        st.caption(f"Read as {meta['format'].replace('_', ' ')}: {meta['baskets']:,} baskets "
                   f"from {meta['rows_read']:,} rows; not used: {dropped}.")
    basket, item, event = "order_id", "product_id", "purchase"
else:
    publish_basket_file(None)  # a link to a dataset view carries no basket file's key
    left, mid, right = st.columns(3)
    # Bound widgets put their option labels in the URL, so the options are plain words.
    basket = left.selectbox("One basket is", ["order", "session", "user"],
                            help=" · ".join(f"{k.removesuffix('_id')}: {v}"
                                            for k, v in BASKET_KINDS.items()),
                            key="rules.basket", bind="query-params")
    # A readable product name first when the export has one (the sample does).
    # ...matched whatever its case (Online Retail's `Description`).
    by_lower = {c.lower(): c for c in ctx.info.properties}
    named = [by_lower[c] for c in ("product_name", "item_name", "description") if c in by_lower]
    items = [*named[:1], "product_id", "category", "brand"]
    items += [c for c in ctx.info.properties if c not in items and c not in ctx.info.numeric
              and c not in ("order_id", "session_id", "user_id")]
    item = mid.selectbox("Item", items, key="rules.item", bind="query-params")
    event = right.selectbox("From events", ["purchase", "add_to_cart", "view_item",
                                            "begin_checkout", "add_to_wishlist"],
                            key="rules.event", bind="query-params")

cols = st.columns(6)
support = cols[0].number_input("Min support", 0.0001, 1.0, 0.01, step=0.001, format="%.4f",
                               key="rules.support", bind="query-params",
                               help="Smallest share of baskets holding all items of a rule.")
confidence = cols[1].slider("Min confidence", 0.0, 1.0, 0.2, step=0.05,
                            key="rules.confidence", bind="query-params")
lift = cols[2].number_input("Min lift", 0.0, 1000.0, 1.0, step=0.1, key="rules.lift",
                            bind="query-params", help="1 = no association; higher is stronger.")
max_len = cols[3].slider("Max items per rule", 2, 5, 3, key="rules.max_len",
                         bind="query-params")
algorithm = cols[4].selectbox("Algorithm", ["apriori", "fpgrowth"], key="rules.algorithm",
                              bind="query-params")
max_items = cols[5].number_input("Max items", 2, 100_000, None, step=100, key="rules.max_items",
                                 bind="query-params", placeholder="automatic",
                                 help="Mine only the most frequent items (blank: automatic).")

params = guarded(lambda: RuleParams(basket=basket, item=item, source_event=event,
                                    min_support=support, min_confidence=confidence,
                                    min_lift=lift, max_len=max_len, algorithm=algorithm,
                                    max_items=max_items))
if params is None:
    st.stop()
try:
    if file_id is not None:
        rs = cached_file_rules(file_id, params)
    else:
        rs = cached_rules(ctx.view, params)
except MiningBudgetExceeded as e:  # too many itemsets or too slow: say so, offer a fix
    show_mining_limit(e)
    st.stop()
except PathLensError as e:
    show_error(e)
    st.stop()
with st.expander("About these baskets"):
    for line in rs.notes.lines():
        st.caption(line)
if rs.empty:
    st.info(rs.reason)
    st.stop()

m = st.columns(4)
m[0].metric("Baskets", f"{rs.notes.baskets:,}")
m[1].metric("Items mined", f"{rs.notes.items_used:,}")
m[2].metric("Frequent itemsets", f"{rs.itemsets.height:,}")
m[3].metric("Rules", f"{rs.rules.height:,}")

SORTS = ["lift", "confidence", "support", "leverage", "conviction", "baskets"]
sort = st.selectbox("Sort rules by", SORTS, key="rules.sort", bind="query-params")
table = rs.table().sort([sort, "lift"], descending=True, maintain_order=True)
show_table(rules_people_table(table), key="rules.table")
download_csv(table, "basket_rules.csv", key="rules.dl")  # machine names, full precision
if file_id is None:
    antecedent_cohort_control(ctx.view, rs, sort)
else:
    st.caption("A basket file names no users, so its rules cannot be saved as a cohort.")

left, right = st.columns(2)
top = left.slider("Rules in the network", 5, 100, 30, step=5, key="rules.top",
                  bind="query-params")
left.plotly_chart(rules_network_figure(rs, top=top), key="rules.network")
right.plotly_chart(rules_scatter_figure(rs), key="rules.scatter")

st.subheader("Bought together")
singles = (rs.rules.filter(pl.col("antecedents").list.len() == 1)
           .group_by(pl.col("antecedents").list.first().alias("item"))
           .agg(pl.col("antecedent_baskets").first()).sort(["antecedent_baskets", "item"],
                                                           descending=[True, False]))
lookup = st.selectbox("Item", singles["item"].to_list(), key="rules.lookup",
                      bind="query-params")
if lookup is not None:
    together = bought_together(rs, lookup, 10).with_columns(pl.col("items").list.join(" + "))
    show_table(together_people_table(rs, lookup, 10), key="rules.together")
    download_csv(together, "bought_together.csv", key="rules.dl_together")
