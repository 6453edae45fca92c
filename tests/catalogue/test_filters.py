"""The filter language: parsed into a tree, checked, evaluated; never executed as code."""

import pytest

from catalogue.filters import (
    BoolOp,
    Compare,
    FilterSyntaxError,
    In,
    IsNull,
    Not,
    Selected,
    compared_values,
    evaluate,
    fields,
    parse_filter,
)


def test_precedence_and_binds_tighter_than_or() -> None:
    expr = parse_filter("a = 1 or b = 2 and c = 3")
    assert expr == BoolOp(
        "or", (Compare("a", "=", 1.0), BoolOp("and", (Compare("b", "=", 2.0), Compare("c", "=", 3.0))))
    )


def test_every_form_of_the_language_parses() -> None:
    expr = parse_filter("not (p in ('tcn', 'mre')) and selected(services, 'health') and d is not null and x != true")
    assert expr == BoolOp(
        "and",
        (
            Not(In("p", ("tcn", "mre"))),
            Selected("services", "health"),
            IsNull("d", negated=True),
            Compare("x", "!=", True),
        ),
    )
    assert list(fields(expr)) == ["p", "services", "d", "x"]
    assert list(compared_values(expr)) == [("p", "tcn"), ("p", "mre"), ("services", "health"), ("x", True)]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("sex == 'f'", "expected a number, a 'quoted text' or true/false, found '=' at character 6"),
        ("__import__('os').system('x')", "unexpected character '.' at character 17"),
        ("eval('x')", "expected an operator after 'eval', found '(' at character 5"),
        ("a = 1; b = 2", "unexpected character ';' at character 6"),
        ("a = 1 b", "expected the end of the filter, found 'b' at character 7"),
        ("(a = 1", "expected ')', found the end of the filter at character 7"),
        ("selected(s, 3)", "selected() takes a quoted choice code at character 13"),
    ],
)
def test_bad_filters_say_what_and_where(source: str, message: str) -> None:
    with pytest.raises(FilterSyntaxError) as error:
        parse_filter(source)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("source", "row", "expected"),
    [
        ("age >= 18", {"age": "18"}, True),
        ("age >= 18", {"age": "17"}, False),
        ("age >= 18", {"age": None}, False),
        ("age >= 18", {"age": "n/a"}, False),
        ("sex = 'female'", {"sex": "female"}, True),
        ("sex != 'female'", {}, False),
        ("selected(services, 'health')", {"services": "legal health"}, True),
        ("selected(services, 'health')", {"services": ["legal"]}, False),
        ("p in ('tcn', 'mre')", {"p": "mre"}, True),
        ("x is null", {"x": ""}, True),
        ("x is not null", {"x": "0"}, True),
        ("done = true", {"done": "true"}, True),
        ("not (a = 1 or b = 2)", {"a": "1"}, False),
    ],
)
def test_evaluation_on_string_answers(source: str, row: dict[str, object], expected: bool) -> None:
    assert evaluate(parse_filter(source), row) is expected
