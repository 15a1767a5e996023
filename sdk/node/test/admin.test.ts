// The admin and self-service APIs (skipped until the running gateway serves /admin/openapi.json).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { before, test } from "node:test";
import { Alfred, AuthenticationError, BadRequestError } from "../src/index.js";

const baseURL = process.env.ALFRED_BASE_URL;
const adminKey = process.env.ALFRED_ADMIN_KEY ?? process.env.ALFRED_API_KEY;
let skip: string | false = baseURL ? false : "ALFRED_BASE_URL is not set (no running gateway)";

before(async () => {
  if (skip) return;
  const status = (await fetch(`${baseURL}/admin/openapi.json`)).status;
  if (status !== 200) skip = "admin API not wired";
  else if (!adminKey) skip = "no ALFRED_ADMIN_KEY / ALFRED_API_KEY for the admin API";
});

test("team, user, key, wallet, audit and revocation", async (t) => {
  if (skip) return t.skip(skip);
  const tag = randomUUID().slice(0, 8);
  const admin = new Alfred({ apiKey: adminKey });
  const team = await admin.admin.createTeam({ name: `node-team-${tag}`, common_pool: "10" });
  const user = await admin.admin.createUser({ email: `node-${tag}@example.com`, name: "Node", team_id: team.id, personal_quota: "5" });
  assert.ok((await admin.admin.listTeams()).some((x) => x.id === team.id));
  const created = await admin.admin.createKey({ user_id: user.id, name: "node" });
  assert.ok(created.key.startsWith(created.prefix));
  const walletId = user.wallet_id as number;
  const before = Number((await admin.admin.getWallet(walletId)).balance);
  const posting = await admin.admin.topup(walletId, { amount: "2.5", idempotency_key: `node-${tag}` });
  assert.equal(posting.type, "topup");
  assert.equal(Number((await admin.admin.getWallet(walletId)).balance), before + 2.5);
  await assert.rejects(
    admin.admin.transfer({ from_wallet: walletId, to_wallet: team.wallet_id as number, amount: "-1" }),
    (e: unknown) => e instanceof BadRequestError && e.param === "amount",
  );
  const verdict = await admin.admin.verifyAudit();
  assert.equal(verdict.ok, true);
  const own = new Alfred({ apiKey: created.key });
  assert.equal((await own.me()).user?.email, user.email);
  await admin.admin.revokeKey(created.id);
  await assert.rejects(own.me(), (e: unknown) => e instanceof AuthenticationError && e.status === 401);
});
