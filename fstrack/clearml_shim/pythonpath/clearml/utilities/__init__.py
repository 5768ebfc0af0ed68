from clearml.utilities import plotly_reporter, proxy_object

__all__ = ["plotly_reporter", "proxy_object"]
