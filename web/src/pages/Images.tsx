import type { Api } from "../api/client";
import type { ImagesOverview } from "../api/types";
import { ErrorBox } from "../components/feedback";
import { useLoad } from "../components/load";
import { DataTable } from "../components/table";

/** Queue depth against the routing threshold, the route split, fallback spend, recent jobs as a gallery. */
export function Images({ api }: { api: Api }) {
  const overview = useLoad(() => api.get<ImagesOverview>("/admin/images"), [api]);
  if (overview.error !== undefined) return <section><h1>Images</h1><ErrorBox error={overview.error} /></section>;
  const data = overview.data;
  return (
    <section>
      <h1>Images</h1>
      {data && (
        <>
          <h2>Queues</h2>
          {data.pools.map((p) => (
            <div key={p.pool} class="meter">
              <span>{p.pool}: {p.depth} / {p.threshold}</span>
              <meter min={0} max={Math.max(p.threshold, p.depth)} high={p.threshold * 0.8} value={p.depth} />
            </div>
          ))}
          <h2>Route split</h2>
          <DataTable rows={Object.entries(data.route_split).map(([route, jobs]) => ({ route, jobs }))} />
          <p>Spent on fallback: ${data.fallback_spend_usd.toFixed(4)}</p>
          <h2>Recent jobs</h2>
          <div class="gallery">
            {data.recent.map((job) => (
              <figure key={job.id}>
                {job.data[0]?.url ? <img src={job.data[0].url} alt={job.prompt ?? job.id} loading="lazy" /> : <div class="placeholder">{job.status}</div>}
                <figcaption>{job.preset ?? job.model} · {job.route ?? "—"}</figcaption>
              </figure>
            ))}
          </div>
        </>
      )}
    </section>
  );
}
