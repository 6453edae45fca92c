"""Baseline, target, achievement and on-track status of a value: what the tracking table, API and reports show.

Achievement is actual/target for indicators that should increase (or be maintained), and the share of the
planned reduction achieved, (baseline − actual)/(baseline − target), for those that should decrease (Hikaya
#397: a decreasing indicator needs its own formula). The status compares the actual with the target within a
tolerance (±15 % unless the indicator sets `on_track_tolerance`), in the indicator's direction: beyond the
target by more than the tolerance is `exceeded` (worth a look: the target may be too low), short of it by more
is `off_track`. Only targets written for that exact period and split are used; LOP targets are never the sum of
quarterly ones (Hikaya #645).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from catalogue.model import Direction, Indicator

DEFAULT_TOLERANCE = 0.15


class Status(StrEnum):
    on_track = "on_track"
    off_track = "off_track"
    exceeded = "exceeded"
    no_target = "no_target"
    no_data = "no_data"


@dataclass(frozen=True)
class Assessment:
    baseline: float | None
    target: float | None
    actual: float | None
    achievement: float | None
    """Percent of the target achieved (direction-aware); None without a target or a value."""
    status: Status
    tolerance: float


def target_for(indicator: Indicator, period: str, dims: Mapping[str, str] | None = None) -> float | None:
    """The target written for this period and this exact split (`{}` for the total), or None."""
    wanted = dict(dims or {})
    for target in indicator.targets:
        if target.period == period and dict(target.by) == wanted:
            return target.value
    return None


def baseline_for(indicator: Indicator, dims: Mapping[str, str] | None = None) -> float | None:
    """The baseline value; the catalogue has baselines for totals only, so a split has none."""
    return None if dims else indicator.baseline.value


def achievement(direction: Direction, actual: float, target: float, baseline: float | None) -> float | None:
    """Percent achieved: actual/target, or for a decrease the share of the planned reduction achieved."""
    if direction is Direction.decrease and baseline is not None and baseline != target:
        return 100.0 * (baseline - actual) / (baseline - target)
    if direction is Direction.decrease:
        return 100.0 * target / actual if actual else None
    return 100.0 * actual / target if target else None


def status(direction: Direction, actual: float, target: float, tolerance: float) -> Status:
    """On track within ±tolerance of the target, in the indicator's direction (relative deviation, rounded so
    that 115 against 100 at 15 % is on track despite binary floating point)."""
    if target == 0:
        deviation = 0.0 if actual == 0 else (1.0 if actual > 0 else -1.0) * float("inf")
    else:
        deviation = round((actual - target) / abs(target), 9)
    if direction is Direction.maintain:
        return Status.on_track if abs(deviation) <= tolerance else Status.off_track
    if direction is Direction.decrease:
        deviation = -deviation
    if deviation < -tolerance:
        return Status.off_track
    return Status.exceeded if deviation > tolerance else Status.on_track


def assess(
    indicator: Indicator, period: str, actual: float | None, dims: Mapping[str, str] | None = None
) -> Assessment:
    """Baseline, target, achievement % and status of a value of this indicator for a period and split."""
    tolerance = indicator.on_track_tolerance or DEFAULT_TOLERANCE
    baseline = baseline_for(indicator, dims)
    target = target_for(indicator, period, dims)
    if actual is None:
        return Assessment(baseline, target, None, None, Status.no_data, tolerance)
    if target is None:
        return Assessment(baseline, None, actual, None, Status.no_target, tolerance)
    return Assessment(
        baseline,
        target,
        actual,
        achievement(indicator.direction, actual, target, baseline),
        status(indicator.direction, actual, target, tolerance),
        tolerance,
    )
