"""A catalogue from someone else cannot hang, crash or read beyond its folder: each gets `PATH:LINE: message`.

Billion laughs (aliases of aliases), deep nesting, a recursive anchor, and includes that name absolute paths,
climb out with `..` or follow a link out of the catalogue's folder, all through `sera catalogue validate`.
"""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from catalogue.yamlsource import MAX_ALIASES, MAX_DEPTH
from sera.cli import app
from sera.settings import get_settings
from tests.conftest import CASES

MINIMAL = (CASES / "minimal.yaml").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _fresh_settings() -> None:
    get_settings.cache_clear()


def validate(path: Path) -> Result:
    return CliRunner().invoke(app, ["catalogue", "validate", str(path)])


def refused(path: Path, lines: int | range, message: str) -> None:
    """`sera catalogue validate` exits 1, quickly, printing `PATH:LINE: message` for this file (LINE in `lines`)."""
    started = time.perf_counter()
    result = validate(path)
    assert time.perf_counter() - started < 10
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    expected = range(lines, lines + 1) if isinstance(lines, int) else lines
    assert any(f"{path}:{line}: {message}" in result.stdout for line in expected), result.output


def test_the_minimal_catalogue_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert validate(path).exit_code == 0


def test_billion_laughs_is_refused_at_once(tmp_path: Path) -> None:
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n, name in enumerate("bcdefghi"):
        previous = "abcdefghi"[n]
        levels.append(f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    path = tmp_path / "laughs.yaml"
    path.write_text(MINIMAL + "\n".join(levels) + "\n", encoding="utf-8")
    first = MINIMAL.count("\n") + 1
    # In a process of its own with a time limit: without the budget this runs for minutes and takes gigabytes.
    command = [sys.executable, "-c", "from sera.cli import main; main()", "catalogue", "validate", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1, result.stderr
    lines = range(first, first + len(levels))
    assert any(f"{path}:{n}: more than {MAX_ALIASES} alias expansions" in result.stdout for n in lines), result.stdout


def test_a_few_aliases_are_still_fine(tmp_path: Path) -> None:
    path = tmp_path / "aliases.yaml"
    path.write_text(MINIMAL.replace("  donors: [AFD]", "  donors: &donors [AFD]") + "x-donors: *donors\n")
    result = validate(path)
    assert "alias expansions" not in result.output and "unknown section 'x-donors'" in result.output


@pytest.mark.parametrize("kind", ["[", "{a: "])
def test_deep_nesting_is_refused_without_recursion(tmp_path: Path, kind: str) -> None:
    closing = "]" if kind == "[" else "}"
    path = tmp_path / "deep.yaml"
    path.write_text(MINIMAL + "deep: " + kind * 100_000 + closing * 100_000 + "\n", encoding="utf-8")
    refused(path, MINIMAL.count("\n") + 1, f"nested more than {MAX_DEPTH} levels deep")


def test_nesting_up_to_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "nested.yaml"
    path.write_text(MINIMAL + "deep: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n", encoding="utf-8")
    result = validate(path)
    assert "nested more than" not in result.output and "unknown section 'deep'" in result.output


def test_a_recursive_anchor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "recursive.yaml"
    path.write_text(MINIMAL + "loop: &loop\n  - x\n  - *loop\n", encoding="utf-8")
    refused(path, MINIMAL.count("\n") + 1, "an alias refers to a node that contains it")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A catalogue folder inside tmp_path, and a readable YAML file beside it (outside the folder)."""
    inside = tmp_path / "catalogue"
    inside.mkdir()
    (tmp_path / "secret.yaml").write_text("forms: []\n", encoding="utf-8")
    return inside


def _with_include(folder: Path, pattern: str) -> Path:
    path = folder / "catalogue.yaml"
    head, forms = MINIMAL.split("\nforms:", 1)
    path.write_text(f"{head}\ninclude: ['{pattern}']\nforms:{forms}", encoding="utf-8")
    return path


def _include_line(path: Path) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith("include:"))


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("/etc/*", "it is an absolute path"),
        ("/etc/passwd", "it is an absolute path"),
        ("../../../../etc/passwd", "it goes up with '..'"),
        ("../secret.yaml", "it goes up with '..'"),
        ("forms/../../secret.yaml", "it goes up with '..'"),
        ("../*.yaml", "it goes up with '..'"),
    ],
)
def test_includes_stay_inside_the_catalogues_folder(folder: Path, pattern: str, why: str) -> None:
    path = _with_include(folder, pattern)
    refused(path, _include_line(path), f"include '{pattern}' must name files inside the catalogue's folder: {why}")


def test_a_link_out_of_the_folder_is_not_followed(folder: Path) -> None:
    (folder / "forms").mkdir()
    (folder / "forms" / "out.yaml").symlink_to(folder.parent / "secret.yaml")
    path = _with_include(folder, "forms/*.yaml")
    message = "include 'forms/*.yaml' must name files inside the catalogue's folder: 'out.yaml' leads outside it"
    refused(path, _include_line(path), message)


def test_an_include_inside_the_folder_is_read(folder: Path) -> None:
    (folder / "forms").mkdir()
    (folder / "forms" / "more.yaml").write_text("forms: []\n", encoding="utf-8")
    assert validate(_with_include(folder, "forms/*.yaml")).exit_code == 0
