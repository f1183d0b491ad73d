"""Following a job's output over the websocket (moi/follow.py), on the real hub and Redis.

Output is made with :meth:`moi.output.Output.append`, as an engine stores it: each call
stores its lines and publishes them on the job's output channel in one step.
"""

from __future__ import annotations

import json

import pytest

from moi import keys
from moi.follow import MAX_FOLLOWS
from moi.hub import Hub
from moi.messages import MAX_SINCE
from moi.output import PAGE_LINES, Output, fragment
from tests.test_group import store_jobs
from tests.wsclient import WsClient, run, serve

UNKNOWN_JOB = "5b0e8f8e-6c1e-4d6a-9d55-0c2a1d9b7e41"
"""A job ID no test stores."""
T0 = 1_700_000_000_000


def print_lines(r, job_id: str, texts: list[str], cap: int = 0) -> None:
    """Store and publish lines of ``job_id``'s output, as its engine would."""
    fragments = [fragment("stdout", T0 + n, text) for n, text in enumerate(texts)]
    assert Output(r).append(job_id, 1, fragments, 3600, cap) == len(texts)


def output_channels(r) -> list[str]:
    """The output channels someone listens on (Redis's own answer)."""
    return sorted(r.pubsub_channels(keys.OUTPUT_PREFIX + "*"))


async def output(client: WsClient) -> dict:
    """The next message, which must be a ``moi:output``."""
    message = await client.next()
    assert set(message) == {"moi:output"}, message
    return message["moi:output"]


async def lines_until(client: WsClient, last: int) -> list[list]:
    """The lines of the ``moi:output`` messages that come until line ``last``."""
    lines: list[list] = []
    while not lines or lines[-1][0] < last:
        lines += (await output(client))["lines"]
    return lines


async def nothing_came(client: WsClient) -> None:
    """Assert that nothing is on its way to ``client``: the answer to a message sent now
    comes next."""
    await client.send({"moi:unfollow": "not a job"})
    reply = await client.next()
    assert set(reply) == {"error"}, reply


async def joined(served, user: str) -> WsClient:
    client = await served.connect(user)
    await client.snapshot()
    return client


