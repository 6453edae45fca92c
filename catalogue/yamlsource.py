"""YAML reading that remembers where every value came from.

Validation must say `PATH:LINE: message` for every error, so the catalogue is read through PyYAML's node tree
(which carries marks) instead of `safe_load`, and each value's path is mapped to its file and line.
Duplicate keys, which `safe_load` silently collapses, are reported as errors.
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


_SCALAR = yaml.SafeLoader


def _construct_scalar(node: yaml.ScalarNode) -> Any:
    """Build a scalar the way `safe_load` would (dates, numbers, booleans, null)."""
    loader = _SCALAR("")
    return loader.construct_object(node, deep=True)


def _build(node: yaml.Node, path: Path_, file: str, out: Located) -> Any:
    out.lines[path] = (file, node.start_mark.line + 1)
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
            result[key] = _build(value_node, (*path, key), file, out)
            out.lines[(*path, key)] = (file, key_node.start_mark.line + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, index), file, out) for index, item in enumerate(node.value)]
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
        node = yaml.compose(text, Loader=yaml.SafeLoader)
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
        out.data = _build(node, (), name, out)
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
