/** getOrLoad against real redis-server processes (skipped without one; the conformance suite in CI
 * requires it): single flight, errors never cached, absences remembered. */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { TwoTierCache } from "../src/index.js";

const hasRedis = spawnSync("redis-server", ["--version"]).status === 0;
const dir = mkdtempSync(join(tmpdir(), "cp-ts-"));
const procs: ReturnType<typeof spawn>[] = [];
let cache: TwoTierCache;

const freePort = (): Promise<number> => new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const { port } = s.address() as { port: number };
    s.close(() => resolve(port));
  });
});

before(async () => {
  if (!hasRedis) return;
  const port = await freePort();
  const sock = join(dir, "l1.sock");
  for (const args of [["--port", String(port)], ["--port", "0", "--unixsocket", sock]]) {
    procs.push(spawn("redis-server", [...args, "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" }));
  }
  const env = { CACHE_HOST: "127.0.0.1", CACHE_PORT: String(port), CACHE_L1_HOST: "127.0.0.1", CACHE_L1_SOCKET: sock,
    CACHE_L1_TTL_CAP: "30", CACHE_L1_INVALIDATION_CHANNEL: "inv" };
  for (let i = 0; i < 50; i++) {
    cache = await TwoTierCache.fromEnv(env, { subscribeWait: 0.2 });
    if (cache.subscribed) return;
    await cache.close();
  }
  throw new Error("the servers did not come up");
});

after(async () => {
  await cache?.close();
  for (const p of procs) p.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

test("100 concurrent misses call the loader once", { skip: !hasRedis && "redis-server not on PATH" }, async () => {
  let calls = 0;
  const loader = async () => { calls++; await new Promise((r) => setTimeout(r, 100)); return "loaded"; };
  const results = await Promise.all(Array.from({ length: 100 }, () => cache.getOrLoad("hot", loader, { ttl: 60 })));
  assert.equal(calls, 1);
  assert.ok(results.every((r) => r?.toString() === "loaded"));
  assert.equal((await cache.get("hot"))?.toString(), "loaded");
});

test("loader errors are not cached; absences are", { skip: !hasRedis && "redis-server not on PATH" }, async () => {
  await assert.rejects(cache.getOrLoad("k", async () => { throw new Error("source down"); }), /source down/);
  assert.deepEqual(await cache.getOrLoad("k", async () => ""), Buffer.alloc(0));
  let calls = 0;
  const absent = async () => { calls++; return null; };
  for (let i = 0; i < 3; i++) assert.equal(await cache.getOrLoad("nope", absent, { negativeTtl: 60 }), null);
  assert.equal(calls, 1);
  await cache.set("nope", "there");
  assert.equal((await cache.getOrLoad("nope", absent, { negativeTtl: 60 }))?.toString(), "there");
});
