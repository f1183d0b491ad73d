"""2. Per-job cost in Redis: commands, round trips and bytes, from submit to final state.

The server does the counting: CONFIG RESETSTAT, run the jobs, then one INFO. Commands
come from ``INFO commandstats`` (it counts the commands a script runs too: the server
does that work); round trips from ``total_reads_processed`` (one read per request, however
many commands a pipeline packs into it). Bytes are ``MEMORY USAGE`` of each record plus
the job's share of its group set. Beside them, the keyspace memory per job (which also
holds the TTL entries and the hash tables): the jobs' final records, with their group
set, are copied under fresh keys with the same values and TTLs until there are
:data:`COPIES` records, and the growth of ``used_memory`` (less the clients' buffers) is
divided among them. A few jobs' worth of memory is lost in the allocator's and the
clients' noise; several megabytes are not.

The floor stores the same info objects, in the same three states (Queued, Running,
Success), the least way the protocol allows: a plain redis-py client, each state one
MULTI/EXEC of SET and PUBLISH (the first also SADD), no TTL, no final-status guard.
"""

from __future__ import annotations

import json
import math
import statistics
import time
import uuid
from collections.abc import Callable
from functools import partial

import redis

from bench import jobs
from bench.harness import Bench, EndedJobs, Options, alternate, check_doubled, column
from bench.report import Figure
from moi import keys, record
from moi.job import submit

GROUP = "bench-cost"
FLOOR_GROUP = "bench-cost-floor"
WARMUP = 20
FLOOR = "plain redis-py: 3 MULTI/EXECs of SET+PUBLISH per job, no TTL, no guard"
OWN_COMMANDS = ("info", "config")  # the bench's own, left out of the counts
COPIES = 10_000
"""Records the keyspace memory is measured on: megabytes, far above the servers' noise."""
BATCH = 500  # commands per round trip while copying


def sizes(options: Options) -> int:
    return 20 if options.quick else 200


def counted(
    client: redis.Redis,
    group: str,
    count: int,
    work: Callable[[], list[str]],
    check: Callable[[list[str]], None] = lambda ids: None,
) -> dict[str, float]:
    """Reset the server's counters, run ``work`` (it returns the job IDs), and count.

    ``check`` looks at the jobs once the counts are taken, before they are flushed.

    :returns: per job: commands, round trips, bytes stored, keyspace memory, JSON bytes
        of a record, and ``cmd.<name>`` for each command.
    """
    client.flushdb()
    client.config_resetstat()
    ids = work()
    info = client.info("all")  # 1 read, counted before it is answered
    commands = {
        name.removeprefix("cmdstat_"): stats["calls"]
        for name, stats in info.items()
        if name.startswith("cmdstat_") and name.removeprefix("cmdstat_") not in OWN_COMMANDS
    }
    round_trips = info["total_reads_processed"] - 1
    with client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.memory_usage(keys.job_key(job_id), samples=0)
        pipe.memory_usage(keys.group_jobs_key(group), samples=0)
        *records, group_set = pipe.execute()
    json_bytes = statistics.mean(client.strlen(keys.job_key(i)) for i in ids)
    check(ids)
    sample = {
        "commands": sum(commands.values()) / count,
        "round_trips": round_trips / count,
        "bytes": (sum(records) + group_set) / count,
        "keyspace": keyspace_per_job(client, group, ids),
        "json_bytes": json_bytes,
    }
    sample.update({f"cmd.{name}": calls / count for name, calls in sorted(commands.items())})
    return sample


def keyspace_per_job(client: redis.Redis, group: str, ids: list[str]) -> float:
    """Bytes of keyspace per job, from copies of the jobs' final records and group set.

    Each copy holds every record under a fresh UUID key, with the same value and TTL, and
    a set of those keys with the group set's TTL; copies are added until there are at
    least :data:`COPIES` records. The database is emptied first, so its hash tables grow
    alike in every run, and it is left empty.
    """
    with client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.get(keys.job_key(job_id))
            pipe.pttl(keys.job_key(job_id))
        pipe.pttl(keys.group_jobs_key(group))
        *replies, group_ttl = pipe.execute()
    records = list(zip(replies[::2], replies[1::2], strict=True))
    copies = math.ceil(COPIES / len(records))
    # One copy first: a server since 7.0 allocates a command's latency histogram on its
    # first call after CONFIG RESETSTAT, tens of KB that are no job's.
    _copy(client, group, records, group_ttl, 1)
    client.flushdb()
    before = _keyspace_memory(client)
    _copy(client, group, records, group_ttl, copies)
    after = _settled(lambda: _keyspace_memory(client))
    client.flushdb()
    return (after - before) / (copies * len(records))


