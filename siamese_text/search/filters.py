"""One metadata filter language for every backend: a small subset of Milvus's boolean expressions.

    lang == "en" and year >= 2020
    topic in ["card", "atm"] or not (source != 'faq')

Fields are metadata keys (and ``id``, the record's id); values are strings (double or single
quotes), numbers and ``true``/``false``. Operators: ``== != < <= > >=``, ``in [...]``,
``not in [...]``, ``and``/``&&``, ``or``/``||``, ``not``/``!`` and parentheses. Milvus evaluates the
expression itself (:meth:`Filter.to_milvus` renders it in its syntax; metadata are its dynamic
fields); the in-process backends evaluate it here on columns of the metadata, vectorised.

A row whose field is missing, null, or of another type than the value (a string compared with a
number) matches no comparison on it, as in SQL and Milvus; ``not`` negates the whole comparison.
Milvus has more (``like``, JSON paths, array functions): they are refused here, so a filter that
works on one backend works on all.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from siamese_text.errors import ConfigError

__all__ = ["Filter", "parse_filter", "FilterError", "Columns"]

OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_SUBSET = "==, !=, <, <=, >, >=, in, not in, and, or, not, parentheses"
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|&&|\|\||!|\(|\)|\[|\]|,)
  | (?P<quote>["'])
""", re.VERBOSE)
_KEYWORDS = {"and", "or", "not", "in", "true", "false"}


class FilterError(ConfigError):
    """A filter expression that does not parse; the message names the position."""


@dataclass(frozen=True)
class _Token:
    kind: str  # name, number, string, op, keyword, end
    value: Any
    pos: int  # 0-based offset in the expression


@dataclass(frozen=True)
class Compare:
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Member:
    field: str
    values: tuple[Any, ...]
    negated: bool


@dataclass(frozen=True)
class Logic:
    op: str  # "and" | "or"
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Negate:
    part: Node


Node = Compare | Member | Logic | Negate


# ---- parsing ------------------------------------------------------------------------------------


def _tokens(text: str, error: Callable[[str, int], FilterError]) -> list[_Token]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            hint = "; compare with ==" if text[pos] == "=" else ""
            raise error(f"unexpected {text[pos]!r}{hint}", pos)
        kind = match.lastgroup
        if kind == "quote":
            value, pos = _string(text, pos, error)
            out.append(_Token("string", value, match.start()))
            continue
        raw = match.group()
        if kind == "number":
            out.append(_Token("number", float(raw) if any(c in raw for c in ".eE") else int(raw), pos))
        elif kind == "name":
            lower = raw.lower()
            out.append(_Token("keyword", lower, pos) if lower in _KEYWORDS else _Token("name", raw, pos))
        elif kind == "op":
            out.append(_Token("op", {"&&": "and", "||": "or", "!": "not"}.get(raw, raw), pos))
        pos = match.end()
    out.append(_Token("end", None, len(text)))
    return out


