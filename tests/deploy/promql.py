"""Just enough PromQL reading to list the series names an expression selects.

Label matchers, strings, range selectors, grouping clauses and Grafana variables are
removed first; what is left that looks like an identifier and is not a function call or
a keyword names a series.
"""

from __future__ import annotations

import re

__all__ = ["series_names", "unwrapped_counters"]

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_IDENT = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "atan2",
        "start",
        "end",
    }
)
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*([A-Za-z_:][\w:]*)\s*,")


def _strip(expr: str) -> str:
    text = _STRING.sub('""', expr)
    text = _VARIABLE.sub("", text)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    return _GROUPING.sub("", text)


def series_names(expr: str) -> set[str]:
    """Series (metric) names selected by a PromQL expression or a Grafana
    ``label_values(metric, label)`` query."""
    grafana = _LABEL_VALUES.match(expr)
    if grafana:
        return {grafana.group(1)}
    names = set()
    for match in _IDENT.finditer(_strip(expr)):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def unwrapped_counters(expr: str, counters: frozenset[str]) -> set[str]:
    """Counters used without a range selector, i.e. compared raw instead of through
    ``rate``/``increase``: such a rule stays true forever after a single event."""
    text = _VARIABLE.sub("5m", _STRING.sub('""', expr))
    found = set()
    for name in counters:
        for match in re.finditer(rf"(?<![\w:]){re.escape(name)}(?![\w:])", text):
            rest = text[match.end() :].lstrip()
            if rest.startswith("{"):
                rest = rest[rest.index("}") + 1 :].lstrip()
            if not rest.startswith("["):
                found.add(name)
    return found
