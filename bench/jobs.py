"""Job functions the bench runs on engines. Engines import them from here, by name."""


def double(x, **kwargs):
    """The trivial job: all its cost is the dispatch's."""
    return x * 2


def stamps(count, interval, status_update, **kwargs):
    """Set the status to ``stamp <time.time()>`` ``count`` times, ``interval`` s apart.

    The latency probe: a client that receives the update knows when it was sent. The
    last stamp is followed by a pause too: the hub sends a job's current state, so a
    notice that arrives together with the final one would never be sent on its own.
    """
    import time

    for _ in range(count):
        time.sleep(interval)
        status_update(f"stamp {time.time():.6f}")
    time.sleep(interval)
    return count


def sleeps_until_interrupted(redis_url, key, status_update=None, **kwargs):
    """Say it runs (a push to ``key``), then sleep in short steps until interrupted; as it
    lets go, push the time to ``key:freed``."""
    import time

    import redis

    client = redis.Redis.from_url(redis_url)
    try:  # before the push: the interrupt may come as soon as it is in Redis
        client.rpush(key, "running")
        while True:
            time.sleep(0.01)
    finally:
        client.rpush(f"{key}:freed", repr(time.time()))


def prints_stamps(count, interval, redis_url, go_key, **kwargs):
    """Print ``ready``, wait for the go (a push to ``go_key``), then print
    ``stamp <time.time()>`` ``count`` times, ``interval`` s apart.

    The live-output probe: a follower that receives a line knows when it was printed. The
    go lets the bench start the clock once a follower is subscribed, so no stamp reaches
    it from storage instead of live.
    """
    import time

    import redis

    print("ready", flush=True)
    client = redis.Redis.from_url(redis_url)
    try:
        if client.blpop([go_key], timeout=60) is None:
            raise TimeoutError(f"no go on {go_key} within 60 s")
    finally:
        client.close()
    for _ in range(count):
        time.sleep(interval)
        print(f"stamp {time.time():.6f}", flush=True)
    return count


def prints_fast(rate, seconds, **kwargs):
    """Print ``rate`` lines a second for ``seconds`` (a burst every few milliseconds, each
    line ~70 bytes); a loud job. ``rate`` 0 prints nothing and sleeps as long.

    :returns: ``{"lines": printed, "seconds": taken}``, what the job actually managed.
    """
    import sys
    import time

    write, flush = sys.stdout.write, sys.stdout.flush
    start = time.perf_counter()
    printed = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * rate)
        if due > printed:
            write(
                "".join(
                    f"line {n:>9} of a loud job, printed to see the cap hold\n"
                    for n in range(printed, due)
                )
            )
            flush()
            printed = due
        time.sleep(0.005)
    return {"lines": printed, "seconds": time.perf_counter() - start}
