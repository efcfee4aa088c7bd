"""Squarified treemap layout (Bruls, Huizing, van Wijk 2000): sizes → rectangles, as pure arithmetic.

:func:`squarify` lays out one level; :func:`layout` nests it, leaving a strip
at the top of every box that has children for its label.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    @property
    def area(self) -> float:
        return self.w * self.h


@dataclass(frozen=True)
class Placed(Generic[T]):
    node: T
    rect: Rect
    depth: int


def _worst(row: Sequence[float], side: float) -> float:
    """The worst aspect ratio of *row* (areas) laid along a side of length *side*."""
    s = sum(row)
    if s <= 0 or side <= 0:
        return float("inf")
    return max(max(side * side * r / (s * s), (s * s) / (side * side * r)) for r in row if r > 0)


def squarify(values: Sequence[float], rect: Rect) -> list[Rect]:
    """Rectangles tiling *rect* with areas proportional to *values* (in order; zero values get empty boxes)."""
    total = sum(v for v in values if v > 0)
    if total <= 0 or rect.area <= 0:
        return [Rect(rect.x, rect.y, 0, 0) for _ in values]
    scale = rect.area / total
    areas = [max(v, 0) * scale for v in values]
    out: list[Rect | None] = [None] * len(values)
    free = rect
    i = 0
    order = [k for k in range(len(values)) if areas[k] > 0]
    while i < len(order):
        side = min(free.w, free.h)
        row = [order[i]]
        i += 1
        while i < len(order) and _worst([areas[k] for k in row + [order[i]]], side) <= _worst([areas[k] for k in row], side):
            row.append(order[i])
            i += 1
        s = sum(areas[k] for k in row)
        if free.w >= free.h:  # a column along the left side
            width = s / free.h if free.h else 0
            y = free.y
            for k in row:
                h = areas[k] / width if width else 0
                out[k] = Rect(free.x, y, width, h)
                y += h
            free = Rect(free.x + width, free.y, max(free.w - width, 0), free.h)
        else:  # a row along the top
            height = s / free.w if free.w else 0
            x = free.x
            for k in row:
                w = areas[k] / height if height else 0
                out[k] = Rect(x, free.y, w, height)
                x += w
            free = Rect(free.x, free.y + height, free.w, max(free.h - height, 0))
    return [r if r is not None else Rect(rect.x, rect.y, 0, 0) for r in out]


def layout(
    nodes: Sequence[T],
    rect: Rect,
    size: Callable[[T], float],
    children: Callable[[T], Sequence[T]],
    *,
    label: float = 16,
    pad: float = 2,
    depth: int = 0,
) -> list[Placed[T]]:
    """Every node of the forest *nodes* with its rectangle, parents before their children.

    A box with children keeps a *label* strip at its top and a *pad* margin
    around them, when it is large enough to; otherwise its children fill it.
    Every node is placed, however small its box.
    """
    placed: list[Placed[T]] = []
    for node, r in zip(nodes, squarify([size(n) for n in nodes], rect)):
        placed.append(Placed(node, r, depth))
        kids = children(node)
        if not kids:
            continue
        if r.w < 4 * pad or r.h < 4 * pad:  # too small for a frame: the children fill it
            inner = r
        else:
            top = label if r.h > 3 * label and r.w > 40 else pad
            inner = Rect(r.x + pad, r.y + top, r.w - 2 * pad, r.h - top - pad)
        placed.extend(layout(kids, inner, size, children, label=label, pad=pad, depth=depth + 1))
    return placed
