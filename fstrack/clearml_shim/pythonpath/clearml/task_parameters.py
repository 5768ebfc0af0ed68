from fstrack.task_parameters import *  # noqa: F403
from fstrack.task_parameters import __all__  # noqa: F401
