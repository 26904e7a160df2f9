"""The report wing: charts and tables for the notebooks, and running a notebook with papermill into
self-contained HTML."""

from .run import convert, declared_parameters, export_html, notebook_path, publish, run_report

__all__ = ["convert", "declared_parameters", "export_html", "notebook_path", "publish", "run_report"]
