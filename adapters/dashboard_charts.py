"""The admin dashboard as pictures: the story funnel, users per day, Stars revenue and besitos per day, as PNG.

Pure functions of a :class:`~adapters.dashboard.Dashboard` (the same snapshot as the dashboard's text) and the
admin's language; every word on a picture comes from the locale files. Each ``*_data`` function gives what a
chart draws (its tests check those numbers); each ``*_chart`` function draws it. Pictures are made for a phone:
1080 px wide, portrait, large type, the same size each time (an album of them tiles evenly).

Drawing is CPU work (a few hundred milliseconds): callers on an event loop run :func:`dashboard_charts` in a
thread (``asyncio.to_thread``). Matplotlib is imported inside the drawing functions, the first time a chart is
drawn, so the bot and the worker start without paying for it; only its Agg renderer is used (no GUI, no pyplot).
"""

from __future__ import annotations

import html
import io
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

from adapters.dashboard import REVENUE_SOURCES, Dashboard
from adapters.texts import t
from workflows.contracts import Language

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

WIDTH_PX: Final = 1080
HEIGHT_PX: Final = 1350  # 4:5, what a phone shows whole in portrait
MAX_HEIGHT_PX: Final = 2560  # Telegram keeps a photo's long side up to 2560 px
DPI: Final = 144
# One funnel row (three bars) needs this many pixels to stay readable; a longer story makes a taller picture.
FUNNEL_ROW_PX: Final = 56
FUNNEL_CHROME_PX: Final = 330  # title, legend and axis around the rows
MAX_CHART_FRAGMENTS: Final = 40  # the rest are named in the text, as the text's own limit does
MAX_LABEL: Final = 26  # characters of a fragment's "id title" on the axis
TITLE_SIZE: Final = 26
TEXT_SIZE: Final = 17
TICK_SIZE: Final = 15
COLORS: Final = {"reached": "#9ecae1", "completed": "#2c7fb8", "here": "#f28e2b", "active": "#2c7fb8",
                 "new": "#59a14f", "vip": "#b07aa1", "paid_media": "#edc948", "earned": "#e15759",
                 "spent": "#76b7b2"}  # fmt: skip
OTHER_COLOR: Final = "#bab0ac"
# Matplotlib keeps global state (fonts, rc settings) that threads drawing at once could trip over.
_DRAWING: Final = threading.Lock()


@dataclass(frozen=True)
class Series:
    key: str  # stable: "reached", "active", "vip"...
    label: str  # in the admin's language
    values: list[int]


@dataclass(frozen=True)
class ChartData:
    """What one chart draws: one value per category (a fragment, a day) for each series, in drawing order."""

    title: str
    subtitle: str
    categories: list[str]
    series: list[Series]
    notes: list[str] = field(default_factory=list)  # lines under the title (totals, what was left out)

    def values(self, key: str) -> list[int]:
        return next(series.values for series in self.series if series.key == key)

    @property
    def empty(self) -> bool:
        return not any(any(series.values) for series in self.series)


@dataclass(frozen=True)
class Chart:
    name: str  # "funnel", "activity", "revenue", "besitos": the file's name
    caption: str  # HTML, in the admin's language
    png: bytes


def _text(key: str, language: str, **params: str | int) -> str:
    """A locale text as plain text (the locale files are HTML; a picture shows characters, not entities)."""
    return html.unescape(t(key, language, **params))


def _subtitle(figures: Dashboard, language: str) -> str:
    generated = figures.generated_at.astimezone(ZoneInfo(figures.timezone)).strftime("%Y-%m-%d %H:%M")
    return _text("admin.dashboard.chart.subtitle", language, generated=generated, timezone=figures.timezone)


def _day(day: date, language: str) -> str:
    return _text("admin.dashboard.chart.day", language, day=day.day, month=day.month)


def _drawable(text: str) -> str:
    """Without characters the bundled font has no glyph for (emoji, outside the BMP): no warnings, no boxes."""
    return "".join(char for char in text if ord(char) <= 0xFFFF and not 0xFE00 <= ord(char) <= 0xFE0F).strip()


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1].rstrip() + "…"


