"""The timeline as a picture: a time axis in days and weeks, one lane per party, a legend.

Drawn with matplotlib rather than a hand-written SVG template: one drawing gives both SVG and PNG,
it ships its own font (DejaVu Sans), so the PNG's text renders on a machine with no fonts and no
Cairo, and it lays out axes, ticks and legends that a template would have to reinvent. Its cost
(about 120 MB installed with numpy and Pillow) falls on the `local` extra only: the worker image
never installs it, and it is imported only by `postinterview simulate`. SVG text stays text
(svg.fonttype none), so labels can be searched, selected and checked.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cli.simulation.timeline import KINDS, Entry, Timeline
from domain.business_time import is_business_day

# Kind -> (colour, marker). Colour-blind safe (Okabe-Ito) and told apart by shape as well.
STYLE = {
    "event": ("#555555", "o"),
    "milestone": ("#8E44AD", "D"),
    "task": ("#0072B2", "s"),
    "message": ("#009E73", ">"),
    "reminder": ("#E69F00", "^"),
    "escalation": ("#D55E00", "X"),
    "close-out": ("#000000", "P"),
    "note": ("#999999", "*"),
}
FONT_SIZE = 7.5
ROW = 1.0  # height of one label row, in y units
CHAR_INCHES = FONT_SIZE * 0.6 / 72  # DejaVu Sans averages about 0.6 em a character


def draw(timeline: Timeline, path: Path) -> None:
    """Write the picture to `path`; SVG or PNG by its suffix."""
    import matplotlib

    matplotlib.use("Agg")  # never a window: this runs in terminals and CI
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["font.family"] = "DejaVu Sans"
    # A fixed hash salt makes two drawings of one timeline byte-identical.
    matplotlib.rcParams["svg.hashsalt"] = "postinterview"

    span = max(timeline.span_days, 1)
    plot_inches = min(max(0.8 * span, 11.0), 28.0)
    per_day = plot_inches / span

    # Lay the labels out lane by lane: a label goes on the first row of its lane where it does not
    # overlap the label before it, so a busy afternoon stacks instead of overprinting.
    drawn = [e for e in timeline.entries if e.kind != "done"]
    rows: dict[int, int] = {}
    lane_rows: dict[str, int] = {}
    right = float(span)
    for lane in timeline.lanes:
        ends: list[float] = []
        for index, entry in enumerate(drawn):
            if entry.lane != lane:
                continue
            x = timeline.days(entry.at)
            width = (len(entry.label) + 3) * CHAR_INCHES / per_day
            row = next((r for r, end in enumerate(ends) if end <= x), len(ends))
            if row == len(ends):
                ends.append(0.0)
            ends[row] = x + width
            rows[index] = row
            right = max(right, x + width)
        lane_rows[lane] = max(len(ends), 1)
    tops: dict[str, float] = {}
    y = 0.0
    for lane in timeline.lanes:
        tops[lane] = y
        y += lane_rows[lane] * ROW + 0.6
    total = y

    height = 1.6 + total * 0.24 + 1.2
    # The axis stretches to fit the last labels, at the same inches per day the layout used.
    plot_inches = per_day * (right + 0.05)
    figure = Figure(figsize=(plot_inches + 2.6, height), dpi=110)
    axes = figure.add_axes((2.2 / (plot_inches + 2.6), 1.3 / height, plot_inches / (plot_inches + 2.6), (height - 2.5) / height))
    # Room on the right for the labels of the last days.
    axes.set_xlim(0, right + 0.05)
    axes.set_ylim(total, -0.3)

    # Days off in the office: weekends and public holidays, when deadlines stand still.
    office = timeline.record.office
    day0 = timeline.local(timeline.record.day0).date()
    for n in range(span + 1):
        if not is_business_day(day0 + timedelta(days=n), office):
            axes.axvspan(n, n + 1, color="#EEEEEE", zorder=0, linewidth=0)
    for week in range(0, span + 1, 7):
        axes.axvline(week, color="#BBBBBB", linewidth=0.8, zorder=1)
        axes.text(week + 0.05, -0.25, f"week {week // 7 + 1}", fontsize=FONT_SIZE, color="#777777", va="bottom")
    axes.axvline(timeline.days(timeline.record.end), color="#777777", linewidth=0.8, linestyle=":", zorder=1)

    every = 1 if span <= 28 else 7
    ticks = list(range(0, span + 1, every))
    axes.set_xticks(ticks)
    axes.set_xticklabels([f"day {n}\n{day0 + timedelta(days=n):%a %d %b}" for n in ticks], fontsize=FONT_SIZE)
    if every > 1:
        axes.set_xticks(range(span + 1), minor=True)
    axes.set_yticks([tops[lane] + lane_rows[lane] * ROW / 2 - 0.2 for lane in timeline.lanes])
    axes.set_yticklabels(timeline.lanes, fontsize=FONT_SIZE + 1)
    axes.tick_params(axis="y", length=0)
    for lane in timeline.lanes[1:]:
        axes.axhline(tops[lane] - 0.3, color="#DDDDDD", linewidth=0.8, zorder=1)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)

    for index, entry in enumerate(drawn):
        colour, marker = STYLE.get(entry.kind, STYLE["note"])
        x = timeline.days(entry.at)
        row_y = tops[entry.lane] + rows[index] * ROW + 0.2
        if entry.due is not None:
            _task_bar(axes, timeline, entry, x, row_y, colour)
        axes.plot([x], [row_y], marker=marker, color=colour, markersize=5, zorder=4, linestyle="none")
        axes.text(x + 0.6 * CHAR_INCHES / per_day * 2, row_y, entry.label, fontsize=FONT_SIZE, va="center", ha="left", zorder=5,
                  color="#222222", bbox={"boxstyle": "square,pad=0.05", "facecolor": "white", "edgecolor": "none", "alpha": 0.7})

    record = timeline.record
    figure.suptitle(record.scenario.title, x=0.01, ha="left", fontsize=12, fontweight="bold")
    local0 = timeline.local(record.day0)
    figure.text(
        0.01, 1 - 0.62 / height,
        f"Application {record.scenario.application.id}: simulated from {local0:%A %d %B %Y %H:%M} ({office.timezone}) to "
        f"{timeline.offset(record.end)} on the time-skipping server. Grey: days off in the office (weekends, public holidays).",
        fontsize=FONT_SIZE + 0.5, color="#444444",
    )  # fmt: skip

    handles = [Line2D([], [], marker=STYLE[k][1], color=STYLE[k][0], linestyle="none", markersize=6, label=KINDS[k]) for k in STYLE if k in {e.kind for e in drawn} or k in ("task", "reminder", "escalation")]
    handles.append(Line2D([], [], color=STYLE["task"][0], linewidth=3, alpha=0.35, label="task open, until due (| due)"))
    handles.append(Line2D([], [], color=STYLE["escalation"][0], linewidth=3, alpha=0.6, label="past its due time"))
    handles.append(Patch(facecolor="#EEEEEE", edgecolor="#CCCCCC", label="day off in the office"))
    figure.legend(handles=handles, loc="lower left", ncol=min(len(handles), 5), fontsize=FONT_SIZE, frameon=False, bbox_to_anchor=(0.01, 0.0))

    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format=path.suffix.lstrip(".").lower(), metadata={"Date": None} if path.suffix.lower() == ".svg" else None)


def _task_bar(axes, timeline: Timeline, entry: Entry, x: float, y: float, colour: str) -> None:  # noqa: ANN001 - matplotlib axes
    """From creation to due (or closed, or the end): blue while in time, red once past due."""
    assert entry.due is not None
    end = entry.closed or timeline.record.end
    due = timeline.days(entry.due)
    stop = timeline.days(end)
    axes.plot([x, min(due, stop)], [y, y], color=colour, linewidth=3, alpha=0.35, solid_capstyle="butt", zorder=2)
    if stop > due:
        axes.plot([due, stop], [y, y], color=STYLE["escalation"][0], linewidth=3, alpha=0.6, solid_capstyle="butt", zorder=2)
    if due <= timeline.days(timeline.record.end):
        axes.plot([due], [y], marker="|", color=colour, markersize=9, zorder=3)
