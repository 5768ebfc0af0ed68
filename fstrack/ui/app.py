"""The UI's ASGI application: the JSON API under ``/api/`` (documented in docs/ui-api.md), the pages and
their static files. Built with Starlette; served by uvicorn (:func:`fstrack.ui.serve`)."""

from __future__ import annotations

import json
import mimetypes
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from fstrack import threads
from fstrack.errors import FstrackError
from fstrack.records import config
from fstrack.records.taskdb import check_task_id
from fstrack.store.objects import ObjectId
from fstrack.store.store import open_store, public_url
from fstrack.ui.actions import run_action
from fstrack.ui.downsample import DEFAULT_BUCKETS, bucketize
from fstrack.ui.security import OBJECT_CSP, Guard
from fstrack.ui.views import DEFAULT_COLUMNS, BadRequest, NotFound, StoreView

STATIC = Path(__file__).parent / "static"
PAGES = (
    "/",
    "/projects",
    "/tasks",
    "/task/{task_id}",
    "/task/{task_id}/{tab}",
    "/compare",
    "/models",
    "/model/{model_id}",
    "/queues",
)
#: Content types shown inline (in a sandboxed response); anything else is a download.
INLINE_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/bmp",
    "audio/",
    "video/",
    "text/plain",
    "application/json",
    "text/csv",
    "text/html",
    "image/svg+xml",
)
_LARGE_OBJECT = 32 * 1024 * 1024


def _json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, separators=(",", ":"), allow_nan=False, default=str).encode()
    return Response(body, status_code=status, media_type="application/json", headers={"cache-control": "no-store"})


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers={"cache-control": "no-store"})


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None


