"""GET /admin/images over a real image pipeline (memory state, fake backends, workers not started)."""

from __future__ import annotations

from pathlib import Path

from alfred.images.views import job_view
from alfred.schema.images import ImageRequest
from tests.integration.admin.harness import Harness, assert_openai_error, make_tenant, open_harness
from tests.unit.images.harness import image_settings, running


async def test_queue_depths_route_split_and_spend(tmp_path: Path) -> None:
    async with running(image_settings(router={"threshold": 2}), start=False) as images:
        submitted = [
            await images.service.submit(f"t{n % 2}", ImageRequest(prompt=f"a sword {n}")) for n in range(3)
        ]
        admin = await open_harness(tmp_path, images=images.runtime)
        try:
            async with admin.client() as master:
                overview = (await master.get("/admin/images")).json()
                newest = (await master.get("/admin/images?recent=1")).json()["recent"]
                assert_openai_error(await master.get("/admin/images?recent=51"), 422)
                red = await make_tenant(master, "red")
            async with admin.client(red.admin_key) as team_admin:
                assert_openai_error(await team_admin.get("/admin/images"), 403)
            last = await images.service.get("t0", submitted[2].id)
            expected = job_view(await images.service.with_fresh_urls(last))
        finally:
            await admin.close()
    depths = {p["pool"]: (p["depth"], p["threshold"]) for p in overview["pools"]}
    assert sum(d for d, _ in depths.values()) == 3 and {t for _, t in depths.values()} == {2}
    assert overview["route_split"] == {"primary": 2, "fallback": 1}  # the third went past the threshold
    assert overview["fallback_spend_usd"] >= 0
    # Every tenant's jobs, newest first, in the public shape of GET /v1/images/jobs/{id}.
    assert [j["id"] for j in overview["recent"]] == [j.id for j in reversed(submitted)]
    assert overview["recent"][0] == expected and expected["prompt"] == "a sword 2"
    assert [j["id"] for j in newest] == [submitted[2].id]


async def test_without_images_the_endpoint_says_so(harness: Harness) -> None:
    async with harness.client() as master:
        assert_openai_error(await master.get("/admin/images"), 503, "not_configured")
