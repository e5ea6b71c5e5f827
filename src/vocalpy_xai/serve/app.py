"""A local HTTP service over the model registry (FastAPI): annotate or classify audio.

Endpoints (OpenAPI spec at ``/openapi.json``, docs at ``/docs``):

- ``GET /health``;
- ``GET /models``: every registered version with its aliases and task;
- ``POST /models/{name}/predict``: annotate an uploaded audio file (multipart ``file``);
- ``POST /models/{name}/predict-path``: annotate a file inside the server's data root;
- ``POST /models/{name}/classify`` and ``/classify-path``: a classifier's (AudioProtoNet's)
  species scores per chunk and for the recording, each decision with its top prototypes:
  where the prototype matched (time span in s, band in Hz) and the training patch it
  stands for (source clip and file name, time span, band)
  (:func:`vocalpy_xai.protonet.evidence.classify_recording`).

Which endpoints a model answers is its family's task
(:func:`vocalpy_xai.registry.family_task`); the other ones answer 422 naming the right one.

``version`` (query or body) is a number, ``v3``, an alias or ``latest``; by default the
``production`` alias if set, else the latest version. Answers carry the model name and
resolved version, and the segments as crowsetta-compatible records (``onset_s``,
``offset_s``, ``label``), or, with ``format=simple-seq``, crowsetta's ``simple-seq`` CSV.
Request bodies over the upload limit get 413, and so does audio (uploaded or by path) longer
than the duration limit; paths outside the data root (through ``..`` or symbolic links) get
403. Error messages show paths relative to the data root, never the server's own paths.
"""

from __future__ import annotations

import os
import pathlib
import re
import tempfile
import threading
from typing import Annotated, Literal

from fastapi import FastAPI, File, HTTPException, Query, UploadFile
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from ..errors import DataError, VocalpyXaiError
from ..registry import IntegrityError, Registry, RegistryError, family_task
from .limits import DEFAULT_MAX_DURATION_S, BodySizeLimit
from .paths import PathRefused, resolve_inside

#: default request body limit: 50 MiB (about 13 min of 32-kHz 16-bit mono WAV)
DEFAULT_MAX_UPLOAD = 50 * 2**20
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,5}$")
#: the ``top_k`` query parameter of the classify endpoints
TopK = Annotated[int, Query(ge=1, le=20, description="prototypes reported per decision")]


class Segment(BaseModel):
    onset_s: float
    offset_s: float
    label: str


class ModelRef(BaseModel):
    name: str
    version: int
    family: str


class Prediction(BaseModel):
    model: ModelRef
    audio: str = Field(description="the uploaded file's name, or the path under the data root")
    segments: list[Segment]


class Box(BaseModel):
    t0_s: float = Field(description="start (s from the recording's start)")
    t1_s: float
    f0_hz: float = Field(description="lowest frequency (Hz)")
    f1_hz: float


class PrototypeSource(BaseModel):
    clip: str = Field(description="the training clip the prototype was projected onto")
    file: str = Field(description="that clip's audio file name")
    start_s: float | None = Field(description="the training window's start in that file (s)")
    t0_s: float | None = Field(description="the prototype's patch: start (s in that file)")
    t1_s: float | None
    f0_hz: float | None
    f1_hz: float | None
    similarity: float | None = Field(
        None, description="cosine of the prototype to that patch (1: it was pushed onto it)"
    )


class Evidence(BaseModel):
    rank: int = Field(1, description="1: the prototype contributing most to the decision")
    prototype: int
    prototype_class: str = Field(alias="class", description="the prototype's class")
    similarity: float = Field(description="the pooled similarity the classifier uses")
    contribution: float | None = Field(
        description="similarity x last-layer weight to the predicted class"
    )
    match: Box = Field(description="where the prototype matched best in this recording")
    source: PrototypeSource
    text: str = Field(
        "", description='"this part (s, Hz) looks like that part of <clip> at <t> s, <Hz>"'
    )


class ChunkScores(BaseModel):
    start_s: float
    end_s: float
    predicted: str
    scores: dict[str, float] = Field(description="class probabilities")
    top_prototypes: list[Evidence]


class RecordingScores(BaseModel):
    predicted: str
    scores: dict[str, float] = Field(description="mean of the chunks' class probabilities")
    top_prototypes: list[Evidence]


class Classification(BaseModel):
    model: ModelRef
    audio: str = Field(description="the uploaded file's name, or the path under the data root")
    class_names: list[str]
    duration_s: float
    recording: RecordingScores
    chunks: list[ChunkScores]


class PathRequest(BaseModel):
    path: str = Field(description="audio file, relative to the server's data root")
    version: str | None = Field(default=None, description="number, alias or 'latest'")


class ModelInfo(BaseModel):
    name: str
    version: int
    family: str
    created: str
    aliases: list[str]
    task: str | None = Field(default=None, description="'annotate' or 'classify'")
    class_names: list[str] | None = None


