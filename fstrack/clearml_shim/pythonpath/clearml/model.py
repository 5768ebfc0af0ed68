from fstrack import InputModel, Model, OutputModel
from fstrack.sdk.models import Framework

__all__ = ["InputModel", "Model", "OutputModel", "Framework"]
