"""YAML reading that remembers where every value came from.

Validation must say `PATH:LINE: message` for every error, so the catalogue is read through PyYAML's node tree
(which carries marks) instead of `safe_load`, and each value's path is mapped to its file and line.
Duplicate keys, which `safe_load` silently collapses, are reported as errors.

A catalogue may come from someone else (a pull request, a partner's copy), so reading it is bounded: nesting
deeper than MAX_DEPTH is refused before the node tree is built (PyYAML composes recursively), and aliases are
expanded at most MAX_ALIASES times in all (a "billion laughs" file is a few lines of aliases of aliases) and never
into themselves (a recursive anchor). Each refusal is a `PATH:LINE` problem, not a traceback.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]
"""A location inside a document: mapping keys and list indices, e.g. ("indicators", 3, "measure")."""


@dataclass(frozen=True, order=True)
class Problem:
    """One error found in a catalogue, with the place a person must edit."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class Located:
    """A YAML document as plain data, plus the file and line of each path in it."""

    data: Any
    lines: dict[Path_, tuple[str, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def where(self, path: Path_) -> tuple[str, int]:
        """The file and line of a path, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return next(iter(self.lines.values()), ("<catalogue>", 1))

    def problem(self, path: Path_, message: str) -> Problem:
        file, line = self.where(path)
        return Problem(file, line, message)


MAX_DEPTH = 64
"""Mappings and lists inside each other; the PRIM 2 files use at most 10."""
MAX_ALIASES = 100
"""Alias expansions in one file, nested ones included; the PRIM 2 files use none."""

_SCALAR = yaml.SafeLoader


class _Refused(Exception):
    """A document beyond what the reader accepts; becomes a problem at `line`."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class _Budget:
    """What building one file may still spend: alias expansions, and the nodes on the current path."""

    aliases: int = MAX_ALIASES
    seen: set[int] = field(default_factory=set)
    path: set[int] = field(default_factory=set)


def _check_depth(text: str) -> None:
    """Refuse nesting beyond MAX_DEPTH from the event stream, which PyYAML produces without recursion."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(event.start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1


def _construct_scalar(node: yaml.ScalarNode) -> Any:
    """Build a scalar the way `safe_load` would (dates, numbers, booleans, null)."""
    loader = _SCALAR("")
    return loader.construct_object(node, deep=True)


def _build(node: yaml.Node, path: Path_, file: str, out: Located, budget: _Budget) -> Any:
    line = node.start_mark.line + 1
    out.lines[path] = (file, line)
    if id(node) in budget.path:
        raise _Refused(line, "an alias refers to a node that contains it (a recursive anchor)")
    if id(node) in budget.seen:  # composed once, reached again: an alias
        budget.aliases -= 1
        if budget.aliases < 0:
            raise _Refused(line, f"more than {MAX_ALIASES} alias expansions: write the values out")
    budget.seen.add(id(node))
    budget.path.add(id(node))
    try:
        return _build_node(node, path, file, out, budget)
    finally:
        budget.path.discard(id(node))


def _build_node(node: yaml.Node, path: Path_, file: str, out: Located, budget: _Budget) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _construct_scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int):
                out.problems.append(Problem(file, key_node.start_mark.line + 1, "mapping keys must be plain text"))
                continue
            if key in result:
                out.problems.append(
                    Problem(file, key_node.start_mark.line + 1, f"duplicate key '{key}' (the YAML would drop one)")
                )
                continue
            result[key] = _build(value_node, (*path, key), file, out, budget)
            out.lines[(*path, key)] = (file, key_node.start_mark.line + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, index), file, out, budget) for index, item in enumerate(node.value)]
    return _construct_scalar(node)


def read_yaml(path: Path, display: str | None = None) -> Located:
    """Read one YAML file into plain data and a line map; syntax errors become problems, not exceptions."""
    name = display or str(path)
    out = Located(data=None)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        out.problems.append(Problem(name, 1, f"cannot read the file: {error.strerror or error}"))
        return out
    except UnicodeDecodeError as error:
        out.problems.append(Problem(name, 1, f"the file is not UTF-8 text ({error.reason})"))
        return out
    try:
        _check_depth(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except _Refused as refused:
        out.problems.append(Problem(name, refused.line, refused.message))
        return out
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        out.problems.append(Problem(name, line, f"YAML syntax error: {error.problem or error}"))
        return out
    except yaml.YAMLError as error:
        out.problems.append(Problem(name, 1, f"YAML error: {error}"))
        return out
    if node is None:
        out.problems.append(Problem(name, 1, "the file is empty"))
        return out
    try:
        out.data = _build(node, (), name, out, _Budget())
    except _Refused as refused:
        out.data = None
        out.problems.append(Problem(name, refused.line, refused.message))
    except yaml.constructor.ConstructorError as error:
        mark = error.problem_mark
        out.problems.append(Problem(name, (mark.line + 1) if mark else 1, f"YAML value error: {error.problem}"))
    return out


def relocate(lines: dict[Path_, tuple[str, int]], moves: Iterable[tuple[Path_, Path_]]) -> dict[Path_, tuple[str, int]]:
    """Re-key a line map when a document's subtrees move (an included file's list items appended to the main one)."""
    result: dict[Path_, tuple[str, int]] = {}
    for old_prefix, new_prefix in moves:
        size = len(old_prefix)
        for path, where in lines.items():
            if path[:size] == old_prefix:
                result[(*new_prefix, *path[size:])] = where
    return result
