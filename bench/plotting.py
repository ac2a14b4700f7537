"""Side-by-side bar charts for the benchmark scripts (matplotlib, bench environment only)."""

from __future__ import annotations

from collections.abc import Sequence

COLORS = {"Rain": "#1f6fb4", "Dask": "#ef8a17", "Ray": "#2ca02c", "HyperQueue": "#9467bd",
          "spawn floor": "#7f7f7f"}


def bar_panels(path: str, title: str, names: Sequence[str], panels: Sequence[tuple]) -> None:
    """One panel per (title, unit, values[, names of these values]); bars labelled with their
    values. Without its own names a panel has one value per item of `names`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (panel_title, unit, values, *own) in zip(axes[0], panels, strict=True):
        labels = list(own[0] if own else names)
        colors = [COLORS.get(name.split()[0], COLORS.get(name, "#444444")) for name in labels]
        bars = ax.bar(range(len(values)), values, color=colors)
        ax.set_xticks(range(len(values)), labels, rotation=15)
        ax.set_title(panel_title, fontsize=10)
        ax.set_ylabel(unit)
        for bar, value in zip(bars, values, strict=True):
            text = f"{value:,.2f}" if value < 10 else f"{value:,.0f}"
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                        fontsize=8)
        ax.margins(y=0.15)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