# What the charts show ----------------------------------------------------------------------------------------


def funnel_data(figures: Dashboard, language: str) -> ChartData:
    """Reached, completed and there now per fragment, in the story's order (fragments no longer in the content last)."""
    rows = figures.funnel[:MAX_CHART_FRAGMENTS]
    lang: Language = "en" if language == "en" else "es"
    labels = [_short(_drawable(f"{row.fragment_id} {row.title.get(lang)}" if row.title else
                               f"{row.fragment_id} {_text('admin.dashboard.chart.funnel.gone', language)}"))
              for row in rows]  # fmt: skip
    notes = []
    if len(figures.funnel) > MAX_CHART_FRAGMENTS:
        notes.append(_text("admin.dashboard.chart.funnel.more", language,
                           count=len(figures.funnel) - MAX_CHART_FRAGMENTS))  # fmt: skip
    return ChartData(
        title=_text("admin.dashboard.chart.funnel.title", language),
        subtitle=_subtitle(figures, language),
        categories=labels,
        series=[
            Series(key, _text(f"admin.dashboard.chart.funnel.{key}", language), [getattr(row, key) for row in rows])
            for key in ("reached", "completed", "here")
        ],
        notes=notes,
    )


def activity_data(figures: Dashboard, language: str) -> ChartData:
    """Active and new users per local day, oldest first, today last."""
    active = [day.active for day in figures.days]
    new = [day.new for day in figures.days]
    days = len(figures.days)
    average = round(sum(active) / days) if days else 0
    active_label = _text("admin.dashboard.chart.activity.active", language, today=active[-1] if active else 0,
                         days=days, average=average)  # fmt: skip
    new_label = _text("admin.dashboard.chart.activity.new", language, today=new[-1] if new else 0, days=days,
                      total=sum(new))  # fmt: skip
    return ChartData(
        title=_text("admin.dashboard.chart.activity.title", language),
        subtitle=_subtitle(figures, language),
        categories=[_day(day.day, language) for day in figures.days],
        series=[Series("active", active_label, active), Series("new", new_label, new)],
    )


def revenue_data(figures: Dashboard, language: str) -> ChartData:
    """Net Stars per local day, one series per source (VIP, paid media, then any other the query returns)."""
    sources = list(figures.revenue_days[0].stars) if figures.revenue_days else list(REVENUE_SOURCES)
    series = []
    for source in sources:
        key = f"admin.dashboard.chart.revenue.source.{source}"
        label = _text(key, language) if source in REVENUE_SOURCES else source
        series.append(Series(source, label, [day.stars.get(source, 0) for day in figures.revenue_days]))
    net = sum(sum(s.values) for s in series)
    return ChartData(
        title=_text("admin.dashboard.chart.revenue.title", language),
        subtitle=_subtitle(figures, language),
        categories=[_day(day.day, language) for day in figures.revenue_days],
        series=series,
        notes=[_text("admin.dashboard.chart.revenue.total", language, days=len(figures.revenue_days), net=net)],
    )


def besitos_data(figures: Dashboard, language: str) -> ChartData:
    """Besitos earned and spent (net of refunds) per local day, oldest first (``adapters.shop_figures`` defines them)."""
    days = figures.shop.besitos_days
    earned, spent = [day.earned for day in days], [day.spent for day in days]
    return ChartData(
        title=_text("admin.dashboard.chart.besitos.title", language),
        subtitle=_subtitle(figures, language),
        categories=[_day(day.day, language) for day in days],
        series=[Series("earned", _text("admin.dashboard.chart.besitos.earned", language, total=sum(earned)), earned),
                Series("spent", _text("admin.dashboard.chart.besitos.spent", language, total=sum(spent)), spent)],
        notes=[_text("admin.dashboard.chart.besitos.total", language, days=len(days), earned=sum(earned),
                     spent=sum(spent))],
    )  # fmt: skip


# Drawing -----------------------------------------------------------------------------------------------------


