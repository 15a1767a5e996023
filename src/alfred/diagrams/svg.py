"""A very small SVG writer: boxes with a coloured title band, text lines and arrows. Output is deterministic."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr  # nosec B406 - escapes SVG we write; nothing is parsed

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
TEXT = "#2c3e50"
LINE_H = 18
TITLE_H = 28
CHAR_W = 6.8  # average advance of a 12px sans glyph: long lines are cut to fit their box


@dataclass(frozen=True)
class Box:
    """A placed box: where its edges are, for arrows to attach to."""

    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> tuple[float, float]:
        return (self.x + self.w, self.y + self.h / 2)

    @property
    def left(self) -> tuple[float, float]:
        return (self.x, self.y + self.h / 2)

    @property
    def top(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y)

    @property
    def bottom(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h)


def box_height(lines: int) -> float:
    return TITLE_H + LINE_H * lines + 12


def fit(text: str, width: float, size: float = 12) -> str:
    limit = max(4, int((width - 20) / (CHAR_W * size / 12)))
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Svg:
    """Collects elements, then renders one standalone SVG document."""

    width: int
    height: int
    title: str
    _body: list[str] = field(default_factory=list)
    _markers: dict[str, None] = field(default_factory=dict)

    def text(
        self,
        x: float,
        y: float,
        content: str,
        *,
        size: float = 12,
        weight: str = "normal",
        anchor: str = "start",
        fill: str = TEXT,
    ) -> None:
        self._body.append(
            f'<text x="{x:g}" y="{y:g}" font-size="{size:g}" font-weight="{weight}" '
            f'text-anchor="{anchor}" fill="{fill}">{escape(content)}</text>'
        )

    def rect(self, x: float, y: float, w: float, h: float, *, fill: str, stroke: str, rx: float = 8) -> None:
        self._body.append(
            f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="{rx:g}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="2"/>'
        )

    def box(self, x: float, y: float, w: float, title: str, lines: list[str], colour: str, tint: str) -> Box:
        """A box with a coloured title band and its text lines; its height follows the line count."""
        h = box_height(len(lines))
        self.rect(x, y, w, h, fill=tint, stroke=colour)
        self._body.append(
            f'<path d="M{x:g},{y + TITLE_H:g} V{y + 8:g} a8,8 0 0 1 8,-8 H{x + w - 8:g} a8,8 0 0 1 8,8 '
            f'V{y + TITLE_H:g} Z" fill="{colour}"/>'
        )
        self.text(x + 12, y + 19, fit(title, w, 14), size=14, weight="bold", fill="#ffffff")
        for i, line in enumerate(lines):
            self.text(x + 12, y + TITLE_H + 17 + i * LINE_H, fit(line, w))
        return Box(x, y, w, h)

    def arrow(
        self,
        points: list[tuple[float, float]],
        colour: str,
        *,
        label: str | None = None,
        dashed: bool = False,
    ) -> None:
        marker = "arrow-" + colour.lstrip("#")
        self._markers[colour] = None
        path = " ".join(f"{'M' if i == 0 else 'L'}{x:g},{y:g}" for i, (x, y) in enumerate(points))
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        self._body.append(
            f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2.5"{dash} marker-end="url(#{marker})"/>'
        )
        if label:
            (x1, y1), (x2, y2) = points[-2], points[-1]
            if x1 == x2:  # vertical: beside the line, not across it
                self.text(x1 + 8, (y1 + y2) / 2 + 4, label, size=11, weight="bold", fill=colour)
            else:
                self.text(
                    (x1 + x2) / 2,
                    (y1 + y2) / 2 - 7,
                    label,
                    size=11,
                    weight="bold",
                    anchor="middle",
                    fill=colour,
                )

    def render(self) -> str:
        markers = "".join(
            f'<marker id="arrow-{c.lstrip("#")}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>'
            for c in self._markers
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}" font-family={quoteattr(FONT)}>\n'
            f"<title>{escape(self.title)}</title>\n<defs>{markers}</defs>\n"
            f'<rect width="{self.width}" height="{self.height}" fill="#ffffff"/>\n'
            + "\n".join(self._body)
            + "\n</svg>\n"
        )
