"""Paths: how sessions (or users) really move through the shop, step by step."""

import streamlit as st

from core.paths import (
    PathsParams,
    links_people_table,
    paths_comparison_figure,
    paths_figure,
    top_paths_people_table,
)
from ui.overview import compare_control
from ui.paths import (
    cached_drop_off_paths,
    cached_earlier_paths,
    cached_paths,
    comparison_caption,
    funnel_banner,
    funnel_link,
    node_cohort_control,
    paths_tiles,
)
from ui.shell import download_csv, guarded, page_setup
from ui.tables import show_table

ctx = page_setup("Paths", icon=":material/account_tree:")
st.caption("What people do after landing, before buying and instead of converting. Each column "
           "is a step; grey nodes are paths that ended; hover for counts and shares.")
info = ctx.info
link = funnel_link(ctx.notice)

# Node kinds and their values (bound widgets put option labels in the URL: plain words only).
kinds = ["event", "event_type"] + [c for c in ("category", "brand") if info.properties.get(c)]
c = st.columns(4)
node = c[0].selectbox("Nodes are", kinds, key="paths.node", bind="query-params",
                      help="event: raw names; event_type: canonical steps; category: hops")
values = {"event": info.event_names, "event_type": info.event_types}.get(
    node, info.properties.get(node, ()))
if link is None:
    count_by = c[1].segmented_control("Count", ["sessions", "users"], default="sessions",
                                      required=True, key="paths.count",
                                      bind="query-params") or "sessions"
    start = c[2].selectbox("Start at", values, index=None, placeholder="(any)",
                           key="paths.start", bind="query-params",
                           help="Paths begin at the first occurrence of this node.")
else:  # the funnel decides who is counted and where the paths start
    count_by, start = "sessions", None
    c[1].caption("Count: the funnel's entities")
    c[2].caption(f"Start at: step {link.dropped_at - 1} of the funnel")
end = c[3].selectbox("End at", values, index=None, placeholder="(any)", key="paths.end",
                     bind="query-params", help="The steps leading to the first occurrence.")
c = st.columns(4)
depth = c[0].slider("Steps", 2, 10, 5, key="paths.depth", bind="query-params")
top = c[1].slider("Nodes per step", 2, 30, 8, key="paths.top", bind="query-params",
                  help="The rarest nodes of a step fold into one Other node (still counted).")
min_edge = c[2].number_input("Min link size", 1, 10_000_000, 1, key="paths.min_edge",
                             bind="query-params",
                             help="Smaller links fold into the step's Other node.")
collapse = c[3].toggle("Collapse repeats", True, key="paths.collapse", bind="query-params",
                       help="A A B counts as A B; loops that come back later stay.")
with st.expander("Exclude and group nodes"):
    exclude = st.multiselect("Exclude", values, key="paths.exclude", bind="query-params")
    groupings = st.text_input("Groupings", key="paths.groupings", bind="query-params",
                              placeholder="/product/*; re:^search", help="Patterns separated by "
                              "';': * matches anything; re: starts a regular expression.")
c = st.columns([2, 2, 4])
columns = [p for p, v in info.properties.items() if 2 <= len(v) <= 50]
by = c[0].selectbox("Break down by", columns, index=None, placeholder="(no breakdown)",
                    key="paths.by", bind="query-params")
picked = c[1].multiselect("Show one value, or compare two", info.properties.get(by, ()),
                          max_selections=2, key="paths.values", bind="query-params",
                          disabled=by is None) if by else []
against = compare_control("paths.compare", default="none", container=c[2])

params = guarded(lambda: PathsParams(
    start=start, end=end, max_steps=depth,
    count_by="user_id" if count_by == "users" else "session_id", node=node,
    collapse_repeats=collapse, top_per_step=top, min_edge_weight=int(min_edge),
    exclude=tuple(exclude), groupings=tuple(g.strip() for g in groupings.split(";") if g.strip()),
))
if params is None:
    st.stop()


def compute(value):
    breakdown = (by, value) if value is not None else None
    if link is not None:
        res = guarded(lambda: cached_drop_off_paths(ctx.view, link, params, breakdown))
        if res is None:
            st.stop()
        result, drop = res
        return result, drop
    result = guarded(lambda: cached_paths(ctx.view, params, breakdown))
    if result is None:
        st.stop()
    return result, None


results = [compute(v) for v in (picked or [None])]
drop = results[0][1]
if drop is not None:  # with a breakdown, each side's count is in its title
    funnel_banner(drop, results[0][0].params.entity_word, link, count=not picked)
shown = [r for r, _ in results]
word = shown[0].params.entity_word

if len(shown) == 1:
    r = shown[0]
    if r.empty:
        st.info(r.reason)
        st.stop()
    earlier = None
    if against is not None:
        earlier = guarded(lambda: cached_earlier_paths(
            ctx.view, params, against, (by, picked[0]) if picked else None, link))
    for col, (label, value, delta, help_) in zip(st.columns(3), paths_tiles(r, earlier),
                                                  strict=True):
        col.metric(label, value, delta, help=help_ or None)
    if earlier is not None:
        st.caption(comparison_caption(earlier))
    title = f"{by} = {picked[0]}" if picked else None
    st.plotly_chart(paths_figure(r, title=title), key="paths.chart")
else:
    if against is not None:
        st.caption("Two values side by side have no tiles: pick one value to compare it with "
                   "the earlier period.")
    titles = [f"{by} = {v} ({r.entities:,} {word})" for v, r in zip(picked, shown, strict=True)]
    st.plotly_chart(paths_comparison_figure(shown[0], shown[1], left_title=titles[0],
                                            right_title=titles[1], left_value=picked[0],
                                            right_value=picked[1]), key="paths.chart")

st.subheader("Save a node's users as a cohort")
if link is None:
    node_cohort_control(ctx.view, shown, by=by, values=list(picked))
else:
    st.caption("Not on the paths after a funnel drop-off: save the drop-outs themselves on the "
               "Funnels page, or clear the funnel link to save a node of all paths.")

st.subheader("Top paths")
for i, r in enumerate(shown):
    if r.empty:
        st.info(f"{picked[i]}: {r.reason}" if picked else r.reason)
        continue
    table = r.top_paths.select("label", "steps", "count", "share", "purchased", "conversion")
    if picked:
        st.caption(f"{by} = {picked[i]}")
    show_table(top_paths_people_table(r), key="paths.top_table")
    download_csv(table, f"top_paths{'_' + str(picked[i]) if picked else ''}.csv",
                 key=f"paths.dl_top_{i}")  # machine names, full precision
with st.expander("Links of the chart"):
    for i, r in enumerate(shown):
        if picked:
            st.caption(f"{by} = {picked[i]}")
        show_table(links_people_table(r), key="paths.links_table")
        download_csv(r.edges, f"path_links_{i}.csv", key=f"paths.dl_edges_{i}")