def funnel_chart(figures: Dashboard, language: str) -> bytes:
    """The story funnel: for each fragment, three horizontal bars (reached, completed, there now)."""
    data = funnel_data(figures, language)
    rows = len(data.categories)
    height = min(MAX_HEIGHT_PX, max(HEIGHT_PX, FUNNEL_CHROME_PX + FUNNEL_ROW_PX * rows))
    figure, axes = _figure(data, height)
    ax = axes[0]
    bar = 0.27
    for offset, series in zip((-bar, 0.0, bar), data.series, strict=True):
        positions = [row + offset for row in range(rows)]
        ax.barh(positions, series.values, height=bar, color=COLORS[series.key], label=series.label)
    # The reached figure at the end of its bar: the one number an admin reads down the funnel.
    reached = data.values("reached")
    for row, value in enumerate(reached):
        if value:
            ax.annotate(str(value), (value, row - bar), xytext=(4, 0), textcoords="offset points", va="center",
                        fontsize=TICK_SIZE - 2)  # fmt: skip
    ax.set_yticks(range(rows), data.categories, fontsize=TICK_SIZE)
    ax.set_ylim(max(rows, 1) - 0.5, -0.5)  # the story's first fragment on top
    ax.set_xlim(0, max(1, max(reached, default=0)) * 1.18)
    ax.set_xlabel(_text("admin.dashboard.chart.funnel.axis", language), fontsize=TEXT_SIZE)
    _count_ticks(ax.xaxis, language)
    ax.grid(axis="x", alpha=0.3)
    _legend(ax, 3)
    _no_data(ax, data, language)
    return _png(figure)


def activity_chart(figures: Dashboard, language: str) -> bytes:
    """Users per day: active on top, new below, one bar per local day (today on the right)."""
    data = activity_data(figures, language)
    figure, axes = _figure(data, HEIGHT_PX, panels=len(data.series))
    for ax, series in zip(axes, data.series, strict=True):
        ax.bar(range(len(series.values)), series.values, color=COLORS[series.key], width=0.75)
        ax.set_title(series.label, fontsize=TEXT_SIZE, loc="left")
        _days_axis(ax, data.categories)
        _counts_axis(ax, series.values, language)
        _no_data(ax, ChartData(data.title, data.subtitle, data.categories, [series]), language)
    return _png(figure)


def revenue_chart(figures: Dashboard, language: str) -> bytes:
    """Net Stars per local day, stacked by source (today on the right)."""
    data = revenue_data(figures, language)
    figure, axes = _figure(data, HEIGHT_PX)
    ax = axes[0]
    bottoms = [0] * len(data.categories)
    for series in data.series:
        total = sum(series.values)
        ax.bar(range(len(series.values)), series.values, bottom=bottoms, width=0.75,
               color=COLORS.get(series.key, OTHER_COLOR), label=f"{series.label}: {total}")  # fmt: skip
        bottoms = [below + value for below, value in zip(bottoms, series.values, strict=True)]
    _days_axis(ax, data.categories)
    _counts_axis(ax, bottoms, language)
    ax.set_ylabel(_text("admin.dashboard.chart.revenue.axis", language), fontsize=TEXT_SIZE)
    _legend(ax, len(data.series))
    _no_data(ax, data, language)
    return _png(figure)


def besitos_chart(figures: Dashboard, language: str) -> bytes:
    """Besitos per day: earned and spent side by side, one pair per local day (today on the right). A day with more
    refunded than spent goes below zero."""
    data = besitos_data(figures, language)
    figure, axes = _figure(data, HEIGHT_PX)
    ax = axes[0]
    bar = 0.4
    for offset, series in zip((-bar / 2, bar / 2), data.series, strict=True):
        ax.bar([day + offset for day in range(len(series.values))], series.values, width=bar,
               color=COLORS[series.key], label=series.label)  # fmt: skip
    _days_axis(ax, data.categories)
    values = [value for series in data.series for value in series.values]
    _counts_axis(ax, values, language)
    lowest = min(values, default=0)
    if lowest < 0:
        ax.set_ylim(lowest * 1.15, max(1, max(values)) * 1.15)
        ax.axhline(0, color="#555555", linewidth=0.8)
    ax.set_ylabel(_text("admin.dashboard.chart.besitos.axis", language), fontsize=TEXT_SIZE)
    _legend(ax, 1)
    _no_data(ax, data, language)
    return _png(figure)


