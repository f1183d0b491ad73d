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
