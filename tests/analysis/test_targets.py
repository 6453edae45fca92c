"""Baselines, targets, achievement and on-track status, in each direction of change."""

import pytest

from analysis.targets import Status, assess, target_for
from catalogue.model import Indicator
from tests.analysis.builders import indicator


def make(direction: str = "increase", tolerance: float | None = None, baseline: float = 0) -> Indicator:
    return Indicator.model_validate(
        indicator(
            "X",
            "attendance",
            {"aggregation": "count"},
            "sum",
            ["sex"],
            direction=direction,
            tolerance=tolerance,
            baseline=baseline,
            targets=[
                {"period": "2026Q2", "value": 100},
                {"period": "LOP", "value": 400},
                {"period": "LOP", "value": 200, "by": {"sex": "female"}},
            ],
        )
    )


@pytest.mark.parametrize(
    ("actual", "status"),
    [(84, Status.off_track), (85, Status.on_track), (115, Status.on_track), (116, Status.exceeded)],
)
def test_increase_is_on_track_within_15_percent(actual: float, status: Status) -> None:
    result = assess(make(), "2026Q2", actual)
    assert (result.status, result.achievement, result.target) == (status, actual, 100)


def test_the_indicator_tolerance_overrides_the_default() -> None:
    assert assess(make(tolerance=0.05), "2026Q2", 90).status is Status.off_track
    assert assess(make(tolerance=0.05), "2026Q2", 96).status is Status.on_track


def test_decrease_counts_the_share_of_the_planned_reduction() -> None:
    indicator_ = make(direction="decrease", baseline=150)
    result = assess(indicator_, "2026Q2", 125)
    assert result.achievement == 50.0  # halfway from 150 to 100
    assert result.status is Status.off_track
    assert assess(indicator_, "2026Q2", 110).status is Status.on_track
    assert assess(indicator_, "2026Q2", 80).status is Status.exceeded


def test_maintain_is_on_track_on_either_side() -> None:
    assert assess(make(direction="maintain"), "2026Q2", 110).status is Status.on_track
    assert assess(make(direction="maintain"), "2026Q2", 80).status is Status.off_track


def test_targets_are_read_for_the_exact_period_and_split() -> None:
    ind = make()
    assert target_for(ind, "LOP") == 400  # never the sum of quarterly targets
    assert target_for(ind, "LOP", {"sex": "female"}) == 200
    assert target_for(ind, "2026Q3") is None
    assert assess(ind, "LOP", 150, {"sex": "female"}).achievement == 75.0
    assert assess(ind, "LOP", 150, {"sex": "female"}).baseline is None
    assert assess(ind, "2026Q3", 10).status is Status.no_target
    assert assess(ind, "2026Q2", None).status is Status.no_data
