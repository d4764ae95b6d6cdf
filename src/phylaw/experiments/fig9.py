"""Fig. 9 of the paper (SPEC B.6.4, E.5, §5.3) with App. E.2's continuous versions (Fig. 14) and the red-only
control (Fig. 15): the attribute pairs without shape — colour–size (red small + blue large trained),
colour–velocity (red slow + blue fast), size–velocity (small slow + large fast) — and the controls
(``control-size``, ``control-velocity``: the colour pairs with every object red, no attribute in conflict).
Fig. 8 (``fig8.py``) has the pairs with shape; together they order all four attributes
(``experiments.attribute_report.priority_of``).

Cells (factors scenario, study = "attribute", setting, model, data_size):

- ``paper``: the three pairs binary and continuous, and both controls: 8 cells of 300,000 videos, DiT-B,
  128 px, 32 frames, 100K steps x 256 (torchrun); evaluation ``-eval``.
- ``small``: the same 8 settings, 20,000 videos each, DiT-S at 64 px, 20K steps on one GPU.
- ``tiny``: 3 cells (the three pairs, binary), 2,000 videos each, the tiny study settings of Fig. 5
  (``study.tiny_base``: 3,000 steps on 2 CPU cores, own VideoVAE per training set): about 20 minutes per cell
  on an unloaded machine (estimated from the demo's measured run; fig8.py gives a measurement under load),
  about an hour for the figure; evaluation ``-eval-small`` (128 videos per cell). The controls and continuous
  versions are left to ``small``.

Report (``OUT/attribute_report/``): counts with the ground-truth floor, the priority matrix and its order,
Fig. 14-style plots, GIFs of typical conflicts.
"""

from __future__ import annotations

from phylaw.experiments import attribute_study as a

SETTINGS = {
    "tiny": ("color-size-bin", "color-velocity-bin", "size-velocity-bin"),
    "small": ("color-size-bin", "color-velocity-bin", "size-velocity-bin", "color-size-cont", "color-velocity-cont",
              "size-velocity-cont", "control-size", "control-velocity"),
}  # fmt: skip
SETTINGS["paper"] = SETTINGS["small"]


EXPERIMENT = a.attribute_experiment(
    "fig9", SETTINGS, "Fig. 9 (+ Figs. 14, 15): attribute pairs without shape"
)
