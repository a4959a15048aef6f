"""The geometry of the HTML report's sending chart: hourly delivery attempts per region.

The chart covers the two weeks that GetSendStatistics returns, ending at the
hour after the statistics were read. Each region that sent mail gets a panel
with its own vertical scale, so a small burst in a quiet region stays visible
beside a busy one, and each suspected abuse window is marked on its panel.
Only numbers and region names leave this module; the template draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from remediate.core.timeutil import format_timestamp, parse_timestamp
from remediate.engine.journal import Record
from remediate.report.sending import SendingView, sending_records

CHART_SPAN = timedelta(days=14)
BIN = timedelta(hours=1)
WIDTH = 960
PLOT_LEFT = 150.0
PLOT_RIGHT = 940.0
TOP = 22.0
PANEL_HEIGHT = 60.0
PANEL_GAP = 26.0
AXIS_HEIGHT = 30.0
# A window of a few 15-minute points is narrower than a pixel over two weeks.
MIN_WINDOW_WIDTH = 4.0


@dataclass(frozen=True)
class ChartWindow:
    x: float
    width: float
    start: str
    end: str


@dataclass(frozen=True)
class ChartPanel:
    region: str
    top: float
    baseline: float
    peak: int  # the largest hourly count, which the panel's height stands for
    delivery_attempts: int
    area: str  # SVG path data of the hourly counts
    windows: list[ChartWindow]


@dataclass(frozen=True)
class ChartTick:
    x: float
    label: str


@dataclass(frozen=True)
class SendingChart:
    width: int
    height: float
    plot_left: float
    plot_right: float
    axis_y: float
    start: str
    end: str
    panels: list[ChartPanel]
    ticks: list[ChartTick]


def build_chart(records: Sequence[Record], sending: Sequence[SendingView]) -> SendingChart | None:
    """Lay out one panel per region that sent mail in the two weeks, or return None."""
    raw = sending_records(records)
    if not raw:
        return None
    read_at = max(parse_timestamp(record.time) for record in raw)
    end = read_at.replace(minute=0, second=0, microsecond=0) + BIN
    start = end - CHART_SPAN
    views = {view.region: view for view in sending}

    panels: list[ChartPanel] = []
    for record in raw:
        counts = _hourly_counts(record, start)
        if not any(counts):
            continue
        top = TOP + len(panels) * (PANEL_HEIGHT + PANEL_GAP)
        view = views.get(str(record.get("region")))
        panels.append(_panel(str(record.get("region")), counts, top, start, view))
    if not panels:
        return None
    axis_y = TOP + len(panels) * (PANEL_HEIGHT + PANEL_GAP) - PANEL_GAP + 4
    return SendingChart(
        width=WIDTH,
        height=axis_y + AXIS_HEIGHT,
        plot_left=PLOT_LEFT,
        plot_right=PLOT_RIGHT,
        axis_y=axis_y,
        start=format_timestamp(start),
        end=format_timestamp(end),
        panels=panels,
        ticks=_day_ticks(start, end),
    )


def _hourly_counts(record: Record, start: datetime) -> list[int]:
    counts = [0] * int(CHART_SPAN / BIN)
    for point in record.get("points") or []:
        if not isinstance(point, dict) or not point.get("timestamp"):
            continue
        index = int((parse_timestamp(str(point["timestamp"])) - start) / BIN)
        attempts = point.get("delivery_attempts")
        if 0 <= index < len(counts) and isinstance(attempts, int):
            counts[index] += attempts
    return counts


def _panel(
    region: str, counts: list[int], top: float, start: datetime, view: SendingView | None
) -> ChartPanel:
    baseline = top + PANEL_HEIGHT
    peak = max(counts)
    windows = []
    if view is not None and view.abuse_window is not None:
        window = view.abuse_window
        left = _x(parse_timestamp(window.start), start)
        right = _x(parse_timestamp(window.end), start)
        width = max(right - left, MIN_WINDOW_WIDTH)
        left = min(max(left, PLOT_LEFT), PLOT_RIGHT - width)
        windows.append(ChartWindow(round(left, 1), round(width, 1), window.start, window.end))
    return ChartPanel(
        region=region,
        top=top,
        baseline=baseline,
        peak=peak,
        delivery_attempts=sum(counts),
        area=_area_path(counts, baseline, peak),
        windows=windows,
    )


def _area_path(counts: list[int], baseline: float, peak: int) -> str:
    """Trace the hourly counts as steps, merging hours with the same count."""
    step = (PLOT_RIGHT - PLOT_LEFT) / len(counts)
    scale = (PANEL_HEIGHT - 4) / peak if peak else 0.0
    parts = [f"M{PLOT_LEFT:.1f},{baseline:.1f}"]
    previous: int | None = None
    for index, count in enumerate(counts):
        if count == previous:
            continue
        x = PLOT_LEFT + index * step
        height = baseline - count * scale
        if previous is not None:
            parts.append(f"L{x:.1f},{baseline - previous * scale:.1f}")
        parts.append(f"L{x:.1f},{height:.1f}")
        previous = count
    last = baseline - (previous or 0) * scale
    parts.append(f"L{PLOT_RIGHT:.1f},{last:.1f}")
    parts.append(f"L{PLOT_RIGHT:.1f},{baseline:.1f}Z")
    return " ".join(parts)


def _x(moment: datetime, start: datetime) -> float:
    fraction = (moment - start) / CHART_SPAN
    return PLOT_LEFT + min(max(fraction, 0.0), 1.0) * (PLOT_RIGHT - PLOT_LEFT)


def _day_ticks(start: datetime, end: datetime) -> list[ChartTick]:
    day = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    ticks = []
    while day < end:
        ticks.append(ChartTick(round(_x(day, start), 1), day.strftime("%m-%d")))
        day += timedelta(days=1)
    return ticks
