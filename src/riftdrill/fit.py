"""Least-squares straight lines, for the benches' "how does this grow" figures."""

from __future__ import annotations

import math


def line_fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares (intercept, slope) of y over x; needs two distinct x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var_x = sum((x - mean_x) ** 2 for x, _ in points)
    if var_x == 0:
        raise ValueError("line_fit needs at least two distinct x values")
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var_x
    return mean_y - slope * mean_x, slope


def residual_sd(points: list[tuple[float, float]], intercept: float, slope: float) -> float:
    """The points' standard deviation around the line (n - 2 degrees of freedom; 0 under 3)."""
    if len(points) < 3:
        return 0.0
    res = [y - (intercept + slope * x) for x, y in points]
    return math.sqrt(sum(r * r for r in res) / (len(points) - 2))
