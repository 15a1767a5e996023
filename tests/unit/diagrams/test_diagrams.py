"""``alfred diagram``: views drawn from the config, the image flow in seed 000's colours, and no stale docs."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from alfred.config import Settings
from alfred.diagrams import BackendFact, ImageFlowFacts, ImageModelFact, Topology, render_image_flow
from alfred.diagrams.command import diagram
from alfred.diagrams.render import (
    IMAGE_FLOW_PNG,
    IMAGE_FLOW_SVG,
    MERMAID_VIEWS,
    load_for_diagrams,
    render_sources,
    svg_to_png,
)
from alfred.images.settings import ImageSettings

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs" / "diagrams"
EXAMPLES = ("mock", "images")
COLOURS = ("#27ae60", "#3498db", "#95a5a6", "#f39c12")
SVG_NS = "{http://www.w3.org/2000/svg}"


def _topology(name: str = "mock") -> tuple[Settings, Topology]:
    settings = load_for_diagrams(ROOT / "examples" / f"{name}.yaml")
    return settings, Topology.from_settings(settings, f"examples/{name}.yaml")


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _facts(threshold: int = 37, fallback_price: str = "0.0042") -> ImageFlowFacts:
    return ImageFlowFacts(
        threshold=threshold,
        queue_backend="redis",
        models=(
            ImageModelFact(
                "weapon-sdxl",
                primary=(BackendFact("space-1", "space", 1), BackendFact("space-2", "space", 2)),
                fallback=(BackendFact("replicate", "replicate", 8),),
                primary_price=Decimal(0),
                fallback_price=Decimal(fallback_price),
            ),
        ),
    )


def test_system_view_names_every_provider_and_model_group_of_the_config() -> None:
    settings, topology = _topology()
    system = render_sources(topology)["system.mmd"]
    assert system.splitlines()[1] == "graph TB"
    for name, provider in settings.providers.items():
        assert f'["{name}<br/>kind: {provider.kind}"]' in system
    for group in settings.models:
        assert f'["{group.name}<br/>{group.kind}<br/>' in system
        for deployment in group.deployments:
            assert f"{deployment.provider}: {deployment.model}" in system


def test_pipeline_views_follow_the_configured_order() -> None:
    settings, _ = _topology()
    reordered = settings.model_copy(
        update={"pipeline": settings.pipeline.model_copy(update={"order": ["auth", "timeout", "rate_limit"]})}
    )
    topology = Topology.from_settings(reordered, "custom.yaml")
    pipeline = render_sources(topology)["pipeline.mmd"]
    positions = [pipeline.index(f'["{title}<br/>') for title in ("Auth", "Timeout", "Rate limit")]
    assert positions == sorted(positions)
    assert "Quota" not in pipeline and "Cache" not in pipeline
    assert "CORS --> S0" in pipeline and "S2 --> HANDLER" in pipeline

    lifecycle = render_sources(topology)["request-lifecycle.mmd"]
    participants = [line.split(" as ")[1] for line in lifecycle.splitlines() if "participant S" in line]
    assert participants == ["Auth", "Timeout", "Rate limit"]
    assert "Ledger" not in lifecycle and "alt cache hit" not in lifecycle


def test_lifecycle_uses_the_real_timeout_retries_and_first_chat_group() -> None:
    settings, _ = _topology()
    changed = settings.model_copy(
        update={"retries": 4, "pipeline": settings.pipeline.model_copy(update={"request_timeout_s": 42.0})}
    )
    lifecycle = render_sources(Topology.from_settings(changed, "x.yaml"))["request-lifecycle.mmd"]
    first_chat = next(g for g in settings.models if g.kind == "chat")
    assert f"(model {first_chat.name})" in lifecycle
    assert "arm deadline 42s" in lifecycle
    assert "loop at most 5 attempts" in lifecycle
    # the cache stage's alt block closes after the inner stages return
    alt, end = lifecycle.index("alt cache hit"), lifecycle.index("\n  end\n", lifecycle.index("else miss"))
    assert alt < lifecycle.index("D->>R: plan") < end


def test_image_flow_svg_is_well_formed_with_the_four_colours_and_configured_figures() -> None:
    svg = render_image_flow(_facts(), "examples/images.yaml")
    root = ET.fromstring(svg.encode())
    assert root.tag == f"{SVG_NS}svg"
    painted = {el.get(attr) for el in root.iter() for attr in ("fill", "stroke")}
    for colour in COLOURS:
        assert colour in painted
    texts = " ".join(el.text or "" for el in root.iter(f"{SVG_NS}text"))
    assert "queue depth < 37" in texts and "queue depth ≥ 37" in texts
    assert "$0.0042/image" in texts and "$0.00/image" in texts
    assert "2 backends, 3 slots" in texts and "space-2 (space, 2 slots)" in texts
    assert "backend: redis" in texts


def test_image_flow_changes_with_the_threshold_and_prices() -> None:
    first = render_image_flow(_facts(threshold=50, fallback_price="0.0023"), "a.yaml")
    second = render_image_flow(_facts(threshold=80, fallback_price="0.01"), "a.yaml")
    assert "queue depth &lt; 50" in first and "$0.0023/image" in first
    assert "queue depth &lt; 80" in second and "$0.01/image" in second and "0.0023" not in second


def test_image_facts_are_read_from_the_image_settings_section() -> None:
    images = ImageSettings.model_validate(
        {
            "backends": {
                "space-a": {"kind": "space", "slots": 2},
                "space-b": {"kind": "space"},
                "replicate": {"kind": "replicate", "slots": 4},
            },
            "models": [
                {
                    "name": "weapon",
                    "primary": ["space-a", "space-b"],
                    "fallback": ["replicate"],
                    "prices": {"primary": "0", "fallback": "0.0031"},
                }
            ],
            "router": {"threshold": 12},
            "queue": {"backend": "kafka"},
        }
    )
    settings, _ = _topology()
    topology = Topology.from_settings(settings.model_copy(update={"images": images}), "x.yaml")
    assert topology.images.threshold == 12 and topology.images.queue_backend == "kafka"
    model = topology.images.models[0]
    assert [b.slots for b in model.primary] == [2, 1] and model.fallback_price == Decimal("0.0031")
    svg = render_sources(topology)[IMAGE_FLOW_SVG]
    assert "queue depth &lt; 12" in svg and "$0.0031/image" in svg and "3 slots" in svg
    assert "IMG[" in render_sources(topology)["system.mmd"]


def test_png_is_rendered_at_one_and_a_half_times_the_svg() -> None:
    svg = render_image_flow(_facts(), "a.yaml")
    root = ET.fromstring(svg.encode())
    width, height = _png_size(svg_to_png(svg))
    assert (width, height) == (
        int(int(root.get("width", "0")) * 1.5),
        int(int(root.get("height", "0")) * 1.5),
    )


def test_command_writes_the_contract_files_without_the_mock_url_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALFRED_MOCK_URL", raising=False)
    app = typer.Typer()
    app.command()(diagram)
    app.command("noop")(lambda: None)  # a second command keeps typer from collapsing the group
    result = CliRunner().invoke(
        app, ["diagram", "--config", str(ROOT / "examples/mock.yaml"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    written = {p.name for p in tmp_path.iterdir()}
    assert {IMAGE_FLOW_SVG, IMAGE_FLOW_PNG, *MERMAID_VIEWS} <= written
    ET.parse(tmp_path / IMAGE_FLOW_SVG)


def test_command_reports_a_bad_config_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - name: x\n    deployments: [{provider: nowhere, model: m}]\n")
    app = typer.Typer()
    app.command()(diagram)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["diagram", "--config", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("example", EXAMPLES)
def test_committed_diagrams_are_not_stale(example: str) -> None:
    config = ROOT / "examples" / f"{example}.yaml"
    committed = DOCS / example
    if not config.exists():
        pytest.skip(f"examples/{example}.yaml does not exist yet")
    regenerate = f"alfred diagram --config examples/{example}.yaml --out docs/diagrams/{example}"
    assert committed.is_dir(), f"no committed diagrams for examples/{example}.yaml: run `{regenerate}`"
    sources = render_sources(_topology(example)[1])
    for name, text in sources.items():
        path = committed / name
        assert path.exists() and path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run `{regenerate}`"
        )
    svg_root = ET.fromstring(sources[IMAGE_FLOW_SVG].encode())
    expected = (int(int(svg_root.get("width", "0")) * 1.5), int(int(svg_root.get("height", "0")) * 1.5))
    assert _png_size((committed / IMAGE_FLOW_PNG).read_bytes()) == expected, (
        f"PNG is stale: run `{regenerate}`"
    )
