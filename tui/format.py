"""Small text helpers shared by the panes: sizes, times, bars, safe names."""

from __future__ import annotations

import os
import time

from rich.text import Text

from clipgit.core.names import display_name
from clipgit.core.progress import duration

__all__ = ["bar", "duration", "human_size", "safe", "short_folder", "when"]


def safe(path: str, style: str = "") -> Text:
    """A path as plain text: markup and escape codes in names are shown, never obeyed."""
    return Text(display_name(path), style=style)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def bar(fraction: float, width: int = 12) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def when(timestamp: float | None) -> str:
    if not timestamp:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def short_folder(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if path.startswith(home + "/") else path
