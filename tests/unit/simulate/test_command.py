"""``alfred simulate`` through typer's CliRunner: the JSON contract, tables, plot, text and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from alfred.images.settings import RouterSettings
from alfred.simulate.command import simulate
from alfred.simulate.policies import PolicyError, default_variants, parse_policy

app = typer.Typer()
app.command()(simulate)


@app.command()
def version() -> None:  # a second command, so typer keeps "simulate" as a subcommand, as in alfred's CLI
    typer.echo("test")


runner = CliRunner()
CONTRACT_KEYS = {"name", "images_per_hour", "p95_s", "fallback_share", "cost_per_month_usd"}


def test_contract_seed_profile_prints_one_json_object_with_policies() -> None:
    result = runner.invoke(
        app, ["simulate", "--config", "examples/images.yaml", "--profile", "seed", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # the whole of stdout is one JSON object
    assert isinstance(doc, dict) and doc["profile"] == "seed" and doc["model"] == "sdxl"
    policies = doc["policies"]
    assert len(policies) >= 6
    for entry in policies:
        assert set(entry) >= CONTRACT_KEYS, entry.keys()
        assert 0 <= entry["fallback_share"] <= 1 and entry["p95_s"] >= 0 and entry["cost_per_month_usd"] >= 0
    by_name = {p["name"]: p for p in policies}
    seed_rule = by_name["queue-depth:50"]
    assert seed_rule["configured"] is True
    assert (
        by_name["always-fallback"]["fallback_share"] == 1.0
        and by_name["always-primary"]["fallback_share"] == 0.0
    )
    # at the seed's load the fallback costs roughly requests x misses x $0.0023
    everything = by_name["always-fallback"]
    expected = doc["requests"] * (1 - everything["cache_hit_rate"]) * 0.0023 * 30 / doc["days"]
    assert everything["cost_per_month_usd"] == pytest.approx(expected, rel=0.02)
    # the seed's rule queues players for minutes at peak; a lower threshold cuts that
    assert seed_rule["p95_s"] > 5 * 60 and by_name["queue-depth:5"]["p95_s"] < seed_rule["p95_s"] / 3
    assert 0.5 < seed_rule["cache_hit_rate"] < 0.65
    assert 200 <= seed_rule["images_per_hour"] <= 700 and seed_rule["peak_images_per_hour"] >= 1000


def test_tables_plot_and_report_file(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["simulate", "-c", "examples/images.yaml", "-p", "game-launch", "--days", "0.2", "--out", str(tmp_path),
         "--policy", "queue-depth:10", "--policy", "always-fallback", "--hardware", "t4-small"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "queue-depth:10" in result.stdout and "always-fallback" in result.stdout
    png = (tmp_path / "queue-depth.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["hardware"] == "t4-small" and [p["name"] for p in report["policies"]] == [
        "queue-depth:10",
        "always-fallback",
    ]
    series = report["policies"][0]["queue_depth"]
    assert len(series["maxima"]) == 720 and max(series["maxima"]) == series["max"] <= 12
    # two T4 Spaces at $0.40/hour each cost $19.20 a day whatever the traffic
    hardware = report["policies"][0]["cost_breakdown_usd"]["primary_hardware"]
    assert hardware == pytest.approx(19.20 * 0.2, abs=0.01)


def test_text_profile_compares_routing_strategies() -> None:
    result = runner.invoke(
        app, ["simulate", "-c", "examples/text-routing.yaml", "-p", "chat", "--days", "0.05", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["policies"] == []
    strategies = {s["strategy"]: s for s in doc["text"]["strategies"]}
    assert set(strategies) == {"weighted", "least-latency", "least-busy", "cheapest-within-sla"}
    weighted = strategies["weighted"]["groups"]["llama-3.1-8b"]
    assert weighted["requests_per_s"] > 0.3
    assert all(share == pytest.approx(1 / 3, abs=0.05) for share in weighted["deployment_share"].values())
    # the free self-hosted deployment is cheapest; cheapest-within-sla leaves it once its p95 breaks the SLA
    cheapest = strategies["cheapest-within-sla"]
    assert cheapest["cost_per_day_usd"] < strategies["weighted"]["cost_per_day_usd"]
    assert cheapest["groups"]["llama-3.1-8b"]["p95_s"] < weighted["p95_s"]


def test_the_figures_do_not_depend_on_how_many_processes_run_the_policies() -> None:
    def policies(jobs: str) -> list[dict[str, object]]:
        result = runner.invoke(
            app,
            ["simulate", "-c", "examples/images.yaml", "-p", "seed", "--days", "0.2", "--json", "--series",
             "--thresholds", "5,20", "--jobs", jobs],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        listed: list[dict[str, object]] = json.loads(result.stdout)["policies"]
        return listed

    one = policies("1")
    assert [p["name"] for p in one][:3] == ["queue-depth:50", "queue-depth:5", "queue-depth:20"]
    assert policies("3") == one
    refused = runner.invoke(app, ["simulate", "-c", "examples/images.yaml", "--jobs", "0"])
    assert refused.exit_code == 2


def test_errors_name_what_to_fix(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["simulate", "-c", "examples/images.yaml", "-p", "nope"])
    assert missing.exit_code == 2 and "cannot read the profile" in missing.stderr
    bad_policy = runner.invoke(app, ["simulate", "-c", "examples/images.yaml", "--policy", "fastest"])
    assert bad_policy.exit_code == 2 and "expected queue-depth:N" in bad_policy.stderr
    no_images = runner.invoke(
        app, ["simulate", "-c", "examples/text-routing.yaml", "-p", "seed", "--days", "0.01"]
    )
    assert no_images.exit_code == 2 and "no image models" in no_images.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("images:\n  router: {threshold: -1}\n")
    invalid = runner.invoke(app, ["simulate", "-c", str(broken)])
    assert invalid.exit_code == 2 and "images.router.threshold" in invalid.stderr


def test_policy_names_parse_and_the_configured_policy_comes_first() -> None:
    base = RouterSettings(threshold=50, fallback_spend_cap_per_hour="2")
    assert parse_policy("queue-depth:7", base).settings.threshold == 7
    assert parse_policy("predicted-wait:90", base).settings.default_deadline_s == 90
    assert parse_policy("always-primary", base).name == "always-primary"
    for bad in ("queue-depth:-1", "predicted-wait:0", "always-primary:3", "random"):
        with pytest.raises(PolicyError):
            parse_policy(bad, base)
    variants = default_variants(base, [10, 50])
    assert variants[0].configured and variants[0].name == "queue-depth:50"
    assert [v.name for v in variants].count("queue-depth:50") == 1
    assert all(v.settings.fallback_spend_cap_per_hour == 2 for v in variants)  # only the rule differs
