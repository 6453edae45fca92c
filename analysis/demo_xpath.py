"""A small evaluator for the XPath subset the catalogue's forms use in constraints, relevance and calculations.

The demo generator must only write answers a phone would have accepted, and it and its tests check that claim
against the forms' own expressions rather than against a second copy of the rules. Expressions are parsed into
tuples and evaluated here the way ODK's JavaRosa does for the operators and functions in `FUNCTIONS`; anything
else raises `Unsupported` (nothing is ever handed to Python's eval), so a new kind of expression in the
catalogue is noticed instead of silently passing.
"""

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

Node = tuple[Any, ...]
"""A parsed expression: ('num', 1.0), ('str', 'a'), ('ref', name), ('dot',), ('call', name, args), ('bin', op, l, r),
('neg', e), and ('col', name) for a media file column named in a choice_filter."""

EPOCH = dt.date(1970, 1, 1)


class Unsupported(ValueError):
    """An expression outside the subset this module evaluates."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>\d+(?:\.\d+)?)
    | (?P<string>'[^']*'|"[^"]*")
    | (?P<ref>\$\{[A-Za-z_][A-Za-z0-9_]*\})
    | (?P<op><=|>=|!=|=|<|>|\+|-|\*|\(|\)|,)
    | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*(?::[A-Za-z_][A-Za-z0-9_\-]*)?)
    | (?P<dot>\.)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise Unsupported(f"cannot read '{text[position:]}' in '{text}'")
        kind = match.lastgroup
        assert kind is not None
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


class _Parser:
    """Recursive descent over XPath 1.0 precedence: or, and, equality, relational, additive, multiplicative, unary."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise Unsupported(f"unexpected end of '{self.text}'")
        self.at += 1
        return token

    def expect(self, value: str) -> None:
        kind, found = self.take()
        if found != value or kind not in ("op", "name"):
            raise Unsupported(f"expected '{value}', found '{found}' in '{self.text}'")

    def parse(self) -> Node:
        node = self.binary(0)
        if self.peek() is not None:
            raise Unsupported(f"unexpected '{self.peek()[1]}' in '{self.text}'")  # type: ignore[index]
        return node

    LEVELS: tuple[tuple[str, ...], ...] = (("or",), ("and",), ("=", "!="), ("<", "<=", ">", ">="), ("+", "-"))
    MULTIPLICATIVE = ("*", "div", "mod")

    def binary(self, level: int) -> Node:
        if level == len(self.LEVELS):
            return self.multiplicative()
        node = self.binary(level + 1)
        while (token := self.peek()) is not None and token[1] in self.LEVELS[level] and token[0] in ("op", "name"):
            self.take()
            node = ("bin", token[1], node, self.binary(level + 1))
        return node

    def multiplicative(self) -> Node:
        node = self.unary()
        while (token := self.peek()) is not None and token[1] in self.MULTIPLICATIVE and token[0] in ("op", "name"):
            self.take()
            node = ("bin", token[1], node, self.unary())
        return node

    def unary(self) -> Node:
        token = self.peek()
        if token is not None and token == ("op", "-"):
            self.take()
            return ("neg", self.unary())
        return self.primary()

    def primary(self) -> Node:
        kind, value = self.take()
        if kind == "number":
            return ("num", float(value))
        if kind == "string":
            return ("str", value[1:-1])
        if kind == "ref":
            return ("ref", value[2:-1])
        if kind == "dot":
            return ("dot",)
        if kind == "op" and value == "(":
            node = self.binary(0)
            self.expect(")")
            return node
        if kind == "name" and self.peek() == ("op", "("):
            if value not in FUNCTIONS:
                raise Unsupported(f"function '{value}' in '{self.text}'")
            self.take()
            args: list[Node] = []
            if self.peek() != ("op", ")"):
                args.append(self.binary(0))
                while self.peek() == ("op", ","):
                    self.take()
                    args.append(self.binary(0))
            self.expect(")")
            return ("call", value, tuple(args))
        if kind == "name" and value not in ("and", "or", "div", "mod"):
            return ("col", value)
        raise Unsupported(f"'{value}' in '{self.text}'")


