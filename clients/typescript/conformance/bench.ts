/** The `bench` request of the TypeScript driver (benchmarks/two_tier_clients.py): L1 hits and misses
 * of the open cache against raw ioredis GETs on the same sockets, and the loader's stampede figure.
 * Times are nanoseconds per call, returned whole for the harness to summarise. */
import { Redis } from "ioredis";
import type { TwoTierCache } from "../src/index.js";

async function timed(keys: string[], sink: number[], fn: (k: string) => Promise<unknown>): Promise<void> {
  for (const k of keys) {
    const t = process.hrtime.bigint();
    await fn(k);
    sink.push(Number(process.hrtime.bigint() - t));
  }
}

export async function bench(cache: TwoTierCache, req: Record<string, any>): Promise<Record<string, unknown>> {
  const keys = Array.from({ length: req.keys }, (_, i) => `bench:${i}`);
  const rawL1 = new Redis({ path: req.l1_socket, protocol: 2 });
  const rawL2 = new Redis({ host: "127.0.0.1", port: req.l2_port, protocol: 2 });
  const out: Record<string, number[]> = { hit_raw: [], hit_client: [], miss_raw: [], miss_client: [] };
  const get = (k: string) => cache.get(k);
  for (const k of [...keys, ...keys]) await get(k);
  if ((await rawL1.exists(...keys)) !== keys.length) throw new Error("bench keys are not all in L1");
  for (let r = 0; r < req.rounds; r++) {
    const pair: Array<[(k: string) => Promise<unknown>, number[]]> = [[(k) => rawL1.getBuffer(k), out.hit_raw], [get, out.hit_client]];
    for (const [fn, sink] of r % 2 === 0 ? pair : pair.reverse()) await timed(keys, sink, fn);
  }
  for (let r = 0; r < req.rounds; r++) {
    await rawL1.flushdb();
    const pair: Array<[(k: string) => Promise<unknown>, number[]]> = [[(k) => rawL2.getBuffer(k), out.miss_raw], [get, out.miss_client]];
    for (const [fn, sink] of r % 2 === 0 ? pair : pair.reverse()) await timed(keys, sink, fn);
  }
  rawL1.disconnect();
  rawL2.disconnect();
  const stampede: number[] = [];
  const value = Buffer.alloc(512, "v");
  for (let r = 0; r < req.stampede_rounds; r++) {
    let calls = 0;
    const loader = async () => { calls++; await new Promise((res) => setTimeout(res, req.loader_ms)); return value; };
    await Promise.all(Array.from({ length: req.concurrency }, () => cache.getOrLoad(`stampede:${r}`, loader, { ttl: 60 })));
    stampede.push(calls);
  }
  return { ...out, stampede_calls: stampede };
}
