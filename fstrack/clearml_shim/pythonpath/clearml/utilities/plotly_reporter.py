from fstrack.utilities.plotly_reporter import *  # noqa: F403
