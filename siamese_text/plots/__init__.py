"""Pictures of what a model does: how it separates pairs, orders scores, groups classes, calibrates.

* :mod:`siamese_text.plots.stats`: the numbers behind them (numpy only);
* :mod:`siamese_text.plots.figures`: one PNG per function, arrays in (needs matplotlib:
  ``pip install 'siamese-text[plot]'``; imported when a figure is drawn, on the Agg backend);
* :mod:`siamese_text.plots.report`: a model and a split in, the pictures its label kind calls for out,
  for ``siamtext evaluate --plot``, ``siamtext calibrate`` and ``siamtext train``.
"""

from __future__ import annotations

from siamese_text.plots.figures import (
    DPI,
    PLOT_INSTALL,
    plot_confusion,
    plot_projection,
    plot_reliability,
    plot_roc_pr,
    plot_score_histograms,
    plot_scored_pairs,
)
from siamese_text.plots.report import (
    PLOT_CAPTIONS,
    PLOT_KINDS,
    PLOTS_DIR,
    RELIABILITY_FILE,
    CachingEncoder,
    evaluate_with_plots,
    plot_calibration,
    plot_files,
    plot_split,
    plots_available,
    training_plots,
)

__all__ = [
    "DPI",
    "PLOT_INSTALL",
    "PLOT_KINDS",
    "PLOT_CAPTIONS",
    "PLOTS_DIR",
    "RELIABILITY_FILE",
    "CachingEncoder",
    "plots_available",
    "plot_files",
    "plot_split",
    "evaluate_with_plots",
    "plot_calibration",
    "training_plots",
    "plot_scored_pairs",
    "plot_score_histograms",
    "plot_roc_pr",
    "plot_projection",
    "plot_confusion",
    "plot_reliability",
]
