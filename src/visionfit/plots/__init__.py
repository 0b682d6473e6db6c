"""Plot, image-tile and HTML helpers shared by the report (reports/) and the tasks' own report
sections (tasks/<task>/report.py); below both, so a task never imports reports/."""
