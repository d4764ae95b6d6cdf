"""The one palette: colour ids, names, RGB, and the parser's default colour rules. Id 0 is the white background.

Every module that names a colour takes it from here: the simulators (``RED``, ``BLUE``), the renderer
(``rgb_table``) and the parser (``PARSE_RULES``, turned into ``evaluate.parse.DEFAULT_PALETTE``).
"""

from __future__ import annotations

import numpy as np

from phylaw.errors import PhylawError

BACKGROUND = 0
RED = 1  # ball 1 / the moving object
BLUE = 2  # ball 2
WALL_COLOR = 5  # gray: the static walls of the composition scenes (sim.walls), no other object
COLORS: dict[int, tuple[int, int, int]] = {
    0: (255, 255, 255),  # white background
    1: (255, 0, 0),  # red: ball 1 / the moving object
    2: (0, 0, 255),  # blue: ball 2
    3: (0, 255, 0),  # green
    4: (255, 255, 0),  # yellow
    5: (128, 128, 128),  # gray
    6: (0, 0, 0),  # black
    7: (255, 0, 255),  # magenta
    # PHYRE's WAD colours (SPEC_COMBINATORIAL A.6); its white and black are ids 0 and 6
    8: (243, 79, 70),  # phyre-red: the user ball
    9: (107, 206, 187),  # phyre-green
    10: (24, 119, 242),  # phyre-blue
    11: (75, 74, 164),  # phyre-purple
    12: (185, 202, 210),  # phyre-gray: dynamic bodies
    13: (252, 223, 227),  # phyre-light-red
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
    "phyre-red": 8,
    "phyre-green": 9,
    "phyre-blue": 10,
    "phyre-purple": 11,
    "phyre-gray": 12,
    "phyre-light-red": 13,
}
# PHYRE's WAD colour index (0 white, 1 red, 2 green, 3 blue, 4 purple, 5 gray, 6 black, 7 light red) -> palette id
WAD_TO_PALETTE: tuple[int, ...] = (0, 8, 9, 10, 11, 12, 6, 13)


# the parser's default colour classes (SPEC I.4 / D.1): name -> inclusive per-channel (lo, hi) RGB range;
# red is R > 127, G < 127, B < 127 and blue is R < 127, G < 127, B > 127. The id of each is COLOR_NAMES[name].
PARSE_RULES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "red": ((128, 0, 0), (255, 126, 126)),
    "blue": ((0, 0, 128), (126, 126, 255)),
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
