"""moi: run compute on an ipyparallel cluster from a web app, and watch it live.

Jobs are submitted with :func:`moi.job.submit`; their state lives in Redis as JSON info
objects, and every change is published on Redis pub/sub (see PROTOCOL.md).
"""

__version__ = "0.1.0"


def static_path() -> str:
    """The directory of ``moi.js`` and ``moi_list.js``, for an app to serve."""
    from pathlib import Path

    return str(Path(__file__).parent / "static")
