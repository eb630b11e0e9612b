"""The one table of a run: every ingress and feature as CPU per request (or per relayed
chunk), with its ratio to chat completions measured beside it and to the floor, and the
targets of the performance issue (ratios, so they hold on any machine). Printed as
Markdown, ready for README's Performance section; also in the JSON (``summary``)."""

from __future__ import annotations

from typing import Any

from .report import fmt, lookup

__all__ = ["render_summary", "summary_rows"]

Result = dict[str, Any]


def _div(a: Any, b: Any) -> float | None:
    ok = isinstance(a, int | float) and isinstance(b, int | float) and b
    return a / b if ok else None


class _Rows:
    def __init__(self, floor_req: float | None, floor_chunk: float | None) -> None:
        self.rows: list[dict[str, Any]] = []
        self.floor = {"ms": floor_req, "us/chunk": floor_chunk}

    def add(self, case: str, value: Any, unit: str, chat: Any = None, *,
            floor: bool = True, target: tuple[str, float] | None = None,
            note: str = "") -> None:
        """``chat``: the chat figure measured beside it; ``target``: ("chat"|"floor", max
        ratio)."""
        if value is None:
            return
        x_chat = _div(value, chat)
        x_floor = _div(value, self.floor.get(unit)) if floor else None
        holds = None
        if target is not None:
            ratio = x_chat if target[0] == "chat" else x_floor
            holds = None if ratio is None else ratio <= target[1]
        self.rows.append({
            "case": case, "value": value, "unit": unit, "x_chat": x_chat, "x_floor": x_floor,
            "target": f"≤ {target[1]:g}× {target[0]}" if target else "",
            "holds": holds, "note": note})