class _Models:
    """Loaded models by (name, version), each with a lock (a reservoir's state is shared)."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._cache: dict[tuple[str, int], tuple[object, threading.Lock]] = {}
        self._lock = threading.Lock()

    def get(self, name: str, ref: str | None):
        if ref is None:
            ref = "production" if "production" in self.registry.aliases(name) else "latest"
        version = self.registry.resolve(name, ref)
        key = (name, version)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = (self.registry.load(name, version), threading.Lock())
            return self._cache[key]


def _simple_seq_csv(segments) -> str:
    import io

    import crowsetta

    seq = crowsetta.formats.seq.SimpleSeq(
        onsets_s=segments.onsets_s,
        offsets_s=segments.offsets_s,
        labels=segments.labels,
        annot_path="prediction.csv",
    )
    buf = io.StringIO()
    seq.to_file(buf)
    return buf.getvalue()


def create_app(
    registry: Registry | str | os.PathLike | None = None,
    data_root: str | os.PathLike | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
) -> FastAPI:
    """The FastAPI application.

    Parameters
    ----------
    registry : Registry or path, optional
        Default: :func:`vocalpy_xai.registry.default_root`. A path given must be an
        existing registry folder (a typo is an error, not an empty registry).
    data_root : path, optional
        Folder whose files ``predict-path`` may read; None: path requests are refused.
    max_upload_bytes : int
        Largest accepted request body (413 above it).
    max_duration_s : float, optional
        Longest audio annotated, uploaded or by path (413 above it); None: no limit.
    """
    if isinstance(registry, Registry):
        reg = registry
    else:
        reg = Registry(registry, create=registry is None)
    root = pathlib.Path(data_root).resolve(strict=True) if data_root is not None else None
    models = _Models(reg)
    app = FastAPI(
        title="vocalpy-xai annotation and classification service",
        version="1",
        description="Annotate or classify birdsong with models from a local vocalpy-xai registry.",
    )
    app.state.registry, app.state.data_root = reg, root

    def hide(text: str, audio_path: pathlib.Path, shown: str) -> str:
        """A message with the server's own paths replaced by what the client sent."""
        text = text.replace(str(audio_path), shown)
        for base in (root, reg.root.resolve(), reg.root):
            if base is not None:
                text = text.replace(f"{base}{os.sep}", "").replace(str(base), ".")
        return text

    def loaded(name: str, ref: str | None, audio_path: pathlib.Path, shown: str, task: str):
        """The model and its lock, after checking that its family does ``task`` (else 422)."""
        try:
            model, lock = models.get(name, ref)
            has = family_task(model.registry_version_.family)
        except IntegrityError as err:
            raise HTTPException(
                500, hide(f"model failed its integrity check: {err}", audio_path, shown)
            ) from err
        except RegistryError as err:
            raise HTTPException(404, hide(str(err), audio_path, shown)) from err
        except VocalpyXaiError as err:
            raise HTTPException(
                500, hide(f"model cannot be loaded: {err}", audio_path, shown)
            ) from err
        if has != task:
            verb = "predict" if has == "annotate" else "classify"
            raise HTTPException(
                422,
                f"model '{name}' ({model.registry_version_.family}) does not {task}: it "
                f"{has}s recordings (POST /models/{name}/{verb})",
            )
        check_duration(audio_path, shown)
        return model, lock

    def run(name: str, ref: str | None, audio_path: pathlib.Path, shown: str, fmt: str):
        model, lock = loaded(name, ref, audio_path, shown, "annotate")
        rec = model.registry_version_
        try:
            with lock:
                segments = model.predict(audio_path).segments
        except DataError as err:
            raise HTTPException(422, f"{shown}: {hide(err.problem, audio_path, shown)}") from err
        except VocalpyXaiError as err:
            raise HTTPException(422, f"{shown}: {hide(str(err), audio_path, shown)}") from err
        if fmt == "simple-seq":
            return PlainTextResponse(
                _simple_seq_csv(segments),
                media_type="text/csv",
                headers={"X-Model-Name": rec.name, "X-Model-Version": str(rec.version)},
            )
        return Prediction(
            model=ModelRef(name=rec.name, version=rec.version, family=rec.family),
            audio=shown,
            segments=[
                Segment(onset_s=float(a), offset_s=float(b), label=str(lab))
                for a, b, lab in zip(
                    segments.onsets_s, segments.offsets_s, segments.labels, strict=True
                )
            ],
        )

    def classify(
        name: str, ref: str | None, audio_path: pathlib.Path, shown: str, top_k: int
    ) -> Classification:
        from ..protonet.evidence import classify_recording

        model, lock = loaded(name, ref, audio_path, shown, "classify")
        rec = model.registry_version_
        try:
            with lock:
                result = classify_recording(model, audio_path, top_k=top_k).to_dict()
        except DataError as err:
            raise HTTPException(422, f"{shown}: {hide(err.problem, audio_path, shown)}") from err
        except VocalpyXaiError as err:
            raise HTTPException(422, f"{shown}: {hide(str(err), audio_path, shown)}") from err
        return Classification(
            model=ModelRef(name=rec.name, version=rec.version, family=rec.family),
            audio=shown,
            **public_sources(result),
        )

    def check_duration(audio_path: pathlib.Path, shown: str) -> None:
        """413 for audio longer than ``max_duration_s`` (read from the header, not decoded)."""
        if max_duration_s is None:
            return
        import soundfile

        try:
            info = soundfile.info(str(audio_path))
        except Exception:  # unreadable here: annotate() names the problem (422)
            return
        if info.frames / info.samplerate > max_duration_s:
            raise HTTPException(
                413,
                f"{shown}: audio is {info.frames / info.samplerate:.1f} s long, over this "
                f"server's limit of {max_duration_s:g} s (serve --max-duration-s)",
            )

    responses = {
        200: {"content": {"text/csv": {}}, "description": "annotation (JSON or simple-seq CSV)"},
        404: {"description": "unknown model or version"},
        413: {"description": "upload larger than the byte limit, or audio over the duration limit"},
        422: {"description": "not usable audio"},
    }

    def upload(file: UploadFile, answer):
        """Spool an upload to a private temporary file and call ``answer(path)``."""
        suffix = pathlib.Path(file.filename or "").suffix
        suffix = suffix if _SUFFIX.match(suffix) else ".wav"
        with tempfile.TemporaryDirectory(prefix="vx-upload-") as tmp:
            path = pathlib.Path(tmp) / f"upload{suffix}"
            with open(path, "wb") as f:
                while block := file.file.read(1 << 20):
                    f.write(block)
            return answer(path)

    def inside(requested: str) -> pathlib.Path:
        """The real path of a path request under the data root (403 outside it, 404 absent)."""
        try:
            return resolve_inside(root, requested)
        except PathRefused as err:
            raise HTTPException(403, str(err)) from err
        except (FileNotFoundError, OSError) as err:
            raise HTTPException(404, str(err)) from err

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "models": len(reg.models())}

    @app.get("/models", response_model=list[ModelInfo])
    def list_models() -> list[ModelInfo]:
        return [
            ModelInfo(
                name=r.name,
                version=r.version,
                family=r.family,
                created=r.created,
                aliases=list(r.aliases),
                task=task_of(r.family),
                class_names=r.class_names,
            )
            for r in reg.list()
        ]

    @app.post("/models/{name}/predict", response_model=Prediction, responses=responses)
    def predict_upload(
        name: str,
        file: Annotated[UploadFile, File(description="audio file (WAV, FLAC, MP3, OGG)")],
        version: Annotated[str | None, Query(description="number, alias or 'latest'")] = None,
        format: Literal["json", "simple-seq"] = "json",
    ):
        return upload(
            file, lambda path: run(name, version, path, file.filename or "upload", format)
        )

    @app.post(
        "/models/{name}/predict-path",
        response_model=Prediction,
        responses={**responses, 403: {"description": "path outside the data root"}},
    )
    def predict_path(
        name: str, request: PathRequest, format: Literal["json", "simple-seq"] = "json"
    ):
        return run(name, request.version, inside(request.path), request.path, format)

    classify_responses = {
        200: {"description": "species scores per chunk and per recording, with evidence"},
        404: {"description": "unknown model or version"},
        413: responses[413],
        422: {"description": "not usable audio, or a model that does not classify"},
    }

    @app.post(
        "/models/{name}/classify", response_model=Classification, responses=classify_responses
    )
    def classify_upload(
        name: str,
        file: Annotated[UploadFile, File(description="audio file (WAV, FLAC, MP3, OGG)")],
        version: Annotated[str | None, Query(description="number, alias or 'latest'")] = None,
        top_k: TopK = 3,
    ) -> Classification:
        return upload(
            file, lambda path: classify(name, version, path, file.filename or "upload", top_k)
        )

    @app.post(
        "/models/{name}/classify-path",
        response_model=Classification,
        responses={**classify_responses, 403: {"description": "path outside the data root"}},
    )
    def classify_path(name: str, request: PathRequest, top_k: TopK = 3) -> Classification:
        return classify(name, request.version, inside(request.path), request.path, top_k)

    return BodySizeLimit(app, max_upload_bytes) if max_upload_bytes else app


def task_of(family: str) -> str | None:
    """The family's task, or None for a family this server cannot load."""
    try:
        return family_task(family)
    except RegistryError:
        return None


def public_sources(result: dict) -> dict:
    """A classification with each prototype's source reduced to its file name.

    The server's own paths (where its training data lie) are not shown to clients.
    """
    for ev in [*result["recording"]["top_prototypes"]] + [
        e for chunk in result["chunks"] for e in chunk["top_prototypes"]
    ]:
        source = ev["source"]
        source["file"] = pathlib.PurePath(source.pop("path")).name
    return result


def fastapi_app(app) -> FastAPI:
    """The FastAPI application inside a :func:`create_app` result (for its OpenAPI spec)."""
    return app.app if isinstance(app, BodySizeLimit) else app
