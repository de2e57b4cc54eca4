"""What the RunView shows about one node or one step: status, logs, error, output preview."""

from __future__ import annotations

import html
from typing import Any

from nbflow.definitions.status import Status, in_display_order, node_status
from nbflow.widgets import tracebacks

PREVIEW_CHARS = 2_000
PREVIEW_ROWS = 10
LOG_LINES = 200


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _seconds(value: Any) -> float | None:
    return None if value is None or value != value else round(float(value), 3)  # NaN != NaN


def node_details(run: Any, node: str, shape_node: Any, summary: Any) -> dict[str, Any]:
    """A node: for a mapped op its counts per status; for an unmapped one, its step."""
    mine = summary[summary.op == node]
    counts = in_display_order({row.status: int(row.n) for row in mine.itertuples()})
    if shape_node.is_mapped:
        return {"node": node, "key": None, "mapped": True, "counts": counts,
                "status": node_status(counts), "total": sum(counts.values())}
    details = step_details(run, node, None)
    details.update(mapped=False, counts=counts, fanout=shape_node.is_fanout)
    return details


def step_details(run: Any, node: str, key: str | None) -> dict[str, Any]:
    step_key = node if key is None else f"{node}[{key}]"
    row = run.instance.store.step_row(run.run_id, step_key)
    if row is None:
        return {"node": node, "key": key, "step_key": step_key, "status": Status.PENDING.value, "logs": [],
                "error": "", "error_full": "", "attempts": 0, "seconds": None, "output_html": "", "output_text": ""}
    logs = run.instance.store.logs(run.run_id, step_key)
    lines = [f"{r.level} {r.message}" for r in logs.itertuples()][-LOG_LINES:]
    details = {
        "node": node, "key": key, "step_key": step_key, "status": row["status"],
        # A reused step did not run in this run: it has no time of its own.
        "attempts": int(row["attempts"] or 0),
        "seconds": None if _text(row["reused_from"]) else _seconds(row["seconds"]),
        **tracebacks.shown(_text(row["error"]) or ""), "reused_from": _text(row["reused_from"]) or "",
        "logs": lines, "output_html": "", "output_text": "",
    }
    if row["status"] == Status.SUCCESS:
        details.update(output_preview(run, node, key))
    return details


def output_preview(run: Any, node: str, key: str | None) -> dict[str, str]:
    """A DataFrame's head as an HTML table, anything else as a truncated repr."""
    try:
        value = run.output(node, key=key)
    except Exception as exc:  # an output that no longer loads: say so in the panel
        return {"output_text": f"(output not available: {type(exc).__name__}: {exc})"}
    if type(value).__name__ == "DataFrame" and hasattr(value, "head"):
        shown = value.head(PREVIEW_ROWS).to_html(border=0, classes="nbflow-frame", max_cols=20)
        return {"output_html": shown, "output_text": f"{len(value)} rows × {value.shape[1]} columns"}
    text = repr(value)
    if len(text) > PREVIEW_CHARS:
        text = text[:PREVIEW_CHARS] + f"… ({len(text):,} characters)"
    return {"output_text": text}


def keys_page(run: Any, node: str, status: str | None, text: str | None, page: int,
              page_size: int) -> dict[str, Any]:
    """One page of a mapped op's keys, filtered: only this page travels to the browser."""
    page = max(0, page)
    frame, total = run.instance.store.step_page(run.run_id, node, status or None, text or None,
                                                page * page_size, page_size)
    rows = [{"key": r.mapping_key, "status": r.status, "attempts": int(r.attempts or 0),
             "seconds": None if isinstance(r.reused_from, str) else _seconds(r.seconds),
             "reused": isinstance(r.reused_from, str)}
            for r in frame.itertuples()]
    pages = max(1, -(-total // page_size))
    return {"node": node, "rows": rows, "page": page, "pages": pages, "total": total,
            "status": status or "", "text": text or ""}


def static_html(view: Any) -> str:
    """What an executed notebook shows without a kernel: the graph and a one-line summary."""
    p = view.progress
    summary = (f"<b>{html.escape(view.job_name)}</b> run <code>{html.escape(view.run_id[:8])}</code>: "
               f"<b>{html.escape(view.status)}</b> — {p.get('done', 0)} of {p.get('total', 0)} steps, "
               f"{p.get('failed', 0)} failed"
               + (f", {p['canceled']} canceled" if p.get("canceled") else ""))
    return f"<div class='nbflow-runview-static'><div>{summary}</div>{view.svg}</div>"
