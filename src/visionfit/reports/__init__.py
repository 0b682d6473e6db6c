"""Plots (one module per kind), the HTML report of a run and the page comparing runs.

`write_report(run_dir)` (visionfit.reports.html) and `write_comparison(runs_dir)`
(visionfit.reports.compare) are the entry points.
"""
