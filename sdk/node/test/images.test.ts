// Image jobs against the gateway at ALFRED_BASE_URL (skipped without one).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { Alfred, BadRequestError, ImageJobFailedError, NotFoundError, jobFailure, type JobEvent } from "../src/index.js";

const baseURL = process.env.ALFRED_BASE_URL;
const skip = baseURL ? false : "ALFRED_BASE_URL is not set (no running gateway)";
const fresh = (prompt: string): string => `${prompt} ${randomUUID()}`; // never a cache hit

test("generate waits with progress and returns a fetchable PNG", { skip }, async () => {
  const alfred = new Alfred();
  const seen: JobEvent[] = [];
  const job = await alfred.images.generate({ prompt: fresh("a fire sword, node sdk"), size: "256x256", seed: 7 }, (e) => { seen.push(e); });
  assert.equal(job.status, "succeeded");
  assert.equal(job.size, "256x256");
  assert.equal(job.seed, 7);
  assert.equal(seen.at(-1)?.type, "succeeded");
  const progress = seen.filter((e) => e.type === "progress" && e.progress !== null).map((e) => e.progress as number);
  assert.deepEqual(progress, [...progress].sort((a, b) => a - b));
  assert.equal(progress.at(-1), 1);
  const url = job.data[0]?.url ?? "";
  const image = await fetch(url.startsWith("http") ? url : alfred.baseURL + url);
  assert.equal(image.status, 200);
  assert.deepEqual([...new Uint8Array(await image.arrayBuffer()).slice(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
});

test("the same request again is a cache hit with the same image", { skip }, async () => {
  const alfred = new Alfred();
  const prompt = fresh("a poison dagger, node sdk");
  const first = await alfred.images.generate({ prompt, seed: 11 });
  const second = await alfred.images.generate({ prompt, seed: 11 });
  assert.deepEqual([first.cache, second.cache, second.route], ["miss", "hit", "cache"]);
  assert.deepEqual(second.data, first.data);
});

test("submit, events and get follow one job", { skip }, async () => {
  const alfred = new Alfred();
  const job = await alfred.images.submit({ prompt: fresh("an ice axe, node sdk"), steps: 30 });
  assert.match(job.id, /^imgjob_/);
  const events: JobEvent[] = [];
  for await (const event of alfred.images.events(job.id)) events.push(event);
  assert.deepEqual(new Set(events.map((e) => e.job_id)), new Set([job.id]));
  assert.equal(events.at(-1)?.type, "succeeded");
  const again = await alfred.images.get(job.id);
  assert.equal(again.status, "succeeded");
  assert.equal(again.steps, 30);
});

test("cancel ends a live job; its failure is typed", { skip }, async () => {
  const alfred = new Alfred();
  const job = await alfred.images.submit({ prompt: fresh("a very slow bow, node sdk"), steps: 200 });
  assert.equal((await alfred.images.cancel(job.id)).status, "cancelled");
  const final = await alfred.images.wait(job.id);
  assert.equal(final.status, "cancelled");
  const error = jobFailure(final);
  assert.ok(error instanceof ImageJobFailedError);
  assert.deepEqual([error.status, error.code, error.job?.id], [409, "cancelled", job.id]);
});

test("errors are typed and name the field at fault", { skip }, async () => {
  const alfred = new Alfred();
  await assert.rejects(alfred.images.get("imgjob_does_not_exist"), (e: unknown) => e instanceof NotFoundError && e.status === 404 && !!e.requestId);
  await assert.rejects(
    alfred.images.generate({ preset: "weapon", weapon_type: "banana" }),
    (e: unknown) => e instanceof BadRequestError && e.param === "weapon_type",
  );
});