def dashboard_charts(figures: Dashboard, language: str) -> list[Chart]:
    """The dashboard's pictures, in the order an album shows them, each with its caption."""
    net = sum(sum(day.stars.values()) for day in figures.revenue_days)
    days = len(figures.days)
    with _DRAWING:
        return [
            Chart("funnel", t("admin.dashboard.caption.funnel", language), funnel_chart(figures, language)),
            Chart("activity", t("admin.dashboard.caption.activity", language, days=days),
                  activity_chart(figures, language)),
            Chart("revenue", t("admin.dashboard.caption.revenue", language, days=len(figures.revenue_days), net=net),
                  revenue_chart(figures, language)),
            Chart("besitos", t("admin.dashboard.caption.besitos", language, days=len(figures.shop.besitos_days),
                               earned=figures.shop.earned, spent=figures.shop.spent),
                  besitos_chart(figures, language)),
        ]  # fmt: skip


def _figure(data: ChartData, height_px: int, *, panels: int = 1) -> tuple[Figure, list[Axes]]:
    """A figure of exactly WIDTH_PX × ``height_px``: the title on top; the notes, and when and in which time zone
    the figures were read, as a footer."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / DPI, height_px / DPI), dpi=DPI, layout="constrained")
    figure.suptitle(_drawable(data.title), fontsize=TITLE_SIZE, fontweight="bold")
    figure.supxlabel(_drawable("\n".join([*data.notes, data.subtitle])), fontsize=TICK_SIZE, color="#555555")
    axes = list(figure.subplots(panels, 1, squeeze=False)[:, 0])
    for ax in axes:
        ax.tick_params(labelsize=TICK_SIZE)
        ax.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _legend(ax: Axes, columns: int) -> None:
    """Just above the chart, where constrained layout makes room for it (a figure legend would cover the title);
    flush right, so a wide legend reaches into the axis labels' margin instead of narrowing the chart."""
    ax.legend(loc="lower right", bbox_to_anchor=(1, 1.01), ncols=columns, fontsize=TEXT_SIZE, frameon=False,
              borderaxespad=0, handlelength=1.2, columnspacing=1.2)  # fmt: skip


def _days_axis(ax: Axes, days: list[str]) -> None:
    """One bar per day; a label every seventh day counting back from today (the last), so today is always named."""
    ticks = list(range(len(days) - 1, -1, -7))[::-1]
    ax.set_xticks(ticks, [days[i] for i in ticks], fontsize=TICK_SIZE)
    ax.set_xlim(-0.6, len(days) - 0.4)


def _counts_axis(ax: Axes, values: list[int], language: str) -> None:
    ax.set_ylim(0, max(1, max(values, default=0)) * 1.15)
    _count_ticks(ax.yaxis, language)
    ax.grid(axis="y", alpha=0.3)


def _count_ticks(axis: Axis, language: str) -> None:
    """A few whole-number ticks; from 10 000 on, in thousands ("15 mil"), so five of them fit across a phone."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    def label(value: float, _: int | None) -> str:
        whole = round(value)
        if abs(whole) >= 10_000 and whole % 1000 == 0:
            return _text("admin.dashboard.chart.thousands", language, count=whole // 1000)
        return str(whole)

    axis.set_major_locator(MaxNLocator(nbins=5, integer=True, min_n_ticks=1))
    axis.set_major_formatter(FuncFormatter(label))


def _no_data(ax: Axes, data: ChartData, language: str) -> None:
    """An empty chart says so in the picture instead of showing bare axes."""
    if data.empty:
        ax.text(0.5, 0.5, _text("admin.dashboard.chart.no_data", language), transform=ax.transAxes, ha="center",
                va="center", fontsize=TITLE_SIZE, color="#888888")  # fmt: skip


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    # No "Software" stamp: the same figures give the same bytes.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
