"""The environment constants ClearML-using code reads (``ENV_HOST.get()``...). There is no server: the host
variables are read as they are, and ``ENV_OFFLINE_MODE`` is always true."""

import os
from typing import Any


class EnvEntry:
    def __init__(self, *names: str, default: Any = None) -> None:
        self.key = names[0]
        self.names = names
        self.default = default

    def get(self, default: Any = None) -> Any:
        for name in self.names:
            if name in os.environ:
                return os.environ[name]
        return self.default if default is None else default

    def exists(self) -> bool:
        return any(name in os.environ for name in self.names)

    def set(self, value: Any) -> None:
        os.environ[self.key] = str(value)


ENV_HOST = EnvEntry("CLEARML_API_HOST", "TRAINS_API_HOST")
ENV_WEB_HOST = EnvEntry("CLEARML_WEB_HOST", "TRAINS_WEB_HOST")
ENV_FILES_HOST = EnvEntry("CLEARML_FILES_HOST", "TRAINS_FILES_HOST")
ENV_ACCESS_KEY = EnvEntry("CLEARML_API_ACCESS_KEY", "TRAINS_API_ACCESS_KEY")
ENV_SECRET_KEY = EnvEntry("CLEARML_API_SECRET_KEY", "TRAINS_API_SECRET_KEY")
ENV_OFFLINE_MODE = EnvEntry("CLEARML_OFFLINE_MODE", "TRAINS_OFFLINE_MODE", default=True)

__all__ = [
    "EnvEntry",
    "ENV_HOST",
    "ENV_WEB_HOST",
    "ENV_FILES_HOST",
    "ENV_ACCESS_KEY",
    "ENV_SECRET_KEY",
    "ENV_OFFLINE_MODE",
]
