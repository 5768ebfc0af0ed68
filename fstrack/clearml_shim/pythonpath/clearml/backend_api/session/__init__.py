from clearml.backend_api.session import defs

__all__ = ["defs"]
