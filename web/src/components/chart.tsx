import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

/** One line on a time chart. */
export interface Line {
  label: string;
  values: Array<number | null>;
  color: string;
}

/** A uPlot time-series chart that follows its container's width. */
export function TimeChart({ title, times, lines, unit }: { title: string; times: number[]; lines: Line[]; unit: string }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const key = lines.map((l) => l.label).join("|");

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth),
      height: 180,
      series: [{}, ...lines.map((l) => ({ label: l.label, stroke: l.color, width: 2, spanGaps: true }))],
      axes: [{}, { label: unit, size: 60 }],
      legend: { show: true },
    };
    const chart = new uPlot(opts, [times, ...lines.map((l) => l.values)] as uPlot.AlignedData, el);
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(240, el.clientWidth), height: 180 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, unit]);

  useEffect(() => {
    plot.current?.setData([times, ...lines.map((l) => l.values)] as uPlot.AlignedData);
  }, [times, lines]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={host} class="chart-host" data-chart={title} data-points={times.length} />
    </figure>
  );
}