def _string(text: str, start: int, error: Callable[[str, int], FilterError]) -> tuple[str, int]:
    quote, pos, chars = text[start], start + 1, []
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            chars.append({"n": "\n", "t": "\t"}.get(text[pos + 1], text[pos + 1]))
            pos += 2
        elif char == quote:
            return "".join(chars), pos + 1
        else:
            chars.append(char)
            pos += 1
    raise error(f"the string opened with {quote} is not closed", start)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text, self.error)
        self.at = 0

    def error(self, what: str, pos: int) -> FilterError:
        return FilterError(f"--filter {self.text!r}: {what} at position {pos + 1}; filters take {_SUBSET}")

    @property
    def token(self) -> _Token:
        return self.tokens[self.at]

    def take(self, kind: str, value: Any = None) -> _Token | None:
        token = self.token
        if token.kind == kind and (value is None or token.value == value):
            self.at += 1
            return token
        return None

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise self.error("the filter is empty", 0)
        node = self.logic("or")
        if self.token.kind != "end":
            raise self.error(f"expected and, or or the end, not {self.shown(self.token)}", self.token.pos)
        return node

    def logic(self, op: str) -> Node:
        parts = [self.logic("and") if op == "or" else self.negation()]
        while self.take("keyword", op) or self.take("op", op):
            parts.append(self.logic("and") if op == "or" else self.negation())
        return parts[0] if len(parts) == 1 else Logic(op, tuple(parts))

    def negation(self) -> Node:
        if self.take("keyword", "not") or self.take("op", "not"):
            return Negate(self.negation())
        if self.take("op", "("):
            node = self.logic("or")
            if not self.take("op", ")"):
                raise self.error(f"expected ) to close the (, not {self.shown(self.token)}", self.token.pos)
            return node
        return self.comparison()

    def comparison(self) -> Node:
        name = self.take("name")
        if name is None:
            raise self.error(f"expected a field name, not {self.shown(self.token)}", self.token.pos)
        if self.token.kind == "name" and self.token.value.lower() in ("like", "is", "exists"):
            raise self.error(f"{self.token.value} is not in the filter subset every backend takes", self.token.pos)
        if self.take("keyword", "in"):
            return Member(name.value, self.values(), negated=False)
        if self.token.kind == "keyword" and self.token.value == "not":
            self.at += 1
            if not self.take("keyword", "in"):
                raise self.error(f"expected in after {name.value} not", self.token.pos)
            return Member(name.value, self.values(), negated=True)
        op = self.token
        if op.kind != "op" or op.value not in OPERATORS:
            raise self.error(f"expected ==, !=, <, <=, >, >=, in or not in after {name.value}, not {self.shown(op)}", op.pos)
        self.at += 1
        value = self.literal()
        if isinstance(value, bool) and op.value not in ("==", "!="):
            raise self.error(f"true and false compare with == and != only, not {op.value}", op.pos)
        return Compare(name.value, op.value, value)

    def values(self) -> tuple[Any, ...]:
        if not self.take("op", "["):
            raise self.error(f"expected [ to start the list of values, not {self.shown(self.token)}", self.token.pos)
        values = [self.literal()]
        while self.take("op", ","):
            values.append(self.literal())
        if not self.take("op", "]"):
            raise self.error(f"expected , or ] in the list of values, not {self.shown(self.token)}", self.token.pos)
        if len({isinstance(v, str) for v in values}) > 1:
            raise self.error("a list mixes strings and numbers; give values of one kind", self.token.pos - 1)
        return tuple(values)

    def literal(self) -> Any:
        token = self.token
        if token.kind in ("string", "number"):
            self.at += 1
            return token.value
        if token.kind == "keyword" and token.value in ("true", "false"):
            self.at += 1
            return token.value == "true"
        raise self.error(f"expected a value (a quoted string, a number, true or false), not {self.shown(token)}",
                         token.pos)

    @staticmethod
    def shown(token: _Token) -> str:
        if token.kind == "end":
            return "the end"
        return json.dumps(token.value) if token.kind == "string" else str(token.value)


# ---- the filter ---------------------------------------------------------------------------------


