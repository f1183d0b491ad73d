"""The pi page's geometry: numbers from a job's result, checked before they are drawn."""

import math

from app import charts


def test_scatter_flips_y_and_marks_the_inside():
    dots = charts.scatter([[0, 0], [1, 1], [0.5, 0.5]], size=100)
    assert dots == [
        charts.Dot(0.0, 100.0, True),
        charts.Dot(100.0, 0.0, False),
        charts.Dot(50.0, 50.0, True),
    ]


def test_scatter_skips_what_is_not_a_point():
    junk = [[2, 0], [0.1], "x", [True, 0.5], [float("nan"), 0.1], None, [0.1, 0.2]]
    assert charts.scatter(junk) == [charts.Dot(30.0, 240.0, True)]
    assert charts.scatter("not a list") == []


def test_convergence_spans_the_estimates_around_pi():
    line = charts.convergence([[1, 4.0], [2, 2.0], [4, 3.0], [8, 3.5]])
    assert line.first == 1 and line.last == 8
    assert math.isclose(line.high - math.pi, math.pi - line.low)
    assert line.high >= 4.0 and line.low <= 2.0
    assert line.path.startswith(f"M {charts.MARGIN:.1f} ")
    assert line.path.count(" L ") == 3
    assert 0 < line.pi_y < charts.HEIGHT - charts.MARGIN


def test_convergence_needs_two_points():
    assert charts.convergence([[1, 4.0]]) is None
    assert charts.convergence(None) is None
    assert charts.convergence([[0, 3.0], [-1, 3.0], ["a", 1]]) is None


def test_pi_picture_refuses_a_result_of_another_shape():
    assert charts.pi_picture("3.14") is None
    assert charts.pi_picture({"estimate": "3.14", "samples": 10, "inside": 8}) is None


def test_pi_picture():
    picture = charts.pi_picture(
        {"estimate": 3.2, "samples": 10, "inside": 8, "points": [[0.1, 0.1]], "convergence": []}
    )
    assert picture.error == 3.2 - math.pi
    assert picture.samples == 10 and picture.inside == 8
    assert len(picture.dots) == 1
    assert picture.convergence is None
