"""Helpers importable as ClearML users import them (``from fstrack.utilities.plotly_reporter import SeriesInfo``)."""