class Columns:
    """Typed columns of record fields for vectorised comparisons; built once a field, on first use.

    ``values(field)`` gives the raw value of every row (``None`` where missing). Numbers (booleans
    count as 1 and 0, as Milvus compares them) go to a float64 column, NaN elsewhere; strings to
    their own; ``present`` marks rows that have a value of any type.
    """

    def __init__(self, values: Callable[[str], Sequence[Any]], size: int) -> None:
        self._values, self.size = values, size
        self._cache: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def typed(self, field: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(numbers, string_rows, strings, present)``: float64 with NaN; rows and values of the strings; a mask."""
        if field not in self._cache:
            numbers = np.full(self.size, np.nan)
            present = np.zeros(self.size, dtype=bool)
            string_rows, strings = [], []
            for row, value in enumerate(self._values(field)):
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    continue
                present[row] = True
                if isinstance(value, (bool, int, float)):
                    numbers[row] = value
                elif isinstance(value, str):
                    string_rows.append(row)
                    strings.append(value)
            self._cache[field] = (numbers, np.asarray(string_rows, dtype=np.int64), np.asarray(strings, dtype=object),
                                  present)
        return self._cache[field]


_COMPARE = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal, ">": np.greater,
            ">=": np.greater_equal}
Truth = tuple[np.ndarray, np.ndarray]  # (rows known true, rows known false); the rest are unknown (null)


class Filter:
    """A parsed filter expression: ``mask(columns)`` for the in-process backends, ``to_milvus()`` for Milvus.

    Rows are matched with three-valued logic as Milvus does: a comparison on a missing field is
    unknown, ``not`` of unknown stays unknown, and only rows known true match. ``==`` and ``!=``
    between a value and one of another type are false and true; ``<``-style comparisons between
    them are unknown; ``in`` is false on a missing field (so ``not in`` is true there).
    """

    def __init__(self, expression: str) -> None:
        if not isinstance(expression, str):
            raise FilterError(f"--filter must be a string expression such as 'lang == \"en\"', got {expression!r}")
        self.expression = expression
        self.root = _Parser(expression).parse()

    def __repr__(self) -> str:
        return f"Filter({self.expression!r})"

    @property
    def fields(self) -> set[str]:
        found: set[str] = set()

        def walk(node: Node) -> None:
            if isinstance(node, (Compare, Member)):
                found.add(node.field)
            elif isinstance(node, Logic):
                for part in node.parts:
                    walk(part)
            else:
                walk(node.part)

        walk(self.root)
        return found

    def mask(self, columns: Columns) -> np.ndarray:
        """A boolean per row: whether it matches."""
        return self._eval(self.root, columns)[0]

    def _eval(self, node: Node, columns: Columns) -> Truth:
        if isinstance(node, Logic):
            true, false = self._eval(node.parts[0], columns)
            for part in node.parts[1:]:
                t, f = self._eval(part, columns)
                true, false = (true & t, false | f) if node.op == "and" else (true | t, false & f)
            return true, false
        if isinstance(node, Negate):
            true, false = self._eval(node.part, columns)
            return false, true
        if isinstance(node, Member):
            hit = np.zeros(columns.size, dtype=bool)
            for value in node.values:
                hit |= _same_kind(columns, node.field, "==", value)[0]
            return (~hit, hit) if node.negated else (hit, ~hit)
        return _compare(columns, node.field, node.op, node.value)

    def to_milvus(self) -> str:
        """The same expression in Milvus's syntax (metadata keys are the collection's dynamic fields)."""
        return _render(self.root, top=True)


def _same_kind(columns: Columns, field: str, op: str, value: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(result, known)`` over the rows whose value is of ``value``'s kind (number or string)."""
    numbers, string_rows, strings, _ = columns.typed(field)
    if isinstance(value, str):
        result, known = np.zeros(columns.size, dtype=bool), np.zeros(columns.size, dtype=bool)
        if len(strings):
            result[string_rows] = _COMPARE[op](strings, value).astype(bool)
            known[string_rows] = True
        return result, known
    known = ~np.isnan(numbers)
    with np.errstate(invalid="ignore"):
        return _COMPARE[op](numbers, float(value)) & known, known


def _compare(columns: Columns, field: str, op: str, value: Any) -> Truth:
    result, known = _same_kind(columns, field, op, value)
    other = columns.typed(field)[3] & ~known  # a value of another kind
    true, false = result, known & ~result
    if op == "==":
        false = false | other
    elif op == "!=":
        true = true | other
    return true, false


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _render(node: Node, *, top: bool = False) -> str:
    if isinstance(node, Compare):
        return f"{node.field} {node.op} {_literal(node.value)}"
    if isinstance(node, Member):
        return f"{node.field} {'not in' if node.negated else 'in'} [{', '.join(map(_literal, node.values))}]"
    if isinstance(node, Negate):
        return f"not ({_render(node.part, top=True)})"
    inner = f" {node.op} ".join(_render(part) for part in node.parts)
    return inner if top else f"({inner})"


def parse_filter(expression: str | Filter | None) -> Filter | None:
    """A :class:`Filter` from an expression (None and a Filter pass through); a bad one is a :class:`FilterError`."""
    if expression is None or isinstance(expression, Filter):
        return expression
    return Filter(expression)
