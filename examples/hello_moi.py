"""The smallest complete Tornado app on moi: a form that runs a job, and a live job list.

Run ``moi dev`` in one terminal: it starts a private Redis and a local ipyparallel
cluster, and prints the line that points the next terminal at them. In another::

    export MOI_CONFIG=/.../var/moi.ini    # the line moi dev printed
    python examples/hello_moi.py --port 8000

(Against a Redis and a cluster that already run, set ``MOI_CONFIG`` to a config naming
them instead; see the README's Configuration.)

The job's function is defined here, in ``__main__``: moi sends it to the engines by
value (cloudpickle), so they need not import this file.

Each browser gets a group of its own (a random name in a signed cookie); a real app
uses its signed-in user. The README's "Mounting the websocket" snippets are taken from
this file, and a test runs it (tests/browser/test_example.py), so neither can drift.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import signal

import tornado.template
import tornado.web

import moi
import moi.config
from moi.client import Client
from moi.hub import Hub
from moi.websocket import MoiWebSocketHandler

PAGE = tornado.template.Template("""<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hello moi</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/moi-static/moi.css">
<h1>hello moi</h1>
<form method="post" action="/square">
  {% raw xsrf_form %}
  <label>A number <input name="n" type="number" value="7" required></label>
  <button>Square it</button>
</form>
<ul id="moi-joblist"></ul>
<script src="/moi-static/moi.js"></script>
<script src="/moi-static/moi_list.js"></script>
<script>
  const conn = new moi.Connection({path: "/moi-ws/"});
  new moi.JobList(conn, {element: "#moi-joblist"});
</script>
</html>
""")


def square(n, status_update, **kwargs):
    """The job, run on an engine: ``status_update`` is moi's, the rest are its own."""
    status_update(f"squaring {n}", progress=0.5)
    return n * n


class IndexHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        if not self.get_signed_cookie("user"):  # this browser's moi group
            self.set_signed_cookie("user", "visitor-" + secrets.token_hex(8), httponly=True)
        self.write(PAGE.generate(xsrf_form=self.xsrf_form_html()))


class SquareHandler(tornado.web.RequestHandler):
    async def post(self) -> None:
        user = self.get_signed_cookie("user")
        n = self.get_body_argument("n", "")
        if not user or not n.lstrip("-").isdigit():
            raise tornado.web.HTTPError(400, "a whole number, please")
        await self.application.moi.submit(user.decode(), f"square of {n}", None, square, int(n))
        self.redirect("/")


class Application(tornado.web.Application):
    def __init__(self, settings):  # settings = moi.config.load(), a moi.config.Settings
        self.moi = Client(settings)  # one per process: submit, get, jobs ...
        self.moi_hub = Hub(settings.redis_url, settings.key_ttl)  # one per process
        super().__init__(
            [
                (r"/moi-ws/", MoiWebSocketHandler, {"hub": self.moi_hub}),
                (r"/moi-static/(.*)", tornado.web.StaticFileHandler, {"path": moi.static_path()}),
                (r"/", IndexHandler),
                (r"/square", SquareHandler),
            ],
            cookie_secret=secrets.token_hex(32),  # a real app keeps its secret
            xsrf_cookies=True,
            websocket_ping_interval=30,
        )

    async def start(self) -> None:
        await self.moi.start()  # Redis answers and the controller is reachable, or it raises
        await self.moi_hub.start()

    async def close(self) -> None:
        for clients in list(self.moi_hub.clients.values()):
            for client in list(clients):
                client.close(1001, "server shutting down")
        await self.moi_hub.settled()
        await self.moi_hub.close()
        await self.moi.aclose()


async def main(port: int) -> None:
    app = Application(moi.config.load())
    await app.start()
    server = app.listen(port, address="127.0.0.1")
    print(f"hello moi at http://127.0.0.1:{port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.stop()
    await app.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The smallest Tornado app on moi.")
    parser.add_argument("--port", type=int, default=8000)
    asyncio.run(main(parser.parse_args().port))
