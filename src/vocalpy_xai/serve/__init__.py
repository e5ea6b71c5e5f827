"""Local HTTP serving of registered models (FastAPI + uvicorn): ``vocalpy-xai serve``.

FastAPI is imported on first use of :func:`create_app` (not by ``import vocalpy_xai.serve``),
so the command line stays fast and works where the serving extras are not installed.
"""

from .limits import BodySizeLimit
from .paths import PathRefused, resolve_inside

_LAZY = {"DEFAULT_MAX_UPLOAD", "Prediction", "create_app", "fastapi_app"}


def __getattr__(name: str):
    if name in _LAZY:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MAX_UPLOAD",
    "BodySizeLimit",
    "PathRefused",
    "Prediction",
    "create_app",
    "fastapi_app",
    "resolve_inside",
]
