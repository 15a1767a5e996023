import { describe, expect, it } from "vitest";
import { buckets, overviewPoint, parsePrometheus, quantile } from "./metrics";

const before = `# HELP alfred_requests_total Requests answered
# TYPE alfred_requests_total counter
alfred_requests_total{endpoint="chat",model_group="gpt-4o-mini",status="200",cache="miss"} 10
alfred_requests_total{endpoint="chat",model_group="gpt-4o-mini",status="200",cache="hit"} 0
alfred_gateway_overhead_seconds_bucket{endpoint="chat",le="0.001"} 0
alfred_gateway_overhead_seconds_bucket{endpoint="chat",le="0.01"} 10
alfred_gateway_overhead_seconds_bucket{endpoint="chat",le="+Inf"} 10
alfred_cost_usd_total{model_group="gpt-4o-mini",team="a"} 0.5
`;
const after = `alfred_requests_total{endpoint="chat",model_group="gpt-4o-mini",status="200",cache="miss"} 16
alfred_requests_total{endpoint="chat",model_group="gpt-4o-mini",status="200",cache="hit"} 2
alfred_requests_total{endpoint="chat",model_group="gpt-4o-mini",status="502",cache="miss"} 2
alfred_gateway_overhead_seconds_bucket{endpoint="chat",le="0.001"} 5
alfred_gateway_overhead_seconds_bucket{endpoint="chat",le="0.01"} 20
alfred_gateway_overhead_seconds_bucket{endpoint="chat",le="+Inf"} 20
alfred_cost_usd_total{model_group="gpt-4o-mini",team="a"} 0.75
alfred_cache_saved_usd_total{model_group="gpt-4o-mini"} 0.01
`;

describe("parsePrometheus", () => {
  it("reads names, labels (with escapes) and special values", () => {
    const s = parsePrometheus('m_total{a="x\\"y",b="1"} 3\nm_bucket{le="+Inf"} +Inf\n# comment\n');
    expect(s).toEqual([
      { name: "m_total", labels: { a: 'x"y', b: "1" }, value: 3 },
      { name: "m_bucket", labels: { le: "+Inf" }, value: Infinity },
    ]);
  });
});

describe("quantile", () => {
  it("interpolates inside the bucket like PromQL histogram_quantile", () => {
    expect(quantile(0.5, [[1, 0], [2, 10], [Infinity, 10]])).toBeCloseTo(1.5);
    expect(quantile(0.95, [[0.1, 50], [0.2, 100], [Infinity, 100]])).toBeCloseTo(0.19);
  });
  it("is null with no observations", () => {
    expect(quantile(0.5, [[1, 0], [Infinity, 0]])).toBeNull();
  });
});

describe("overviewPoint", () => {
  it("differences counters and windows histograms between two scrapes", () => {
    const p = overviewPoint(parsePrometheus(before), parsePrometheus(after), 5, 100);
    expect(p.rps).toBeCloseTo(10 / 5);
    expect(p.errorRate).toBeCloseTo(2 / 10);
    expect(p.cacheHitRate).toBeCloseTo(2 / 10);
    expect(p.costUsd).toBeCloseTo(0.75);
    expect(p.savedUsd).toBeCloseTo(0.01);
    // window: 5 in (0, 1ms], 5 in (1ms, 10ms]: p50 is the top of the first bucket
    expect(p.gatewayP50).toBeCloseTo(1);
    expect(p.upstreamP50).toBeNull();
    expect(buckets(parsePrometheus(after), "alfred_gateway_overhead_seconds")).toEqual([
      [0.001, 5],
      [0.01, 20],
      [Infinity, 20],
    ]);
  });
});
