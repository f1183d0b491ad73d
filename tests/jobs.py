"""Job functions the tests run on engines. Engines import them from here, by name.

A function runs in its engine's job process (:mod:`moi.jobprocess`), a child of the
engine: ``os.getppid()`` there is the engine's PID, ``os.getpid()`` the job process's.
"""

import os
import signal


def double(x, **kwargs):
    return x * 2


def hello(name, status_update, **kwargs):
    status_update("Saying hello")
    return f"Hello, {name}!"


def custom_statuses(statuses, status_update, **kwargs):
    for status in statuses:
        status_update(status)
    return len(statuses)


def with_progress(steps, status_update, **kwargs):
    for step in range(1, steps + 1):
        status_update(f"step {step} of {steps}", progress=step / steps)
    return steps


def returns(value, **kwargs):
    return value


class Opaque:
    """A result JSON cannot carry, so it is stored as its repr()."""

    def __repr__(self):
        return "<Opaque result>"


def returns_opaque(**kwargs):
    return Opaque()


def raises(message, **kwargs):
    raise ValueError(message)


def big_result(size, **kwargs):
    return "x" * size


def kill_own_engine(**kwargs):
    os.kill(os.getppid(), signal.SIGKILL)


def exits(code, **kwargs):
    """End the job's own process, not its engine."""
    os._exit(code)


def holds_the_gil(n, **kwargs):
    """One C call that keeps the GIL for a long time (seconds for n = 10**8)."""
    return sum(range(n))


def blocks_until_released(redis_url, key, statuses=(), *, status_update, **kwargs):
    """Stay Running until a test pushes to ``key`` (a Redis list), then set ``statuses``."""
    import redis

    status_update("Waiting")
    released = redis.Redis.from_url(redis_url).blpop([key], timeout=60)
    for status in statuses:
        status_update(status)
    return "released" if released else "never released"


def steps(redis_url, key, statuses, *, status_update, **kwargs):
    """Set each of ``statuses`` and then end, each step only after a push to ``key``."""
    import redis

    client = redis.Redis.from_url(redis_url)
    for status in statuses:
        client.blpop([key], timeout=60)
        status_update(status)
    client.blpop([key], timeout=60)
    return "stepped"


def waits_for_fifo(path, *, status_update, **kwargs):
    """Stay Running until a test writes to the named pipe ``path``; return what it wrote."""
    status_update("Waiting")
    with open(path) as pipe:  # blocks until the test opens it for writing
        return pipe.read()


def tells_pid_then_blocks(redis_url, key, *, status_update, **kwargs):
    """Set the status "pid N" (this engine's), then stay Running until a push to ``key``."""
    import redis

    status_update(f"pid {os.getppid()}")
    client = redis.Redis.from_url(redis_url, socket_timeout=None)
    released = client.blpop([key], timeout=120)
    return "released" if released else "never released"


def tells_pid_then_sleeps(seconds, *, status_update, **kwargs):
    """Set the status "pid N" (this engine's), then sleep ``seconds``, a little at a time."""
    import time

    status_update(f"pid {os.getppid()}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return "slept"


def ignores_interrupts(seconds, *, status_update, **kwargs):
    """Like :func:`tells_pid_then_sleeps`, but catches every KeyboardInterrupt; the status
    is "pid ENGINE process JOB_PROCESS"."""
    import contextlib
    import time

    status_update(f"pid {os.getppid()} process {os.getpid()}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(0.05)
    return "ignored every interrupt"


def marks_after(redis_url, key, seconds, **kwargs):
    """Sleep ``seconds`` (a little at a time), then set ``key``: it ran its full length."""
    import time

    import redis

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    redis.Redis.from_url(redis_url).set(key, "ran out")
    return "ran out"


def marks_that_it_ran(redis_url, key, **kwargs):
    """Set ``key`` in Redis: a test can tell whether the function was ever called."""
    import redis

    redis.Redis.from_url(redis_url).set(key, "ran")
    return "ran"


def pid(**kwargs):
    """The PID of the engine that ran it."""
    return os.getppid()


def dies_on_first_attempt(redis_url, key, **kwargs):
    """Kill its own engine the first time it runs (counted in ``key``); then succeed."""
    import redis

    if redis.Redis.from_url(redis_url).incr(key) == 1:
        os.kill(os.getppid(), signal.SIGKILL)
    return "second attempt"


def exits_on_first_attempt(redis_url, key, **kwargs):
    """End its own job process the first time it runs (counted in ``key``); then succeed."""
    import redis

    if redis.Redis.from_url(redis_url).incr(key) == 1:
        os._exit(3)
    return "second attempt"


def progress_on_cue(redis_url, key, steps, *, status_update, **kwargs):
    """Each step (status and progress) only after a push to ``key``; one more push ends it."""
    import redis

    client = redis.Redis.from_url(redis_url)
    for step in range(1, steps + 1):
        client.blpop([key], timeout=60)
        status_update(f"step {step} of {steps}", progress=step / steps)
    client.blpop([key], timeout=60)
    return steps


def sleeps(seconds, **kwargs):
    """Sleep ``seconds``, a little at a time (a cancel interrupts it between two)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.02)
    return seconds


def counts_runs(redis_url, key, item, seconds=0, **kwargs):
    """Count this call in the hash ``key`` under ``item`` (then sleep ``seconds``): a test
    can tell how often each job's function ran."""
    import time

    import redis

    redis.Redis.from_url(redis_url).hincrby(key, str(item), 1)
    time.sleep(seconds)
    return item


def prints(lines, tag="", **kwargs):
    """Print ``lines`` numbered lines, each tagged, on stdout; one on stderr after each
    hundredth; through a subprocess once; and a logging record (the function's output
    as a user's job makes it)."""
    import logging
    import subprocess
    import sys

    for i in range(lines):
        print(f"{tag} line {i}")
        if i % 100 == 99:
            print(f"{tag} warning {i}", file=sys.stderr)
    subprocess.run(["echo", f"{tag} from a subprocess"], check=True)
    logging.getLogger("sample").warning("%s logged", tag)
    return lines


def prints_then_dies(lines, **kwargs):
    """Print ``lines`` lines, then end its job process at once (no cleanup, no flush)."""
    for i in range(lines):
        print(f"line {i}")
    os.kill(os.getpid(), signal.SIGKILL)


def leaves_a_printer(go, done, **kwargs):
    """Start a subprocess that outlives this job: once the file ``go`` exists, it prints
    a line and writes its echo's exit status to the file ``done``."""
    import subprocess

    script = (
        f"trap '' PIPE; while [ ! -e {go} ]; do sleep 0.02; done; echo late line; echo $? > {done}"
    )
    subprocess.Popen(["sh", "-c", script], start_new_session=True)
    return "left"


def echo(text, **kwargs):
    """Print ``text``."""
    print(text)


def prints_on_cue(redis_url, key, **kwargs):
    """Print a line, then wait for a push to ``key`` before the next; "end" ends it."""
    import redis

    client = redis.Redis.from_url(redis_url)
    while True:
        _, cue = client.blpop([key], timeout=60)
        if cue == b"end":
            return "done"
        print(cue.decode())


def logs_configured(**kwargs):
    """Configure logging as a script would, then log at INFO."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(message)s", force=True)
    logging.getLogger("sample").info("configured")
    logging.root.handlers.clear()  # as it found it, for the next job of its process
    logging.root.setLevel(logging.WARNING)
