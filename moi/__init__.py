"""moi: run compute on an ipyparallel cluster from a web app, and watch it live.

Jobs are submitted with :func:`moi.job.submit`; their state lives in Redis as JSON info
objects, and every change is published on Redis pub/sub (see PROTOCOL.md).
"""

__version__ = "0.1.0"
