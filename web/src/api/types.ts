/**
 * Shapes of the endpoints the console reads beyond issue 4's admin API. /admin/providers and /admin/cache
 * are not served yet: these are the documented shapes the console expects when they land (a 404 shows
 * "not available on this server").
 */

/** GET /admin/providers → { data: ProviderState[] } */
export interface ProviderState {
  deployment: string; // "group/provider/model"
  group: string;
  provider: string;
  breaker: "closed" | "open" | "half_open";
  forced: "open" | "closed" | null;
  latency_ewma_ms: number | null;
  latency_p95_ms: number | null;
  error_rate: number;
  in_flight: number;
}
// POST /admin/providers/{deployment}/breaker  body { "state": "open" | "closed" | "auto" }

/** GET /admin/cache → { groups: CacheGroup[] }; POST /admin/cache/flush body { "group": string } */
export interface CacheGroup {
  group: string;
  exact_entries: number;
  semantic_entries: number;
  exact_hit_rate: number | null;
  semantic_hit_rate: number | null;
}

/** GET /admin/images → ImagesOverview (recent jobs use the public job shape of /v1/images/jobs/{id}). */
export interface ImagesOverview {
  pools: Array<{ pool: string; depth: number; threshold: number }>;
  route_split: Record<string, number>;
  fallback_spend_usd: number;
  recent: ImageJob[];
}

/** The public job view (src/alfred/images/views.py). */
export interface ImageJob {
  id: string;
  status: string;
  model: string;
  route: string | null;
  progress: number;
  preset: string | null;
  cost: number | null;
  data: Array<{ url?: string; b64_json?: string }>;
  error: { code: string; message: string } | null;
  prompt?: string;
}

/** One frame of GET /v1/images/jobs/{id}/events. */
export interface JobEvent {
  type: string;
  job_id: string;
  progress: number | null;
  message: string | null;
  job: ImageJob;
}

export const WEAPON_FIELDS = {
  weapon_type: ["sword", "greatsword", "dagger", "axe", "hammer", "mace", "spear", "halberd", "bow", "crossbow", "staff", "wand", "shield", "scythe"],
  element: ["none", "fire", "ice", "lightning", "poison", "holy", "shadow", "earth", "wind"],
  rarity: ["common", "uncommon", "rare", "epic", "legendary"],
  style: ["painterly icon", "pixel art", "cel shaded", "realistic", "low poly"],
} as const;
