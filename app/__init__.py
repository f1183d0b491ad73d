"""The moi demo site: sign in, run sample jobs, and watch them live.

A reference Tornado application to copy as the start of a new project. Build it with
:func:`app.application.create_app`; run it with ``python -m app``.
"""
