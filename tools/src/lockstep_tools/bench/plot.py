"""``bench/out/timeline.png``: devices per state over time, one panel per run, with the moments
the admin acted (START, END…) as vertical lines — where the update waits shows as a flat line."""

from __future__ import annotations

from pathlib import Path

from lockstep_tools.bench.figures import Timeline

SHOWN_MARKS = ("registered", "START", "all_waiting", "END", "all_on_target", "concluded",
               "connected")


def draw_timelines(runs: list[tuple[str, Timeline]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(len(runs), 1, figsize=(11, 3.6 * len(runs)), squeeze=False)
    for ax, (label, timeline) in zip(axes[:, 0], runs, strict=True):
        for state in timeline.states:
            counts = timeline.counts[state]
            if any(counts):
                ax.plot(timeline.times, counts, label=state.replace("_", " "), linewidth=1.4)
        for name, t in timeline.marks.items():
            if name in SHOWN_MARKS:
                ax.axvline(t, color="grey", linestyle=":", linewidth=0.9)
                ax.annotate(name, (t, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                            fontsize=7, va="top", ha="right", color="dimgrey")
        ax.set_title(label)
        ax.set_xlabel("seconds since the run began")
        ax.set_ylabel("devices")
        ax.grid(alpha=0.3)
        ax.legend(loc="center left", fontsize=7, bbox_to_anchor=(1.0, 0.5))
    figure.suptitle("Lockstep make bench: devices per state (simulator's view)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
