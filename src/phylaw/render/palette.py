"""The fixed colour table: palette id <-> RGB <-> name. Id 0 is the white background."""

from __future__ import annotations

import numpy as np

from phylaw.errors import PhylawError

BACKGROUND = 0
COLORS: dict[int, tuple[int, int, int]] = {
    0: (255, 255, 255),  # white background
    1: (255, 0, 0),  # red: ball 1 / the moving object
    2: (0, 0, 255),  # blue: ball 2
    3: (0, 255, 0),  # green
    4: (255, 255, 0),  # yellow
    5: (128, 128, 128),  # gray
    6: (0, 0, 0),  # black
    7: (255, 0, 255),  # magenta
}
COLOR_NAMES: dict[str, int] = {
    "white": 0,
    "red": 1,
    "blue": 2,
    "green": 3,
    "yellow": 4,
    "gray": 5,
    "black": 6,
    "magenta": 7,
}


def color_id(name: str) -> int:
    """Palette id of a colour name (PhylawError if unknown)."""
    if name not in COLOR_NAMES:
        raise PhylawError(f"unknown colour {name!r}; choose one of {', '.join(COLOR_NAMES)}")
    return COLOR_NAMES[name]


def color_name(cid: int) -> str:
    """Name of a palette id (PhylawError if unknown)."""
    for name, i in COLOR_NAMES.items():
        if i == int(cid):
            return name
    raise PhylawError(f"unknown palette id {cid}; ids are {sorted(COLORS)}")


def rgb_table() -> np.ndarray:
    """(n_colors, 3) uint8 lookup table indexed by palette id."""
    table = np.zeros((max(COLORS) + 1, 3), dtype=np.uint8)
    for i, rgb in COLORS.items():
        table[i] = rgb
    return table
