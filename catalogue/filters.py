"""The filter language of indicator measures: a small, safe expression language, parsed, never `eval`ed.

    sex = 'female' and age >= 18
    profile in ('tcn', 'returnee') or not (consent = 'no')
    selected(services, 'health') and referral_date is not null

Comparison operands are a question name and a literal. Filters are parsed once into a tree that the validator
checks against the form (names, choice codes) and the analysis evaluates against typed facts.
"""

import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

Scalar = str | float | bool
Operator = Literal["=", "!=", "<", "<=", ">", ">="]


class FilterSyntaxError(ValueError):
    """A filter that does not parse; `position` is the 0-based character offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at character {position + 1}")
        self.position = position


@dataclass(frozen=True)
class Compare:
    field: str
    op: Operator
    value: Scalar


@dataclass(frozen=True)
class In:
    field: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Selected:
    field: str
    value: str


@dataclass(frozen=True)
class IsNull:
    field: str
    negated: bool


@dataclass(frozen=True)
class Not:
    operand: "Expr"


@dataclass(frozen=True)
class BoolOp:
    op: Literal["and", "or"]
    operands: tuple["Expr", ...]


Expr = Union[Compare, In, Selected, IsNull, Not, BoolOp]  # noqa: UP007 - a runtime alias used in isinstance

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?)
      | (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<op><=|>=|!=|=|<|>)
      | (?P<punct>[(),])
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false", "selected"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def _tokens(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            start = len(source) - len(source[position:].lstrip())
            raise FilterSyntaxError(f"unexpected character {source[start]!r}", start)
        kind = match.lastgroup or ""
        text = match.group(kind)
        start = match.start(kind)
        if kind == "name" and text.lower() in _KEYWORDS:
            kind, text = "keyword", text.lower()
        tokens.append(_Token(kind, text, start))
        position = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def _take(self, kind: str, text: str | None = None) -> _Token:
        token = self.current
        if token.kind != kind or (text is not None and token.text != text):
            wanted = repr(text) if text else ("the end of the filter" if kind == "end" else kind)
            found = repr(token.text) if token.text else "the end of the filter"
            raise FilterSyntaxError(f"expected {wanted}, found {found}", token.position)
        self.index += 1
        return token

    def _accept(self, kind: str, text: str) -> bool:
        if self.current.kind == kind and self.current.text == text:
            self.index += 1
            return True
        return False

    def parse(self) -> Expr:
        expr = self._or()
        self._take("end")
        return expr

    def _or(self) -> Expr:
        operands = [self._and()]
        while self._accept("keyword", "or"):
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def _and(self) -> Expr:
        operands = [self._not()]
        while self._accept("keyword", "and"):
            operands.append(self._not())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def _not(self) -> Expr:
        if self._accept("keyword", "not"):
            return Not(self._not())
        return self._atom()

    def _atom(self) -> Expr:
        if self._accept("punct", "("):
            expr = self._or()
            self._take("punct", ")")
            return expr
        if self._accept("keyword", "selected"):
            self._take("punct", "(")
            name = self._take("name").text
            self._take("punct", ",")
            value = self._literal()
            self._take("punct", ")")
            if not isinstance(value, str):
                raise FilterSyntaxError("selected() takes a quoted choice code", self.tokens[self.index - 2].position)
            return Selected(name, value)
        name = self._take("name").text
        token = self.current
        if self._accept("keyword", "is"):
            negated = self._accept("keyword", "not")
            self._take("keyword", "null")
            return IsNull(name, negated)
        if self._accept("keyword", "in"):
            self._take("punct", "(")
            values = [self._literal()]
            while self._accept("punct", ","):
                values.append(self._literal())
            self._take("punct", ")")
            return In(name, tuple(values))
        if token.kind == "op":
            self.index += 1
            return Compare(name, token.text, self._literal())  # type: ignore[arg-type]
        found = repr(token.text) if token.text else "the end of the filter"
        raise FilterSyntaxError(f"expected an operator after '{name}', found {found}", token.position)

    def _literal(self) -> Scalar:
        token = self.current
        self.index += 1
        if token.kind == "number":
            return float(token.text)
        if token.kind == "string":
            return re.sub(r"\\(.)", r"\1", token.text[1:-1])
        if token.kind == "keyword" and token.text in ("true", "false"):
            return token.text == "true"
        found = repr(token.text) if token.text else "the end of the filter"
        raise FilterSyntaxError(f"expected a number, a 'quoted text' or true/false, found {found}", token.position)


def parse_filter(source: str) -> Expr:
    """Parse a filter; raises FilterSyntaxError saying what was expected and where."""
    return _Parser(source).parse()


def fields(expr: Expr) -> Iterator[str]:
    """The question names a filter reads, in order of appearance."""
    match expr:
        case BoolOp(operands=operands):
            for operand in operands:
                yield from fields(operand)
        case Not(operand=operand):
            yield from fields(operand)
        case Compare(field=name) | In(field=name) | Selected(field=name) | IsNull(field=name):
            yield name


def compared_values(expr: Expr) -> Iterator[tuple[str, Scalar]]:
    """(question, literal) pairs a filter compares, so choice codes can be checked against the form."""
    match expr:
        case BoolOp(operands=operands):
            for operand in operands:
                yield from compared_values(operand)
        case Not(operand=operand):
            yield from compared_values(operand)
        case Compare(field=name, op="=" | "!=", value=value) | Selected(field=name, value=value):
            yield name, value
        case In(field=name, values=values):
            for value in values:
                yield name, value
        case _:
            return


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _ordered(left: Any, right: Scalar) -> tuple[Any, Any] | None:
    """Coerce a fact and a literal to comparable values (Kobo sends numbers and booleans as strings)."""
    if isinstance(right, bool):
        truthy = left if isinstance(left, bool) else str(left).lower() in ("true", "1", "yes")
        return truthy, right
    if isinstance(right, float):
        try:
            return float(left), right
        except (TypeError, ValueError):
            return None
    return str(left), right


def evaluate(expr: Expr, row: Mapping[str, Any]) -> bool:
    """Whether a row of facts passes the filter. A missing or empty answer fails every comparison."""
    match expr:
        case BoolOp(op="and", operands=operands):
            return all(evaluate(operand, row) for operand in operands)
        case BoolOp(operands=operands):
            return any(evaluate(operand, row) for operand in operands)
        case Not(operand=operand):
            return not evaluate(operand, row)
        case IsNull(field=name, negated=negated):
            return (row.get(name) in (None, "", [])) != negated
        case Selected(field=name, value=value):
            answer = row.get(name)
            chosen = answer.split() if isinstance(answer, str) else list(answer or [])
            return value in chosen
        case In(field=name, values=values):
            return any(evaluate(Compare(name, "=", value), row) for value in values)
        case Compare(field=name, op=op, value=value):
            answer = row.get(name)
            if answer in (None, ""):
                return False
            pair = _ordered(answer, value)
            if pair is None:
                return op == "!="
            try:
                return bool(_COMPARE[op](*pair))
            except TypeError:
                return False
    raise TypeError(f"not a filter expression: {expr!r}")
