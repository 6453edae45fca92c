"""The person-key normalisation does exactly what the README's "Person keys" section says, line by line.

The table is read from README.md itself, so the documentation and the code cannot drift apart: a line added to
the table is tested, and a change to `analysis.identity.normalise` that merges or splits a documented pair fails.
"""

import re
from pathlib import Path

import pytest

from analysis.identity import normalise, person_key

README = Path(__file__).resolve().parents[2] / "README.md"
SECRET = b"test"


def documented_pairs() -> list[tuple[str, str, bool]]:
    """(one sheet, another sheet, one person?) for every row of the README's person-key table."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Person keys") :]
    section = section[: section.index("\n## ")]
    pairs = []
    for line in section.splitlines():
        cells = re.fullmatch(r"\| `(.*)` \| `(.*)` \| (yes|no)\b.*\|", line)
        if cells:
            one, other, same = cells.groups()
            pairs.append((_unescape(one), _unescape(other), same == "yes"))
    return pairs


def _unescape(cell: str) -> str:
    """`\\u200f` in the table stands for the invisible character it names."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), cell)


PAIRS = documented_pairs()


def test_the_readme_documents_merges_and_separations() -> None:
    assert sum(same for *_, same in PAIRS) >= 10 and sum(not same for *_, same in PAIRS) >= 5


@pytest.mark.parametrize(("one", "other", "same"), PAIRS, ids=[f"{a}|{b}" for a, b, _ in PAIRS])
def test_each_documented_pair(one: str, other: str, same: bool) -> None:
    assert (normalise(one) == normalise(other)) is same
    assert (person_key([one], SECRET) == person_key([other], SECRET)) is same


def test_numbers_and_identifier_order_as_documented() -> None:
    assert normalise(1990) == normalise(1990.0) == normalise("1990") == normalise("١٩٩٠")
    key = person_key(["Aicha", "Benali", 1990, "0612345678"], SECRET)
    assert key == person_key(["AÏCHA", " benali", "1990", "+212 6 12 34 56 78"], SECRET)
    assert key != person_key(["Benali", "Aicha", 1990, "0612345678"], SECRET)  # first and last name swapped
    assert key != person_key(["Aicha", "Benali", 1990, None], SECRET)  # without the phone
    assert key != person_key(["Aicha", "Benali", 1991, "0612345678"], SECRET)
    assert person_key([None, "", "  "], SECRET) is None
