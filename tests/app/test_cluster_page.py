"""The /cluster page: for signed-in users, a frame the websocket fills."""

from __future__ import annotations


def test_the_cluster_page_has_the_panel_and_its_scripts(auth):
    page = auth.get("/cluster")
    assert page.status == 200
    assert (
        'id="moi-cluster-state"' in page.text and 'aria-labelledby="cluster-heading"' in page.text
    )
    for script in ("moi.js", "moi_cluster.js", "app.js"):
        assert f"/{script}?v=" in page.text


def test_the_cluster_page_sends_strangers_to_sign_in(client):
    page = client.get("/cluster")
    assert page.status == 302
    assert page.location.startswith("/login?next=%2Fcluster")
