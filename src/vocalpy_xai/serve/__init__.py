"""Local HTTP serving of registered models (FastAPI + uvicorn): ``vocalpy-xai serve``."""

from .app import DEFAULT_MAX_UPLOAD, Prediction, create_app, fastapi_app
from .limits import BodySizeLimit
from .paths import PathRefused, resolve_inside

__all__ = [
    "DEFAULT_MAX_UPLOAD",
    "BodySizeLimit",
    "PathRefused",
    "Prediction",
    "create_app",
    "fastapi_app",
    "resolve_inside",
]
