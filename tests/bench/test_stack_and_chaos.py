"""The stack comparison's and the chaos run's pure parts: summaries, tables, commands, configs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from alfred.config import load_settings
from bench import chaos_load, stack_compare


def _stack_sample(label: str, concurrency: int, rps: float, p50: float, cpu: float) -> dict[str, Any]:
    return {
        "label": label,
        "concurrency": concurrency,
        "round": 0,
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p50 * 2,
        "cpu_ms_per_req": cpu,
        "errors": 0,
    }


def test_stack_summary_takes_medians_and_ratios_to_the_first_variant() -> None:
    samples = [
        _stack_sample("today", 32, 4000, 5.0, 0.15),
        _stack_sample("today", 32, 5000, 5.0, 0.10),
        _stack_sample("today", 32, 4500, 5.0, 0.12),
        _stack_sample("today", 1, 1000, 0.40, 0.3),
        _stack_sample("other", 32, 2250, 9.0, 0.24),
        _stack_sample("other", 1, 500, 0.80, 0.5),
    ]
    rows = stack_compare.summarise(samples)
    assert [r["label"] for r in rows] == ["today", "other"]
    today, other = rows
    assert today["rps_c32"] == {"median": 4500, "min": 4000, "max": 5000}
    assert today["p50_c1_ms"]["median"] == 0.4
    assert today["cpu_ms_per_req_c32"]["median"] == 0.12
    assert (today["rps_vs_first"], today["cpu_vs_first"]) == (1.0, 1.0)
    assert other["rps_vs_first"] == 0.5
    assert other["cpu_vs_first"] == 2.0

    table = stack_compare.format_table(rows)
    assert table.splitlines()[0].startswith("| stack (bare pass-through) |")
    assert (
        "| today | 4500 (4000-5000) | 1.00 | 0.400 (0.400-0.400) | 0.120 (0.100-0.150) | 1.00 | 0 |" in table
    )
    assert "| other | 2250 (2250-2250) | 0.50 |" in table


def test_micro_table_gives_the_pydantic_to_msgspec_ratio() -> None:
    micro = {
        "response encode": {
            "msgspec": {"median": 0.5, "min": 0.4, "max": 0.6},
            "pydantic": {"median": 2.0, "min": 1.9, "max": 2.5},
        }
    }
    line = stack_compare.micro_table(micro).splitlines()[-1]
    assert line == "| response encode | 0.50 (0.40-0.60) | 2.00 (1.90-2.50) | 4.0 |"


def test_variant_commands_run_today_in_alfreds_venv_and_the_rest_in_the_stack_venv() -> None:
    today, granian = stack_compare.VARIANTS[0], stack_compare.VARIANTS[1]
    assert today.today
    command = today.command(8000, "http://u")
    assert command[1:] == ["-m", "bench.bare_proxy", "--port", "8000", "--upstream", "http://u"]
    alfreds = next(v for v in stack_compare.VARIANTS if v.client == "http1")
    assert alfreds.command(8002, "http://u")[0] == sys.executable  # Alfred's client needs Alfred's venv
    other = granian.command(8001, "http://u")
    assert other[0] == str(stack_compare.STACK_VENV / "bin" / "python")
    assert other[3:] == [
        "--server",
        "granian",
        "--client",
        "aiohttp",
        "--port",
        "8001",
        "--upstream",
        "http://u",
    ]


def test_pydantic_models_read_what_the_msgspec_types_read() -> None:
    cases = stack_compare.micro_cases()
    assert set(cases) >= {"request decode+validate (small)", "response decode+validate"}
    for libs in cases.values():
        assert set(libs) == {"msgspec", "pydantic"}
        for call in libs.values():
            assert call() is not None


def _chaos_sample(name: str, ok: int, non_2xx: int, socket_errors: int, p99: float) -> dict[str, Any]:
    requests = ok + non_2xx
    sent = requests + socket_errors
    return {
        "scenario": name,
        "requests": requests,
        "ok": ok,
        "non_2xx": non_2xx,
        "socket_errors": socket_errors,
        "success_rate": ok / sent,
        "rps": 1000.0,
        "p50_ms": p99 / 4,
        "p99_ms": p99,
        "cpu_ms_per_req": 0.25,
        "statuses": {"200": ok, "503": non_2xx} if non_2xx else {"200": ok},
        "upstream_calls": {"healthy": ok, "failing": 3, "slow": 0},
    }


def test_chaos_summary_adds_p99_over_the_same_rounds_baseline_and_counts_failures() -> None:
    samples = [
        {**_chaos_sample("baseline", 1000, 0, 0, 20.0), "round": 0},
        {**_chaos_sample("failing", 990, 8, 2, 50.0), "round": 0},
        {**_chaos_sample("baseline", 1000, 0, 0, 200.0), "round": 1},  # a loaded round
        {**_chaos_sample("failing", 1000, 0, 0, 230.0), "round": 1},
    ]
    rows = chaos_load.summarise(samples)
    base, failing = rows
    assert base["added_p99_ms"] == 0.0
    assert failing["added_p99_ms"] == 30.0  # 30 in both rounds, though the p99s differ tenfold
    assert failing["statuses"] == {"200": 1990, "503": 8}
    assert failing["failed"] == 10
    assert failing["success_rate"]["min"] == 0.99
    assert failing["upstream_calls"] == {"healthy": 1990, "failing": 6}  # zero counts left out

    table = chaos_load.format_table(rows, {"failing": "+ 500s"})
    last = table.splitlines()[-1]
    assert last.startswith(
        "| failing | + 500s | 99.500% (min 99.000%) | 10 (503: 8) | 1000 | 35.00 | 140.00 | +30.0 | — | — | — | 0.250 |"
    )
    assert last.endswith("| healthy 1990, failing 6 |")


def test_status_line_is_read_back_sorted() -> None:
    out = 'WRKJSON {}\nWRKSTATUS {"503":4,"200":96}\n'
    assert chaos_load.parse_statuses(out) == {"200": 96, "503": 4}


def test_chaos_configs_load_as_alfred_settings(tmp_path: Path) -> None:
    env = {name.upper(): f"http://127.0.0.1:{9000 + i}" for i, name in enumerate(chaos_load.TIMEOUTS)}
    for scenario in chaos_load.SCENARIOS:
        path = tmp_path / f"{scenario.name}.yaml"
        path.write_text(chaos_load.config_yaml(scenario))
        settings = load_settings(path, env)
        (group,) = settings.models
        assert group.name == chaos_load.MODEL
        assert [d.provider for d in group.deployments] == [scenario.healthy, *scenario.faulty]
        assert settings.retries == 4
        by_rate = scenario.breaker == chaos_load.BREAKER_BY_RATE
        assert settings.routing.breaker.failure_threshold == (None if by_rate else 3)


def test_breaker_transitions_are_read_from_the_metrics_page() -> None:
    page = "\n".join(
        [
            "# HELP alfred_breaker_transitions_total Circuit-breaker state changes.",
            'alfred_breaker_transitions_total{deployment="chaos/healthy/m",from_state="closed",to_state="open"} 2.0',
            'alfred_breaker_transitions_total{deployment="chaos/failing/m",from_state="open",to_state="half_open"} 0.0',
            'alfred_breaker_transitions_created{deployment="chaos/healthy/m",from_state="closed",to_state="open"} 1.7e9',
        ]
    )
    keys = ("deployment", "from_state", "to_state")
    found = chaos_load.counters(page, "alfred_breaker_transitions_total", keys)
    assert found == {"chaos/healthy/m closed open": 2}


def test_raw_summary_counts_statuses_and_takes_exact_percentiles() -> None:
    latencies = [float(ms) for ms in range(1, 101)]  # 1..100 ms
    summary = chaos_load.raw_summary(latencies, {"200": 98, "503": 2}, errors=0, elapsed_s=2.0)
    assert summary["requests"] == 100
    assert summary["ok"] == 98
    assert summary["success_rate"] == 0.98
    assert summary["rps"] == 50.0
    assert summary["p50_ms"] == 50.5
    assert summary["p99_ms"] == 99.01
    assert summary["max_ms"] == 100.0


def test_raw_figures_are_paired_with_the_baseline_and_tabled() -> None:
    def with_raw(name: str, p99: float, raw_p99: float) -> dict[str, Any]:
        raw = chaos_load.raw_summary([1.0, raw_p99], {"200": 2}, errors=0, elapsed_s=1.0)
        raw["p99_ms"] = raw_p99
        return {**_chaos_sample(name, 100, 0, 0, p99), "round": 0, "raw": raw}

    rows = chaos_load.summarise([with_raw("baseline", 20.0, 10.0), with_raw("hanging", 300.0, 12.5)])
    assert rows[1]["added_raw_p99_ms"] == 2.5
    line = chaos_load.format_table(rows, {}).splitlines()[-1]
    assert "| +280.0 | 100.000% | 12.50 | +2.5 | 0.250 |" in line
