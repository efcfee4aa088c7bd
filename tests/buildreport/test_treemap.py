"""buildreport/treemap: the squarified layout tiles its rectangle, areas follow the values, children stay inside."""

from __future__ import annotations

import itertools

import pytest

from bundler.buildreport.treemap import Rect, layout, squarify


def _overlap(a: Rect, b: Rect) -> float:
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    return max(w, 0) * max(h, 0)


def _inside(inner: Rect, outer: Rect, eps: float = 1e-6) -> bool:
    return (inner.x >= outer.x - eps and inner.y >= outer.y - eps
            and inner.x + inner.w <= outer.x + outer.w + eps and inner.y + inner.h <= outer.y + outer.h + eps)


@pytest.mark.parametrize("values", [[6, 6, 4, 3, 2, 2, 1], [1], [100, 1, 1, 1], [5, 0, 3], list(range(40, 0, -1))])
def test_areas_are_proportional_and_tile_the_rectangle(values):
    rect = Rect(10, 20, 600, 400)
    rects = squarify(values, rect)
    assert len(rects) == len(values)
    total = sum(values)
    for v, r in zip(values, rects):
        assert r.area == pytest.approx(rect.area * v / total, rel=1e-9, abs=1e-9)
        assert _inside(r, rect)
    assert sum(r.area for r in rects) == pytest.approx(rect.area)
    for a, b in itertools.combinations(rects, 2):
        assert _overlap(a, b) == pytest.approx(0, abs=1e-6)


def test_squarified_boxes_are_not_slivers():
    rects = squarify([1] * 16, Rect(0, 0, 400, 400))
    assert max(max(r.w / r.h, r.h / r.w) for r in rects) < 2.5


def test_nothing_to_lay_out():
    assert squarify([0, 0], Rect(0, 0, 10, 10)) == [Rect(0, 0, 0, 0), Rect(0, 0, 0, 0)]
    assert squarify([], Rect(0, 0, 10, 10)) == []


def test_children_lie_inside_their_parent_below_its_label():
    tree = {"a": ["a1", "a2", "a3"], "b": ["b1"], "a1": [], "a2": [], "a3": [], "b1": []}
    sizes = {"a": 60, "b": 40, "a1": 30, "a2": 20, "a3": 10, "b1": 40}
    placed = layout(["a", "b"], Rect(0, 0, 500, 300), sizes.__getitem__, tree.__getitem__, label=16, pad=2)
    where = {p.node: p for p in placed}
    assert [p.node for p in placed] == ["a", "a1", "a2", "a3", "b", "b1"]  # parents first
    for parent, kids in tree.items():
        for kid in kids:
            child, outer = where[kid].rect, where[parent].rect
            assert _inside(child, outer) and child.y >= outer.y + 16 - 1e-9
            assert where[kid].depth == where[parent].depth + 1