@cache
def parse(text: str) -> Node:
    """Parse an expression once (the forms repeat the same few); raises Unsupported outside the subset."""
    return _Parser(text).parse()


@dataclass
class Context:
    """What an expression can see: the answers (`resolve`), the current answer (`.`), the device's date."""

    resolve: Callable[[str], Any]
    dot: Any = ""
    today: dt.date | None = None
    choice_label: Callable[[str, str], str] | None = None
    """(value, question name) → label, for jr:choice-name."""
    column: Callable[[str], Any] | None = None
    """A column of the choice being filtered (`partner` in `partner = ${partner}`), for choice_filter."""


# --- XPath conversions ------------------------------------------------------------------------------------


def to_number(value: Any) -> float:
    """XPath number(): dates count days since 1970 as in JavaRosa, text that is not a number is NaN."""
    if isinstance(value, list):
        return to_number(value[0]) if value else math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dt.date):
        return float((value - EPOCH).days)
    try:
        return float(str(value).strip())
    except ValueError:
        date = _as_date(value)
        return float((date - EPOCH).days) if date is not None else math.nan


def to_string(value: Any) -> str:
    """XPath string(): whole numbers print without a decimal point, as phones store calculations."""
    if isinstance(value, list):
        return to_string(value[0]) if value else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | int):
        if isinstance(value, float) and math.isnan(value):
            return "NaN"
        if float(value).is_integer():
            return str(int(value))
        return repr(float(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def to_bool(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return not math.isnan(value) and value != 0
    if isinstance(value, dt.date):
        return True
    return value != ""


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10]) if len(text) >= 10 else None
    except ValueError:
        return None


def round_half_up(value: float, digits: int = 0) -> float:
    """JavaRosa's round(): halves go up (Python's round() goes to even)."""
    if math.isnan(value) or math.isinf(value):
        return value
    factor = 10.0**digits
    return math.floor(value * factor + 0.5) / factor


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, list) or isinstance(right, list):
        lefts = left if isinstance(left, list) else [left]
        rights = right if isinstance(right, list) else [right]
        return any(_compare(op, a, b) for a in lefts for b in rights)
    if op in ("=", "!="):
        if isinstance(left, bool) or isinstance(right, bool):
            equal = to_bool(left) == to_bool(right)
        elif isinstance(left, int | float) or isinstance(right, int | float):
            equal = to_number(left) == to_number(right)
        elif isinstance(left, dt.date) or isinstance(right, dt.date):
            equal = _as_date(left) == _as_date(right)
        else:
            equal = to_string(left) == to_string(right)
        return equal if op == "=" else not equal
    a, b = to_number(left), to_number(right)
    if math.isnan(a) or math.isnan(b):
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _arithmetic(op: str, left: Any, right: Any) -> float:
    a, b = to_number(left), to_number(right)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b if op == "div" else math.fmod(a, b)


def _format_date(value: Any, pattern: str) -> str:
    date = _as_date(value)
    if date is None:
        return ""
    parts = {"%Y": f"{date.year:04d}", "%m": f"{date.month:02d}", "%d": f"{date.day:02d}", "%n": str(date.month)}
    parts["%e"] = str(date.day)
    return re.sub(r"%[YmdneE]", lambda m: parts.get(m.group(0), m.group(0)), pattern)


def _substr(text: Any, start: Any, end: Any = None) -> str:
    """ODK substr(s, start, end): 0-based start, exclusive end (Java substring), unlike XPath 1.0 substring()."""
    value = to_string(text)
    begin = max(0, int(to_number(start)))
    stop = len(value) if end is None else min(len(value), int(to_number(end)))
    return value[begin:stop] if stop > begin else ""


def _selected(items: Any, code: Any) -> bool:
    return to_string(code).strip() in to_string(items).split()


