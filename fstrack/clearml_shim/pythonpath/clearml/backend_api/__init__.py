from clearml.backend_api import session

__all__ = ["session"]