@run
async def test_follow_from_0_sends_stored_lines_then_live_ones_in_order(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    print_lines(r, job_id, ["one", "two", "three"])
    async with serve(settings.redis_url) as served:
        client = await joined(served, "ann")
        await client.send({"moi:follow": {"id": job_id, "since": 0}})
        stored = await output(client)
        assert stored == {
            "id": job_id,
            "lines": [
                [0, "stdout", T0, "one"],
                [1, "stdout", T0 + 1, "two"],
                [2, "stdout", T0 + 2, "three"],
            ],
            "dropped": None,
        }
        print_lines(r, job_id, ["four", "five"])
        live = await output(client)
        assert live == {
            "id": job_id,
            "lines": [[3, "stdout", T0, "four"], [4, "stdout", T0 + 1, "five"]],
            "dropped": None,
        }
        print_lines(r, job_id, ["six"])
        assert [line[0] for line in (await output(client))["lines"]] == [5]
        await client.aclose()


@run
async def test_follow_from_n_starts_there_and_since_may_be_left_out(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    print_lines(r, job_id, [f"line {n}" for n in range(5)])
    async with serve(settings.redis_url) as served:
        client = await joined(served, "ann")
        await client.send({"moi:follow": {"id": job_id, "since": 3}})
        assert [line[3] for line in (await output(client))["lines"]] == ["line 3", "line 4"]
        other = await joined(served, "ann")
        await other.send({"moi:follow": {"id": job_id}})
        assert [line[0] for line in (await output(other))["lines"]] == [0, 1, 2, 3, 4]
        for each in (client, other):
            await each.aclose()


@run
async def test_a_follow_beyond_the_end_gets_the_lines_from_there_on(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    print_lines(r, job_id, ["a", "b"])
    async with serve(settings.redis_url) as served:
        client = await joined(served, "ann")
        await client.send({"moi:follow": {"id": job_id, "since": 4}})
        await nothing_came(client)  # the follow is in place once its reply went out
        await served.hub.settled()
        print_lines(r, job_id, ["c", "d", "e", "f"])  # lines 2 to 5
        assert [line[3] for line in (await output(client))["lines"]] == ["e", "f"]
        await client.aclose()


@run
async def test_stored_output_longer_than_a_page_comes_page_by_page(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    count = PAGE_LINES + 3
    print_lines(r, job_id, [str(n) for n in range(count)])
    async with serve(settings.redis_url) as served:
        client = await joined(served, "ann")
        await client.send({"moi:follow": {"id": job_id}})
        first, second = await output(client), await output(client)
        assert len(first["lines"]) == PAGE_LINES and len(second["lines"]) == 3
        numbers = [line[0] for line in first["lines"] + second["lines"]]
        assert numbers == list(range(count))
        await client.aclose()


@run
async def test_two_sockets_share_one_subscription_and_unfollow_stops_one(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    print_lines(r, job_id, ["first"])
    async with serve(settings.redis_url) as served:
        one, two = await joined(served, "ann"), await joined(served, "ann")
        for client in (one, two):
            await client.send({"moi:follow": {"id": job_id}})
            assert (await output(client))["lines"][0][3] == "first"
        assert output_channels(r) == [keys.output_channel(job_id)]
        assert served.hub.subscriptions == 2  # ann:pubsub and the job's output channel
        print_lines(r, job_id, ["second"])
        for client in (one, two):
            assert (await output(client))["lines"] == [[1, "stdout", T0, "second"]]

        await one.send({"moi:unfollow": job_id})
        await nothing_came(one)  # the unfollow is done once its next message is answered
        print_lines(r, job_id, ["third"])
        assert (await output(two))["lines"] == [[2, "stdout", T0, "third"]]
        await nothing_came(one)  # two got the line first: it went to one too, if at all
        await served.hub.settled()
        assert output_channels(r) == [keys.output_channel(job_id)]

        await two.send({"moi:unfollow": job_id})
        await nothing_came(two)
        await served.hub.settled()
        assert output_channels(r) == []  # Redis confirmed the unsubscribe
        assert served.hub.subscriptions == 1
        assert served.hub.output.channels == {} and served.hub.output.clients == {}
        for client in (one, two):
            await client.aclose()


@run
async def test_the_last_follower_closing_unsubscribes_the_job(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    print_lines(r, job_id, ["only"])
    async with serve(settings.redis_url) as served:
        one, two = await joined(served, "ann"), await joined(served, "ann")
        for client in (one, two):
            await client.send({"moi:follow": {"id": job_id}})
            await output(client)
        await one.aclose()
        await served.left()
        assert output_channels(r) == [keys.output_channel(job_id)]
        print_lines(r, job_id, ["more"])
        assert (await output(two))["lines"][0][3] == "more"
        await two.aclose()
        await served.left()
        assert output_channels(r) == []
        assert served.hub.subscriptions == 0
        assert served.hub.output.channels == {} and served.hub.output.clients == {}


@run
async def test_another_groups_job_and_an_unknown_job_get_the_same_error(r, settings):
    (bob_job,) = store_jobs(r, "bob", 1)
    print_lines(r, bob_job, ["bob's secret"])
    async with serve(settings.redis_url) as served:
        ann = await joined(served, "ann")
        errors = []
        for job_id in (bob_job, UNKNOWN_JOB):
            await ann.send({"moi:follow": {"id": job_id, "since": 0}})
            reply = await ann.next()
            assert set(reply) == {"error"}, reply
            errors.append(reply["error"].replace(job_id, "<id>"))
        assert errors[0] == errors[1] == "no job <id> of yours to follow"
        await served.hub.settled()
        assert output_channels(r) == [] and served.hub.output.clients == {}
        print_lines(r, bob_job, ["more of bob's"])
        await nothing_came(ann)
        await ann.aclose()


BAD_VALUES = [
    ({"moi:follow": "JOB"}, 'moi:follow takes {"id": job ID, "since": line}'),
    ({"moi:follow": ["JOB"]}, 'moi:follow takes {"id": job ID, "since": line}'),
    ({"moi:follow": None}, 'moi:follow takes {"id": job ID, "since": line}'),
    ({"moi:follow": {"id": "JOB", "since": 0, "to": 9}}, 'moi:follow takes {"id"'),
    ({"moi:follow": {"since": 0}}, "moi:follow takes a job ID (a UUID4 string) as its id"),
    ({"moi:follow": {"id": "ann:jobs"}}, "as its id"),
    ({"moi:follow": {"id": 5}}, "as its id"),
    ({"moi:follow": {"id": "JOB", "since": -1}}, "takes a line number from 0 to"),
    ({"moi:follow": {"id": "JOB", "since": "3"}}, "as its since"),
    ({"moi:follow": {"id": "JOB", "since": 1.5}}, "as its since"),
    ({"moi:follow": {"id": "JOB", "since": True}}, "as its since"),
    ({"moi:follow": {"id": "JOB", "since": None}}, "as its since"),
    ({"moi:follow": {"id": "JOB", "since": MAX_SINCE + 1}}, "as its since"),
    ({"moi:unfollow": "ann:jobs"}, "moi:unfollow takes a job ID (a UUID4 string)"),
    ({"moi:unfollow": ["JOB"]}, "moi:unfollow takes a job ID"),
    ({"moi:unfollow": None}, "moi:unfollow takes a job ID"),
    ({"moi:unfollow": {"id": "JOB"}}, "moi:unfollow takes a job ID"),
]


@pytest.mark.parametrize(("message", "reason"), BAD_VALUES, ids=[str(m) for m, _ in BAD_VALUES])
@run
async def test_bad_values_get_an_error_and_the_socket_answers_on(r, settings, message, reason):
    (job_id,) = store_jobs(r, "ann", 1)
    print_lines(r, job_id, ["still here"])
    async with serve(settings.redis_url) as served:
        client = await joined(served, "ann")
        await client.send(json.dumps(message).replace("JOB", job_id))
        reply = await client.next()
        assert set(reply) == {"error"}, reply
        assert reason in reply["error"]
        assert served.hub.output.clients == {}
        await client.send({"moi:follow": {"id": job_id}})
        assert (await output(client))["lines"][0][3] == "still here"
        await client.aclose()


@run
async def test_a_dropped_range_comes_with_the_lines_that_jump_over_it(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    print_lines(r, job_id, [f"line {n:02}" for n in range(12)], cap=200)
    page = Output(r).read(job_id)
    assert page.dropped is not None and page.dropped["from"] < page.dropped["to"] < 12
    head, tail = page.dropped["from"], page.dropped["to"]
    async with serve(settings.redis_url) as served:
        client = await joined(served, "ann")
        await client.send({"moi:follow": {"id": job_id}})
        stored = await output(client)
        assert stored["dropped"] == page.dropped
        assert [line[0] for line in stored["lines"]] == [*range(head), *range(tail, 12)]
        # Live lines are all sent, however few of them storage keeps.
        print_lines(r, job_id, [f"line {n}" for n in range(12, 20)], cap=200)
        live = await output(client)
        assert [line[0] for line in live["lines"]] == list(range(12, 20))
        assert live["dropped"] is None

        from_the_gap = await joined(served, "ann")
        await from_the_gap.send({"moi:follow": {"id": job_id, "since": head + 1}})
        now = Output(r).read(job_id)
        message = await output(from_the_gap)
        assert message["dropped"] == now.dropped
        assert message["lines"][0][0] == now.dropped["to"]

        past_it = await joined(served, "ann")
        await past_it.send({"moi:follow": {"id": job_id, "since": 19}})
        assert await output(past_it) == {"id": job_id, "lines": [now.lines[-1]], "dropped": None}
        for each in (client, from_the_gap, past_it):
            await each.aclose()


@run
async def test_a_line_with_a_script_tag_arrives_as_plain_json_text(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    text = '</script><script>alert("x")</script> & <b>bold</b> \u2603'
    print_lines(r, job_id, [text])
    async with serve(settings.redis_url) as served:
        client = await joined(served, "ann")
        await client.send({"moi:follow": {"id": job_id}})
        raw = await client.conn.read_message()
        assert isinstance(raw, str)
        message = json.loads(raw)
        assert message["moi:output"]["lines"][0][3] == text
        assert "<script>" in raw  # a JSON string, not HTML-escaped: the page writes it as text
        print_lines(r, job_id, [text])
        assert (await output(client))["lines"][0][3] == text
        await client.aclose()


@run
async def test_following_again_restarts_from_since(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    print_lines(r, job_id, ["a", "b", "c"])
    async with serve(settings.redis_url) as served:
        client = await joined(served, "ann")
        await client.send({"moi:follow": {"id": job_id}})
        assert len((await output(client))["lines"]) == 3
        await client.send({"moi:follow": {"id": job_id, "since": 1}})
        assert [line[3] for line in (await output(client))["lines"]] == ["b", "c"]
        print_lines(r, job_id, ["d"])
        assert [line[3] for line in (await output(client))["lines"]] == ["d"]  # once
        await nothing_came(client)
        assert output_channels(r) == [keys.output_channel(job_id)]
        await client.aclose()


@run
async def test_a_socket_follows_at_most_twenty_jobs(r, settings):
    ids = store_jobs(r, "ann", MAX_FOLLOWS + 1)
    print_lines(r, ids[-1], ["the last job's"])
    async with serve(settings.redis_url) as served:
        client = await joined(served, "ann")
        for job_id in ids[:-1]:
            await client.send({"moi:follow": {"id": job_id}})
        await client.send({"moi:follow": {"id": ids[-1]}})
        reply = await client.next()  # those jobs printed nothing: the refusal comes first
        assert reply == {"error": "you follow 20 jobs' output already; unfollow one first"}
        await served.hub.settled()
        assert len(output_channels(r)) == MAX_FOLLOWS
        await client.send({"moi:unfollow": ids[0]})
        await client.send({"moi:follow": {"id": ids[-1]}})
        assert (await output(client))["lines"][0][3] == "the last job's"
        await client.aclose()


@run
async def test_lines_printed_while_stored_ones_are_read_come_once_in_order(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    print_lines(r, job_id, ["0", "1"])
    async with serve(settings.redis_url) as served:
        follows = served.hub.output
        read = follows.read

        async def read_while_printing(job_id: str, since: int):
            follows.read = read  # the first read only
            print_lines(r, job_id, ["2"])  # before the read: stored and published
            page = await read(job_id, since)
            print_lines(r, job_id, ["3", "4"])  # after it: only published
            return page

        follows.read = read_while_printing
        client = await joined(served, "ann")
        await client.send({"moi:follow": {"id": job_id}})
        lines = await lines_until(client, 4)
        assert [line[3] for line in lines] == ["0", "1", "2", "3", "4"]
        print_lines(r, job_id, ["5"])
        assert [line[3] for line in (await output(client))["lines"]] == ["5"]
        await client.aclose()


class MissesBatches(Hub):
    """A hub that misses the next ``missing`` batches of output, as if they were lost."""

    missing = 0

    def _on_message(self, channel: str, data: str, by_pattern: bool) -> None:
        if self.missing and channel.startswith(keys.OUTPUT_PREFIX):
            self.missing -= 1
            return
        super()._on_message(channel, data, by_pattern)


@run
async def test_a_live_batch_that_skips_ahead_has_the_gap_read_from_storage(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    print_lines(r, job_id, ["0"])
    hub = MissesBatches(settings.redis_url)
    async with serve(settings.redis_url, hub=hub) as served:
        client = await joined(served, "ann")
        await client.send({"moi:follow": {"id": job_id}})
        assert (await output(client))["lines"][0][3] == "0"
        hub.missing = 1
        print_lines(r, job_id, ["1", "2"])  # missed
        print_lines(r, job_id, ["3"])
        lines = await lines_until(client, 3)
        assert [line[3] for line in lines] == ["1", "2", "3"]
        assert hub.missing == 0
        print_lines(r, job_id, ["4"])
        assert [line[3] for line in (await output(client))["lines"]] == ["4"]
        await client.aclose()


@run
async def test_live_lines_that_arrive_together_go_in_one_message(r, settings):
    (job_id,) = store_jobs(r, "ann", 1)
    print_lines(r, job_id, ["0"])
    async with serve(settings.redis_url) as served:
        client = await joined(served, "ann")
        await client.send({"moi:follow": {"id": job_id}})
        await output(client)
        # Two batches in one turn of the loop, as the subscription's reader hands on the
        # messages it finds waiting together.
        channel = keys.output_channel(job_id)
        for n in (1, 2):
            batch = {"id": job_id, "lines": [[n, "stderr", T0, f"line {n}"]]}
            served.hub._on_message(channel, json.dumps(batch), False)
        assert (await output(client))["lines"] == [
            [1, "stderr", T0, "line 1"],
            [2, "stderr", T0, "line 2"],
        ]
        await nothing_came(client)
        await client.aclose()
