"""Scoring one explanation against the digit boxes: heatmap and mask rules (:mod:`.heatmap`,
:mod:`.protocol`), the metric registry (:mod:`.registry`) and its mathematics (:mod:`.metrics`),
scoring beside the baselines (:mod:`.localisation`), faithfulness curves, class sensitivity,
calibrated thresholds, and the intervals every mean is reported with (:mod:`.bootstrap`).
Pure NumPy except where a model must be run (faithfulness, calibration)."""
