"""Payload shapes of Bronze deliveries: field paths counted per (event kind, received day) (pure).

Input of the schema-drift check (checks/validations_drift.py). The counting is SQL so the DuckDB
warehouse runs it on the table where the data lives; `shape_counts` runs the same SQL on a DataFrame
(the MongoDB backend, tests), so both backends give identical answers.
"""

from __future__ import annotations

import duckdb
import pandas as pd

# Top-level keys and the keys of top-level objects, per delivery, counted per (event kind, day). The
# kind is the event type plus the payload's `action` ("issues:labeled"): GitHub documents a payload
# shape per action, and a rare action with its own keys is a new kind, not a drifted one. Runs on any
# relation with event_type, received_day and body (a registered DataFrame or the warehouse table
# itself), so the DuckDB warehouse computes it where the data lives.
_KEY_PATH = "'$.\"' || replace(k, '\"', '\\\"') || '\"'"

SHAPE_COLUMNS = ["event_kind", "received_day", "path", "n", "deliveries"]


def shape_sql(relation: str, where: str = "TRUE") -> str:
    """SQL giving (event_kind, received_day, path, n, deliveries) for the rows of `relation`."""
    return f"""
    WITH parsed AS (
        SELECT event_type, CAST(received_day AS DATE) AS received_day, row_number() OVER () AS rid,
               CASE WHEN json_valid(body) AND json_type(CAST(body AS JSON)) = 'OBJECT'
                    THEN CAST(body AS JSON) END AS j
        FROM {relation} WHERE {where}),
    b AS (SELECT event_type || coalesce(':' || json_extract_string(j, '$.action'), '') AS event_kind,
                 received_day, rid, j FROM parsed),
    per_kind AS (SELECT event_kind, received_day, count(*) AS deliveries FROM b GROUP BY ALL),
    top AS (SELECT event_kind, received_day, rid, j, unnest(json_keys(j)) AS k FROM b WHERE j IS NOT NULL),
    nested AS (
        SELECT event_kind, received_day, rid,
               k || '.' || unnest(json_keys(json_extract(j, {_KEY_PATH}))) AS path
        FROM top WHERE json_type(json_extract(j, {_KEY_PATH})) = 'OBJECT'),
    paths AS (SELECT event_kind, received_day, rid, k AS path FROM top UNION ALL SELECT * FROM nested),
    counted AS (SELECT event_kind, received_day, path, count(DISTINCT rid) AS n FROM paths GROUP BY ALL)
    SELECT p.event_kind, p.received_day, c.path, coalesce(c.n, 0) AS n, p.deliveries
    FROM per_kind p LEFT JOIN counted c USING (event_kind, received_day)
    ORDER BY ALL
    """


def shape_counts(deliveries: pd.DataFrame) -> pd.DataFrame:
    """Field paths per (event kind, received_day) of Bronze rows (columns event_type, received_day, body).

    Returns event_kind, received_day, path (null for a day whose deliveries have no object body), n
    (deliveries having the path) and deliveries (of that kind that day).
    """
    con = duckdb.connect()
    try:
        con.register("deliveries", deliveries[["event_type", "received_day", "body"]])
        return con.execute(shape_sql("deliveries")).df()
    finally:
        con.close()



def normalise_shapes(shapes: pd.DataFrame) -> pd.DataFrame:
    """The shape frame in one set of dtypes whichever engine computed it."""
    return pd.DataFrame({
        "event_kind": shapes["event_kind"].astype("str"),
        "received_day": pd.to_datetime(shapes["received_day"]).astype("datetime64[us]"),
        "path": shapes["path"].astype("object").where(shapes["path"].notna(), None),
        "n": shapes["n"].astype("int64"),
        "deliveries": shapes["deliveries"].astype("int64"),
    }).sort_values(SHAPE_COLUMNS, ignore_index=True, na_position="first")
