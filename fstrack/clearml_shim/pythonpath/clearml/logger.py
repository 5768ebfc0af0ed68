from fstrack import Logger

__all__ = ["Logger"]