def _copy(
    client: redis.Redis,
    group: str,
    records: list[tuple[str, int]],
    group_ttl: int,
    copies: int,
) -> None:
    """Write ``copies`` copies of a group: its (value, PTTL) records and its set."""
    with client.pipeline(transaction=False) as pipe:
        for copy in range(copies):
            copy_ids = [str(uuid.uuid4()) for _ in records]
            for copy_id, (value, ttl) in zip(copy_ids, records, strict=True):
                pipe.set(keys.job_key(copy_id), value, px=ttl if ttl > 0 else None)
            set_key = keys.group_jobs_key(f"{group}-copy-{copy}")
            pipe.sadd(set_key, *copy_ids)
            if group_ttl > 0:
                pipe.pexpire(set_key, group_ttl)
            if len(pipe) >= BATCH:
                pipe.execute()
        pipe.execute()


def _keyspace_memory(client: redis.Redis) -> int:
    """``used_memory`` less the clients' buffers, which grow and shrink with the traffic."""
    memory = client.info("memory")
    return memory["used_memory"] - memory["mem_clients_normal"]


def _settled(read: Callable[[], int], interval: float = 0.1, timeout: float = 3.0) -> int:
    """``read()`` once two reads ``interval`` apart agree (or at ``timeout``).

    The server finishes moving a grown hash table to its new size in its cron, a few
    times a second; until then the old table is still allocated.
    """
    deadline = time.monotonic() + timeout
    last = read()
    while time.monotonic() < deadline:
        time.sleep(interval)
        last, previous = read(), last
        if last == previous:
            break
    return last


def moi_run(bench: Bench, count: int) -> dict[str, float]:
    """``count`` jobs through ``submit``, counted until every one has ended."""
    # Subscribed before the counters are reset: only the jobs' own traffic is counted.
    with bench.moi_context() as ctx, EndedJobs(bench.redis_server.url, count) as ended:

        def work() -> list[str]:
            ids = [submit(GROUP, "double", None, jobs.double, index) for index in range(count)]
            ended.wait(60 + count / 10)
            ctx.drain(60)  # the tasks' replies, before the client closes
            return ids

        return counted(bench.redis, GROUP, count, work, partial(check_doubled, bench.redis))


def floor_run(bench: Bench, count: int) -> dict[str, float]:
    """The same three states of ``count`` jobs, written the least way the protocol allows."""
    client = bench.redis

    def write(pipe: redis.client.Pipeline, info: dict, notice: str) -> None:
        pipe.set(keys.job_key(info["id"]), record.encode(info))
        pipe.publish(keys.job_channel(info["id"]), notice)

    def work() -> list[str]:
        ids = []
        for index in range(count):
            info = record.new_info(FLOOR_GROUP, "double", None)
            with client.pipeline(transaction=True) as pipe:
                pipe.set(keys.job_key(info["id"]), record.encode(info))
                pipe.sadd(keys.group_jobs_key(FLOOR_GROUP), info["id"])
                pipe.publish(keys.group_channel(FLOOR_GROUP), json.dumps({"add": [info["id"]]}))
                pipe.execute()
            info.update(status="Running", date_start=record.now())
            with client.pipeline(transaction=True) as pipe:
                write(pipe, info, record.NOTICE_STATUS)
                pipe.execute()
            info.update(status="Success", result=2 * index, date_end=record.now())
            with client.pipeline(transaction=True) as pipe:
                write(pipe, info, record.NOTICE_STATUS)
                pipe.execute()
            ids.append(info["id"])
        return ids

    return counted(client, FLOOR_GROUP, count, work)


FIGURES = (
    ("commands", "commands/job", "cost.commands"),
    ("round_trips", "round trips/job", "cost.round_trips"),
    ("bytes", "bytes/job", "cost.bytes"),
    ("keyspace", "bytes/job", "cost.keyspace_memory"),
)


def measure(bench: Bench, options: Options) -> list[Figure]:
    count = sizes(options)
    bench.start()
    moi_run(bench, WARMUP)  # every engine connected, the update script loaded
    ours, floor = alternate(
        options.repeat,
        lambda: moi_run(bench, count),
        lambda: floor_run(bench, count),
        f"cost ({count} jobs)",
    )
    detail = {
        "jobs": count,
        "keyspace_records": math.ceil(COPIES / count) * count,
        "json_bytes": statistics.median(column(ours, "json_bytes")),
        "moi_commands": _breakdown(ours),
        "floor_commands": _breakdown(floor),
    }
    return [
        Figure(name, unit, column(ours, key), column(floor, key), FLOOR, detail=detail)
        for key, unit, name in FIGURES
    ]


def _breakdown(samples: list[dict[str, float]]) -> dict[str, float]:
    """Per command: the median calls per job."""
    names = {key for sample in samples for key in sample if key.startswith("cmd.")}
    return {
        name.removeprefix("cmd."): statistics.median(s.get(name, 0.0) for s in samples)
        for name in sorted(names)
    }