def summary_rows(results: Result, compare: Result) -> list[dict[str, Any]]:
    proxy, floor, direct = (results.get(k, {}) for k in ("proxy", "floor", "direct"))
    floor_req = lookup(floor, "closed", "cpu_ms_per_request")
    floor_chunk = lookup(floor, "stream", "cpu_us_per_chunk")
    r = _Rows(floor_req, floor_chunk)
    chat = lookup(proxy, "closed", "cpu_ms_per_request")
    r.add("floor: bare aiohttp pass-through, whole", floor_req, "ms")
    r.add("chat completions, whole", chat, "ms", chat, target=("floor", 1.4))
    r.add("floor: streamed, per chunk", floor_chunk, "us/chunk")
    r.add("chat completions, streamed, per chunk", lookup(proxy, "stream", "cpu_us_per_chunk"),
          "us/chunk", target=("floor", 1.0))
    m = proxy.get("messages", {})
    m_chat, m_chat_s = (lookup(m, "chat_unary", "cpu_ms_per_request"),
                        lookup(m, "chat_stream", "cpu_us_per_chunk"))
    for case, label in (("translated", "→ openai upstream"), ("native", "→ anthropic upstream")):
        r.add(f"/v1/messages {case} ({label}), whole",
              lookup(m, f"messages_{case}_unary", "cpu_ms_per_request"), "ms", m_chat,
              target=("chat", 1.25) if case == "translated" else None)
        r.add(f"/v1/messages {case}, streamed, per chunk",
              lookup(m, f"messages_{case}_stream", "cpu_us_per_chunk"), "us/chunk", m_chat_s)
    resp = proxy.get("responses", {})
    r_chat, r_chat_s = (lookup(resp, "chat", "cpu_ms_per_request"),
                        lookup(resp, "chat_stream", "cpu_ms_per_request"))
    for store in ("store", "no_store"):
        label = store.replace("_", " ")
        r.add(f"/v1/responses translated, {label}, whole",
              lookup(resp, f"responses_{store}", "cpu_ms_per_request"), "ms", r_chat,
              target=("chat", 1.25))
        r.add(f"/v1/responses translated, {label}, per stream",
              lookup(resp, f"responses_stream_{store}", "cpu_ms_per_request"), "ms/stream",
              r_chat_s, floor=False)
    cache = proxy.get("cache", {})
    c_off = lookup(cache, "off", "cpu_ms_per_request")
    r.add("cache hit, whole", lookup(cache, "hit", "cpu_ms_per_request"), "ms", c_off)
    r.add("cache on and missing, whole", lookup(cache, "miss", "cpu_ms_per_request"), "ms",
          c_off, target=("chat", 1.05))
    r.add("cache hit, per stream", lookup(cache, "stream_hit", "cpu_ms_per_request"),
          "ms/stream", lookup(cache, "stream_off", "cpu_ms_per_request"), floor=False)
    budgets = lookup(compare, "budgets", "variants") or {}
    r.add("budget-checked key (reserve + settle), whole",
          lookup(budgets, "budgets_memory", "closed", "cpu_ms_per_request"), "ms",
          lookup(budgets, "budgets_off", "closed", "cpu_ms_per_request"),
          target=("chat", 1.05), note="× chat: its own gateway without a budget")
    r.add("budget-checked key, budgets in Redis, whole",
          lookup(budgets, "budgets_redis", "closed", "cpu_ms_per_request"), "ms",
          lookup(budgets, "budgets_off_redis", "closed", "cpu_ms_per_request"),
          note="× chat: its own gateway with Redis limits, without a budget")
    feats = lookup(compare, "features", "variants") or {}
    r.add("tracing on, 100 % sampled, OTLP export, whole",
          lookup(feats, "tracing", "closed", "cpu_ms_per_request"), "ms",
          lookup(feats, "plain", "closed", "cpu_ms_per_request"),
          note="× chat: its own gateway with tracing off")
    limits = lookup(compare, "limits", "variants") or {}
    l_off = lookup(limits, "limits_off", "closed", "cpu_ms_per_request")
    r.add("rate limits in process (4 scopes + tokens), whole",
          lookup(limits, "limits_memory", "closed", "cpu_ms_per_request"), "ms", l_off,
          note="× chat: its own gateway with limits off")
    r.add("rate limits in Redis, whole",
          lookup(limits, "limits_redis", "closed", "cpu_ms_per_request"), "ms", l_off,
          note="× chat: its own gateway with limits off")
    audit = lookup(compare, "audit", "variants") or {}
    r.add("audit on (the default), whole",
          lookup(audit, "audit_on", "closed", "cpu_ms_per_request"), "ms",
          lookup(audit, "audit_off", "closed", "cpu_ms_per_request"),
          note="× chat: its own gateway with audit off")
    rows = r.rows
    # memory and latency: ratios and differences to the floor
    held = lookup(proxy, "memory", "streams") or 0
    for case, path, target in (("RSS idle (after the earlier phases)", ("memory", "rss_mb_before"), None),
                               (f"RSS with {held:,} slow streams open", ("memory", "rss_mb_all_open"), 1.25)):
        mine, base = lookup(proxy, *path), lookup(floor, *path)
        if mine is not None:
            x = _div(mine, base)
            rows.append({"case": case, "value": mine, "unit": "MB", "x_chat": None,
                         "x_floor": x, "target": f"≤ {target:g}× floor" if target else "",
                         "holds": None if target is None or x is None else x <= target,
                         "note": f"floor {fmt(base, 1)} MB"})
    base = lookup(direct, "open", "50", "p50_ms")
    mine, theirs = lookup(proxy, "open", "50", "p50_ms"), lookup(floor, "open", "50", "p50_ms")
    if None not in (base, mine, theirs):
        added, floor_added = mine - base, theirs - base
        rows.append({"case": "added p50 latency at 50 req/s", "value": added, "unit": "ms",
                     "x_chat": None, "x_floor": _div(added, floor_added),
                     "target": "≤ floor + 0.3 ms", "holds": added <= floor_added + 0.3,
                     "note": f"floor +{floor_added:.2f} ms"})
    mine, theirs = lookup(proxy, "stream", "ttfc_p50_ms"), lookup(floor, "stream", "ttfc_p50_ms")
    if mine is not None:
        streams = lookup(proxy, "stream", "concurrency") or 0
        rows.append({"case": f"time to first chunk p50, {streams:,} streams", "value": mine,
                     "unit": "ms", "x_chat": None, "x_floor": _div(mine, theirs), "target": "",
                     "holds": None, "note": "unbuffered relay"})
    return rows


def render_summary(rows: list[dict[str, Any]]) -> str:
    lines = ["| case (one core, CPU unless noted) | value | unit | × chat | × floor | target | holds |",
             "| --- | ---: | --- | ---: | ---: | --- | --- |"]
    for row in rows:
        holds = {True: "yes", False: "**no**", None: ""}[row["holds"]]
        x_chat = f"{row['x_chat']:.2f}" if row["x_chat"] is not None else ""
        x_floor = f"{row['x_floor']:.2f}" if row["x_floor"] is not None else ""
        note = f" ({row['note']})" if row["note"] else ""
        lines.append(f"| {row['case']}{note} | {fmt(row['value'])} | {row['unit']} | "
                     f"{x_chat} | {x_floor} | {row['target']} | {holds} |")
    return "\n".join(lines)