def _float(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {raw!r}") from None


def _bool(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise BadRequest(f"{name} must be true or false, got {raw!r}")


def _list(request: Request, name: str) -> list[str]:
    """A list parameter, repeated (``?tag=a&tag=b``) or comma-separated (``?tasks=a,b``)."""
    values = []
    for raw in request.query_params.getlist(name):
        values += (
            [v for v in raw.split(",") if v] if name in ("tasks", "ids", "status", "type", "title", "column") else [raw]
        )
    return values


def _task_ids(values: list[str]) -> list[str]:
    for value in values:
        check_task_id(value)
    return values


def _scalar_options(request: Request) -> dict[str, Any]:
    return {
        "x_axis": request.query_params.get("x_axis", "iter"),
        "x_min": _float(request, "x_min"),
        "x_max": _float(request, "x_max"),
        "buckets": _int(request, "buckets", DEFAULT_BUCKETS),
        "titles": _list(request, "title"),
        "band": _bool(request, "band", True),
    }


def _warm_up() -> None:
    """Run the downsampling once on a tiny table: pyarrow's first compute call imports pandas and sets up
    its group-by engine (about a second on a loaded machine), which the first chart would otherwise pay."""
    import pyarrow as pa

    table = pa.table({"title": ["t"], "series": ["s"], "iteration": [0], "value": [0.0]})
    bucketize(table, "iteration", buckets=1)


def create_app(
    url: str,
    storage_options: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    read_only: bool = False,
    check_host: bool = False,
) -> Guard:
    """The UI over the store at ``url``. ``token``: required on every request (see
    :mod:`fstrack.ui.security`); ``check_host``: answer only requests addressed to a loopback name."""
    storage_options = dict(storage_options or {})
    open_store(url, create=False, **storage_options)  # a UI writes nothing unasked: not even a new store's marker
    config.set_store(url, **storage_options)
    db = config.get_taskdb()
    view = StoreView(db)
    info = {"store": public_url(db.store.url), "backend": db.store.backend.name, "read_only": read_only}

    def api(handler: Callable[..., Any]) -> Callable[[Request], Any]:
        """Run a blocking view in the thread pool and map errors to JSON answers."""

        async def endpoint(request: Request) -> Response:
            try:
                result = await run_in_threadpool(handler, request)
            except BadRequest as exc:
                return _error(400, str(exc))
            except LookupError as exc:  # NotFound, and the store's own not-found errors
                return _error(404, str(exc).strip("'\""))
            except (FstrackError, ValueError, TypeError, RuntimeError) as exc:
                return _error(409 if request.method == "POST" else 400, str(exc) or type(exc).__name__)
            return result if isinstance(result, Response) else _json(result)

        return endpoint

    def task_id(request: Request) -> str:
        return check_task_id(request.path_params["task_id"])

    def tasks(request: Request) -> Any:
        return view.tasks(
            project=request.query_params.get("project") or None,
            subprojects=_bool(request, "subprojects"),
            status=_list(request, "status"),
            task_type=_list(request, "type"),
            user=_list(request, "user"),
            tags=_list(request, "tag"),
            name=request.query_params.get("name") or None,
            archived=_bool(request, "archived"),
            sort=request.query_params.get("sort") or "-last_update",
            columns=_list(request, "column") or list(DEFAULT_COLUMNS),
            offset=_int(request, "offset", 0),
            limit=_int(request, "limit", 100),
            ids=_task_ids(_list(request, "ids")) or None,
        )

    def scalars(request: Request) -> Any:
        since = _int(request, "since", -1)
        options = _scalar_options(request)
        if since >= 0:
            position = view.task_log(task_id(request)).position
            if position == since:
                return {"unchanged": True, "position": position}
        return view.scalars(task_id(request), **options)

    def console(request: Request) -> Any:
        return view.console(
            task_id(request),
            after=_int(request, "after", -1),
            tail=_int(request, "tail", 1000),
            limit=_int(request, "limit", 5000),
            search=request.query_params.get("q") or None,
        )

    def artifact_preview(request: Request) -> Any:
        return view.artifact_preview(task_id(request), request.path_params["name"])

    def store_object(request: Request) -> Response:
        """An object's bytes: inline (sandboxed) for the safe types, else as a download."""
        oid = request.path_params["oid"]
        try:
            ObjectId(oid)
        except ValueError:
            raise BadRequest(f"object id must be 64 hex digits, got {oid!r}") from None
        name = os.path.basename(request.query_params.get("name") or oid) or oid
        content_type = (
            request.query_params.get("type") or mimetypes.guess_type(name)[0] or "application/octet-stream"
        ).lower()
        inline = any(content_type.startswith(t) for t in INLINE_TYPES) and not _bool(request, "download")
        safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
        headers = {
            "content-security-policy": OBJECT_CSP,
            "cache-control": "private, max-age=31536000, immutable",
            "content-disposition": f'{"inline" if inline else "attachment"}; filename="{safe_name}"',
        }
        media_type = content_type if inline else "application/octet-stream"
        key = f"objects/{oid[:2]}/{oid[2:]}"
        try:
            size = db.store.backend.info(key).size
        except FileNotFoundError:
            raise NotFound(f"object {oid} is not in this store") from None
        if size and size > _LARGE_OBJECT:
            fd, path = tempfile.mkstemp(prefix="fstrack-ui-")
            os.close(fd)
            db.store.get_file(oid, path)
            return FileResponse(
                path, media_type=media_type, headers=headers, background=BackgroundTask(os.unlink, path)
            )
        return Response(db.store.get(oid), media_type=media_type, headers=headers)

    def compare_scalars(request: Request) -> Any:
        return view.compare_scalars(_task_ids(_list(request, "tasks")), **_scalar_options(request))

    def model_id(request: Request) -> str:
        return request.path_params["model_id"]

    async def action(request: Request) -> Response:
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            return _error(400, "the request body must be JSON")

        def act(req: Request) -> Any:
            result = run_action(task_id(req), req.path_params["action"], body)
            view.forget_records()
            return result

        return await api(act)(request)

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    async def plotly_js(request: Request) -> Response:
        import plotly

        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(path, media_type="text/javascript", headers={"cache-control": "max-age=86400"})

    routes = [
        Route("/api/info", api(lambda r: info)),
        Route("/api/projects", api(lambda r: view.projects())),
        Route(
            "/api/columns", api(lambda r: view.columns(r.query_params.get("project") or None, _bool(r, "subprojects")))
        ),
        Route("/api/tasks", api(tasks)),
        Route("/api/tasks/{task_id}", api(lambda r: view.task(task_id(r)))),
        Route("/api/tasks/{task_id}/history", api(lambda r: view.history(task_id(r)))),
        Route("/api/tasks/{task_id}/scalars", api(scalars)),
        Route("/api/tasks/{task_id}/scalars/titles", api(lambda r: view.scalar_titles(task_id(r)))),
        Route("/api/tasks/{task_id}/console", api(console)),
        Route("/api/tasks/{task_id}/plots", api(lambda r: view.plots(task_id(r)))),
        Route("/api/tasks/{task_id}/debug_samples", api(lambda r: view.debug_samples(task_id(r)))),
        Route("/api/tasks/{task_id}/artifacts", api(lambda r: view.artifacts(task_id(r)))),
        Route("/api/tasks/{task_id}/artifacts/{name:path}/preview", api(artifact_preview)),
        Route("/api/tasks/{task_id}/actions/{action}", action, methods=["POST"]),
        Route("/api/objects/{oid}", api(store_object)),
        Route(
            "/api/models",
            api(
                lambda r: view.model_records(
                    project=r.query_params.get("project") or None,
                    sort=r.query_params.get("sort") or "-created",
                    name=r.query_params.get("name") or None,
                    tags=_list(r, "tag"),
                    archived=_bool(r, "archived"),
                )
            ),
        ),
        Route("/api/models/{model_id}", api(lambda r: view.model(model_id(r)))),
        Route(
            "/api/models/{model_id}/scalars", api(lambda r: view.scalars(model_id(r), model=True, **_scalar_options(r)))
        ),
        Route("/api/models/{model_id}/plots", api(lambda r: view.plots(model_id(r), model=True))),
        Route("/api/queues", api(lambda r: view.queues())),
        Route("/api/compare", api(lambda r: view.compare(_task_ids(_list(r, "tasks"))))),
        Route("/api/compare/scalars", api(compare_scalars)),
        Route("/static/plotly.min.js", plotly_js),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        *(Route(path, page) for path in PAGES),
    ]
    warm_up = threading.Timer(2.0, _warm_up)  # after the first page's requests, which it would slow down
    warm_up.daemon = True
    threads.start(warm_up)
    app = Starlette(routes=routes)
    app.state.view = view
    return Guard(app, token=token, read_only=read_only, check_host=check_host)