def _choice_name(context: Context, value: Any, question: Any) -> str:
    if context.choice_label is None:
        raise Unsupported("jr:choice-name without choice labels")
    name = to_string(question).strip()
    if name.startswith("${") and name.endswith("}"):
        name = name[2:-1]
    return context.choice_label(to_string(value), name)


def _int(value: Any) -> float:
    number = to_number(value)
    return number if math.isnan(number) or math.isinf(number) else float(math.trunc(number))


def _sum(values: Any) -> float:
    items = values if isinstance(values, list) else [values]
    return float(sum(to_number(item) for item in items if item != ""))


def _today(context: Context) -> dt.date:
    if context.today is None:
        raise Unsupported("today() without a device date")
    return context.today


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "today": _today,
    "date": lambda _c, v: _as_date(v) or "",
    "format-date": lambda _c, v, p: _format_date(v, to_string(p)),
    "decimal-date-time": lambda _c, v: to_number(v),
    "int": lambda _c, v: _int(v),
    "number": lambda _c, v: to_number(v),
    "string": lambda _c, v: to_string(v),
    "string-length": lambda _c, v: float(len(to_string(v))),
    "concat": lambda _c, *vs: "".join(to_string(v) for v in vs),
    "substr": lambda _c, *vs: _substr(*vs),
    "if": lambda _c, cond, a, b: a if to_bool(cond) else b,
    "not": lambda _c, v: not to_bool(v),
    "true": lambda _c: True,
    "false": lambda _c: False,
    "regex": lambda _c, v, p: re.search(to_string(p), to_string(v)) is not None,
    "selected": lambda _c, items, code: _selected(items, code),
    "count-selected": lambda _c, items: float(len(to_string(items).split())),
    "round": lambda _c, v, digits=0.0: round_half_up(to_number(v), int(to_number(digits))),
    "sum": lambda _c, v: _sum(v),
    "once": lambda _c, v: v,
    "jr:choice-name": _choice_name,
}
"""The functions evaluated here (`if` is evaluated lazily in `evaluate`, like JavaRosa's)."""


Evaluator = Callable[[Context], Any]


@cache
def compiled(node: Node) -> Evaluator:
    """A parsed expression turned into nested closures once: the generator evaluates instance names per row."""
    kind = node[0]
    if kind in ("num", "str"):
        constant = node[1]
        return lambda _context: constant
    if kind == "ref":
        name = node[1]
        return lambda context: context.resolve(name)
    if kind == "dot":
        return lambda context: context.dot
    if kind == "col":
        column = node[1]
        return lambda context: _column(context, column)
    if kind == "neg":
        inner = compiled(node[1])
        return lambda context: -to_number(inner(context))
    if kind == "call" and node[1] == "if" and len(node[2]) == 3:
        condition, then, otherwise = (compiled(arg) for arg in node[2])
        return lambda context: then(context) if to_bool(condition(context)) else otherwise(context)
    if kind == "call":
        function, args = FUNCTIONS[node[1]], tuple(compiled(arg) for arg in node[2])
        return lambda context: function(context, *(arg(context) for arg in args))
    op, left, right = node[1], compiled(node[2]), compiled(node[3])
    if op == "or":
        return lambda context: to_bool(left(context)) or to_bool(right(context))
    if op == "and":
        return lambda context: to_bool(left(context)) and to_bool(right(context))
    if op in ("=", "!=", "<", "<=", ">", ">="):
        return lambda context: _compare(op, left(context), right(context))
    return lambda context: _arithmetic(op, left(context), right(context))


def _column(context: Context, name: str) -> Any:
    if context.column is None:
        raise Unsupported(f"column '{name}' outside a choice_filter")
    return context.column(name)


def evaluate(node: Node, context: Context) -> Any:
    """The value of a parsed expression: str, float, bool, date or a list (a repeat's answers)."""
    return compiled(node)(context)


def holds(text: str, context: Context) -> bool:
    """Whether a constraint or relevance expression is true in a context."""
    return to_bool(evaluate(parse(text), context))
