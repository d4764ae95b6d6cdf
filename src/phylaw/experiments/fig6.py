"""Fig. 6 of the paper (SPEC B.6.2, E.5): collisions trained with holes in the (v1, v2) plane (or the (r1, r2)
plane: the mass hole). Is the error low inside the convex hull of the training points and high outside?

Cells (factors scenario, study, setting, model, data_size), one per hole setting of
``sim.studies.HOLE_SETTINGS`` (centred squares [2, 3] ... [1.1, 3.9], the L-shaped ``half`` set, three
rectangles, the mass hole):

- ``paper``: the 8 settings on the 1.6M (61 v x 21 r) base grid, DiT-B, 128 px, 32 frames, 100K steps x 256;
  evaluation ``<setting>-eval`` (v1 in [0, 4.5] x v2 in [1, 4], 16 radius pairs).
- ``small``: the 8 settings on the 31 v x 6 r grid, Fig. 3's one-GPU settings.
- ``tiny``: 2 settings, 2 CPU cores: the square [2, 3] (its hole inside the hull) and the half set (its hull
  leaves the far corner out), on the 13 v x 3 r grid (1,296 and 432 videos); evaluation ``-eval-small``
  (10 v1 x 7 v2 x 4 radius pairs: 280 videos).

Report: post-collision velocity error over the plane as a heat map with the training points and their hull;
the error of seen / in-hull / out-of-hull videos and the gaps out − in and in − seen (Welch CIs), beside the
ground-truth floor; the case-vs-law index; GIFs.
"""

from __future__ import annotations

from phylaw.experiments import study as s
from phylaw.experiments.experiment import Experiment, ExperimentPlan, ReportSection
from phylaw.sim.studies import HOLE_SETTINGS

TINY_SETTINGS = ("hole-2.0-3.0", "hole-half")


def fig6(scale: str) -> ExperimentPlan:
    settings = TINY_SETTINGS if scale == "tiny" else tuple(HOLE_SETTINGS)
    cells = [s.study_cell("fig6", scale, "hole", h, h + s.TRAIN_SUFFIX[scale], h + s.EVAL_SUFFIX[scale], "collision")
             for h in settings]  # fmt: skip
    return s.plan(
        "fig6", scale, cells, f"Fig. 6: collisions with holes in the training plane ({len(cells)} cells)."
    )


EXPERIMENT = Experiment(
    "fig6", s.FACTORS, fig6, pipeline=s.pipeline,
    report=ReportSection("Velocity error", figures=("training_curves", "error_distribution")),
)  # fmt: skip
