"""2. Per-job cost in Redis: commands, round trips and bytes, from submit to final state.

The server does the counting: CONFIG RESETSTAT, run the jobs, then one INFO. Commands
come from ``INFO commandstats`` (it counts the commands a script runs too: the server
does that work); round trips from ``total_reads_processed`` (one read per request, however
many commands a pipeline packs into it). Bytes are ``MEMORY USAGE`` of each record plus
the job's share of its group set; beside them, the memory FLUSHDB frees per job (which
also holds the TTL entries and the hash tables).

The floor stores the same info objects, in the same three states (Queued, Running,
Success), the least way the protocol allows: a plain redis-py client, each state one
MULTI/EXEC of SET and PUBLISH (the first also SADD), no TTL, no final-status guard.
"""

from __future__ import annotations

import json
import statistics
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
    # What the keys hold in all (TTL entries and hash tables too): the memory a FLUSHDB
    # frees, read just before and after it, so the clients' buffers are alike in both.
    used = client.info("memory")["used_memory"]
    client.flushdb()
    keyspace = used - client.info("memory")["used_memory"]
    sample = {
        "commands": sum(commands.values()) / count,
        "round_trips": round_trips / count,
        "bytes": (sum(records) + group_set) / count,
        "keyspace": keyspace / count,
        "json_bytes": json_bytes,
    }
    sample.update({f"cmd.{name}": calls / count for name, calls in sorted(commands.items())})
    return sample


def moi_run(bench: Bench, count: int) -> dict[str, float]:
    """``count`` jobs through ``submit``, counted until every one has ended."""
    # Subscribed before the counters are reset: only the jobs' own traffic is counted.
    with bench.moi_context() as ctx, EndedJobs(bench.redis_server.url, count) as ended:

        def work() -> list[str]:
            ids = [submit(GROUP, "double", None, jobs.double, index) for index in range(count)]
            ended.wait(60 + count / 10)
            ctx.ipp_client.wait(timeout=60)  # the tasks' replies, before the client closes
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
