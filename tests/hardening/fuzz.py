"""A deterministic generator of hostile request bodies, each invalid by construction.

Every body starts from an ingress's full sample (``Ingress.sample``: every field it and
the adapters behind it read, with valid values) and gets one defect:

* ``wrong_type``: a value of the wrong JSON type at one typed path, at any depth
  (``messages.*.tool_calls.*.function.arguments`` ...), from ``Ingress.types``;
* ``out_of_range``: a number outside its range (or absurdly large) at a ranged path;
* ``nul``: a NUL character inside any string, key or value, anywhere in the body;
* ``control_model``: control characters in the model name;
* ``deep``: any value replaced by JSON nested a few hundred levels deep;
* ``missing``: a required field removed;
* ``not_json``: a body that is not a JSON object at all;
* ``bad_auth``: a valid body with a non-ASCII or invalid-UTF-8 credential.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .ingresses import Ingress

__all__ = ["Case", "cases"]

#: wrong values per kind of field (``None`` is left out: most fields are nullable)
WRONG: dict[str, list[Any]] = {
    "str": [5, 1.5, True, ["x"], {"x": 1}],
    "int": ["5", 1.5, True, [1], {"a": 1}],
    "num": ["0.5", True, [0.5], {"a": 1}],
    "bool": ["true", 1, 0, [], {}],
    "list": ["x", 5, {"a": 1}, True],
    "dict": ["x", 5, [1], True],
    "str|list": [5, 1.5, True, {"text": "x"}],
    "str|dict": [5, 1.5, True, ["x"]],
    "strs": [5, True, [5], [["x"]], [{"a": 1}]],
    "inputs": [5, True, [True], [1.5], [["x"]], [{"a": 1}], ["x", 5], [[1, "x"]]],
    "enum": ["no-such-value", 5, [], {}, ""],
}

_DEEP_LEVELS = 300
_CONTROL = ["\x01", "\x07", "\x1b[31m", "\n", "\x7f"]
_BAD_AUTH = [
    "Bearer clé-secrète".encode(),
    b"Bearer \xff\xfe\xfa",
    "Bearer ключ-ключ".encode(),
    b"Bearer sk-" + "é".encode() * 40,
]


@dataclass
class Case:
    kind: str
    path: str
    #: the raw request body (bytes: some are not JSON, some nest too deep for orjson)
    body: bytes
    headers: dict[str, bytes] = field(default_factory=dict)


def _deep() -> Any:
    value: Any = "x"
    for i in range(_DEEP_LEVELS):
        value = {"k": value} if i % 2 else [value]
    return value


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield prefix, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _pattern(path: tuple[Any, ...]) -> str:
    return ".".join("*" if isinstance(p, int) else str(p) for p in path)


def _set(body: Any, path: tuple[Any, ...], value: Any) -> None:
    node = body
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


def _dump(rng: random.Random, body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=rng.random() < 0.5).encode()


def _nul_in_string(rng: random.Random, body: dict[str, Any]) -> str:
    strings = [(p, v) for p, v in _paths(body) if isinstance(v, str) and p]
    keys = [p for p, v in _paths(body) if p and isinstance(p[-1], str)]
    if keys and rng.random() < 0.3:  # a NUL in a key: rename the key
        path = rng.choice(keys)
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1] + "\x00"] = parent.pop(path[-1])
        return _pattern(path) + " (key)"
    path, value = rng.choice(strings)
    at = rng.randint(0, len(value))
    _set(body, path, value[:at] + "\x00" + value[at:])
    return _pattern(path)


def cases(ingress: Ingress, alias: str, count: int, seed: int) -> list[Case]:
    """``count`` hostile bodies for ``ingress`` served by ``alias``, the same every run."""
    rng = random.Random(f"{seed}:{ingress.name}:{alias}")
    base = {**ingress.sample, **ingress.valid(alias)}
    typed = [(p, ingress.types[_pattern(p)]) for p, _ in _paths(base)
             if p and _pattern(p) in ingress.types]
    ranged = [(p, ingress.ranges[_pattern(p)]) for p, _ in _paths(base)
              if p and _pattern(p) in ingress.ranges]
    kinds = ["wrong_type"] * 8 + ["out_of_range"] * 2 + ["nul"] * 3 + ["deep"] * 2 + [
        "control_model", "missing", "not_json", "bad_auth"]
    if not ranged:
        kinds = [k for k in kinds if k != "out_of_range"]
    out: list[Case] = []
    while len(out) < count:
        kind = rng.choice(kinds)
        body = copy.deepcopy(base)
        if kind == "wrong_type":
            path, what = rng.choice(typed)
            _set(body, path, rng.choice(WRONG[what]))
            out.append(Case(kind, _pattern(path), _dump(rng, body)))
        elif kind == "out_of_range":
            path, values = rng.choice(ranged)
            _set(body, path, rng.choice(values))
            out.append(Case(kind, _pattern(path), _dump(rng, body)))
        elif kind == "nul":
            where = _nul_in_string(rng, body)
            out.append(Case(kind, where, _dump(rng, body)))
        elif kind == "deep":
            path, _ = rng.choice([pv for pv in _paths(body) if pv[0]])
            _set(body, path, _deep())
            out.append(Case(kind, _pattern(path), json.dumps(body).encode()))
        elif kind == "control_model":
            body["model"] = alias + rng.choice(_CONTROL)
            out.append(Case(kind, "model", _dump(rng, body)))
        elif kind == "missing":
            name = rng.choice(ingress.required)
            body.pop(name, None)
            out.append(Case(kind, name, _dump(rng, body)))
        elif kind == "not_json":
            raw = rng.choice([b"", b"null", b"[]", b'"x"', b"5", b"{", b'{"model": NaN}',
                              b'{"model": 1e999}', b'{"a": "\\ud800"}', b"\xff\xfe",
                              _dump(rng, body)[:-1]])
            out.append(Case(kind, "", raw))
        else:
            out.append(Case(kind, "Authorization", _dump(rng, body),
                            {"Authorization": rng.choice(_BAD_AUTH)}))
    return out
