/** Conformance driver of the TypeScript client (clients/conformance/README.md, "Driver protocol"):
 * JSON lines on stdin, answers on stdout. One driver is one pod's client; requests run concurrently,
 * so a read paused at a hook does not hold up the others. */
import { createInterface } from "node:readline";
import { ConfigurationError, L2Unavailable, NearL1, PROTOCOL_VERSION, TwoTierCache, VERSION, protocol, settingsFromEnv } from "../src/index.js";
import type { TierSettings } from "../src/settings.js";
import { bench } from "./bench.js";

type Req = Record<string, any> & { id: number; op: string };

class LoaderError extends Error {}

let cache: TwoTierCache | null = null;
const gates = new Map<number, () => void>();
const gateWaits = new Map<number, Promise<void>>();
const pausing = new Map<string, { id: number; where: string }>();

const emit = (message: unknown): void => { process.stdout.write(JSON.stringify(message) + "\n"); };
const unb64 = (s: string | null | undefined): Buffer | null => (s == null ? null : Buffer.from(s, "base64"));
const b64 = (b: Buffer | null): string | null => (b === null ? null : b.toString("base64"));

function gate(id: number): Promise<void> {
  if (!gateWaits.has(id)) gateWaits.set(id, new Promise((resolve) => gates.set(id, resolve)));
  return gateWaits.get(id)!;
}

async function hook(where: string, key: Buffer): Promise<void> {
  const p = pausing.get(key.toString("latin1"));
  if (!p || p.where !== where) return;
  pausing.delete(key.toString("latin1"));
  emit({ id: p.id, event: "paused" });
  await gate(p.id);
}

function kind(err: unknown): string {
  if (err instanceof L2Unavailable) return "L2Unavailable";
  if (err instanceof ConfigurationError) return "ConfigurationError";
  if (err instanceof TypeError) return "TypeError";
  if (err instanceof RangeError) return "ValueError";
  if (err instanceof LoaderError) return "LoaderError";
  return (err as Error)?.name ?? "Error";
}

const tier = (t: TierSettings | null) => t && {
  host: t.host, port: t.port, socket: t.socket, tls: t.tls, tls_ca_file: t.tlsCaFile, cluster: t.cluster,
  username: t.username, password_file: t.passwordFile, has_password: t.password !== null, sentinels: t.sentinels,
  sentinel_master: t.sentinelMaster, sentinel_password_file: t.sentinelPasswordFile,
};

const keyOf = (req: Req): unknown => ("key_json" in req ? req.key_json : unb64(req.key_b64));

async function open(req: Req): Promise<unknown> {
  const o = req.options ?? {};
  cache = await TwoTierCache.fromEnv(req.env, {
    l1ConnectTimeout: o.l1_connect_timeout, l1Timeout: o.l1_timeout, l2ConnectTimeout: o.l2_connect_timeout,
    l2Timeout: o.l2_timeout, retries: o.retries, l1RetryInterval: o.l1_retry_interval, l2RetryInterval: o.l2_retry_interval,
    healthCheckInterval: o.health_check_interval, subscribeWait: o.subscribe_wait, publishVersion: o.publish_version,
    beforeL2Read: (key) => hook("before_l2_read", key), afterL2Read: (key) => hook("after_l2_read", key),
  });
  return { origin: cache.origin, ready: cache.subscribed };
}

async function getOrLoad(req: Req): Promise<unknown> {
  let calls = 0;
  const spec = req.loader ?? {};
  const loader = async (): Promise<Buffer | null> => {
    calls++;
    await new Promise((r) => setTimeout(r, spec.delay_ms ?? 0));
    if (spec.error) throw new LoaderError(spec.error);
    return unb64(spec.value_b64);
  };
  const options = { ttl: req.ttl_ms == null ? undefined : req.ttl_ms / 1000,
    negativeTtl: req.negative_ttl_ms == null ? undefined : req.negative_ttl_ms / 1000 };
  const outcomes = await Promise.allSettled(Array.from({ length: req.concurrency ?? 1 },
    () => cache!.getOrLoad(keyOf(req) as Buffer, loader, options)));
  const results = outcomes.map((o) => (o.status === "fulfilled" ? { value_b64: b64(o.value) }
    : { error: { type: kind(o.reason), message: String(o.reason?.message ?? o.reason) } }));
  return { results, loader_calls: calls };
}

function encode(req: Req): Buffer {
  const key = unb64(req.key_b64) ?? Buffer.alloc(0);
  if (req.kind === "value") return protocol.encodeValue(req.origin, key, protocol.digest(unb64(req.value_b64) ?? Buffer.alloc(0)), req.ttl_ms ?? null);
  if (req.kind === "key") return protocol.encodeKey(req.origin, key, req.version ?? 2);
  return protocol.encodeFlush(req.origin, req.version ?? 2);
}

async function handle(req: Req): Promise<unknown> {
  switch (req.op) {
    case "hello": return { language: "typescript", client_version: VERSION, protocol_version: PROTOCOL_VERSION,
      runtime: `Node.js ${process.versions.node}, ioredis` };
    case "digest": return { digest: protocol.digest(unb64(req.value_b64) ?? Buffer.alloc(0)) };
    case "bucket": return { bucket: protocol.bucketOf(unb64(req.key_b64) ?? Buffer.alloc(0)) };
    case "encode": return { payload_b64: b64(encode(req)) };
    case "decode": {
      const inv = protocol.decode(unb64(req.payload_b64) ?? Buffer.alloc(0));
      return { origin: inv.origin, key_b64: b64(inv.key), flush: inv.flush, digest: inv.announced?.digest ?? null,
        ttl_ms: inv.announced?.ttlMs ?? null };
    }
    case "settings": {
      const s = settingsFromEnv(req.env);
      const near = s.near && { max_entries: s.near.maxEntries, max_bytes: s.near.maxBytes, tracking: s.near.tracking,
        prefixes: s.near.prefixes };
      return { name: s.name, l2: tier(s.l2), l1: tier(s.l1), ttl_cap_ms: s.l1TtlCapMs, channel: s.invalidationChannel,
        default_ttl_ms: s.defaultTtlMs, near };
    }
    case "peek": {
      const store = cache!.l1Store;
      if (!(store instanceof NearL1)) throw new Error("peek: the cache has no in-process L1");
      const n = store.size();
      return { value_b64: "key_b64" in req ? b64(store.peek(unb64(req.key_b64)!)) : null, entries: n.entries, bytes: n.bytes,
        max_entries_seen: n.peakEntries, max_bytes_seen: n.peakBytes, evictions: n.evictions };
    }
    case "bench_hits": {
      // L1 hits timed one by one (nanoseconds): every key read twice first, so each timed get is a hit.
      const keys = (req.keys_b64 as string[]).map((k) => unb64(k)!.toString("utf8")); // string keys: the fast path
      for (const k of [...keys, ...keys]) await cache!.get(k);
      const before = cache!.stats.l1Hits;
      const ns: number[] = [];
      for (let r = 0; r < req.rounds; r++) {
        for (const k of keys) {
          const t = process.hrtime.bigint();
          await cache!.get(k);
          ns.push(Number(process.hrtime.bigint() - t));
        }
      }
      return { ns, hits: cache!.stats.l1Hits - before };
    }
    case "read_many": {
      const before = cache!.stats.l1Hits;
      for (const k of req.keys_b64 as string[]) await cache!.get(unb64(k)!);
      return { reads: req.keys_b64.length, l1_hits: cache!.stats.l1Hits - before };
    }
    case "open": return open(req);
    case "resume": gate(req.target); gates.get(req.target)!(); return {};
    case "stats": return cache!.stats.snapshot();
    case "info": return { origin: cache!.origin, subscribed: cache!.subscribed };
    case "wait_ready": return { ready: await cache!.waitReady(req.timeout_ms / 1000) };
    case "get_or_load": return getOrLoad(req);
    case "bench": return bench(cache!, req);
    case "close": await cache?.close(); cache = null; return {};
    case "get": {
      const key = keyOf(req);
      if (req.pause && key instanceof Buffer) pausing.set(key.toString("latin1"), { id: req.id, where: req.pause });
      return { value_b64: b64(await cache!.get(key as Buffer)) };
    }
    case "set": await cache!.set(keyOf(req) as Buffer, unb64(req.value_b64)!, req.ttl_ms == null ? undefined : req.ttl_ms / 1000); return {};
    case "delete": return { existed: await cache!.delete(keyOf(req) as Buffer) };
  }
  throw new Error(`unknown op ${req.op}`);
}

createInterface({ input: process.stdin }).on("line", (line) => {
  if (!line.trim()) return;
  const req = JSON.parse(line) as Req;
  handle(req).then((result) => emit({ id: req.id, ok: true, result }),
    (err) => emit({ id: req.id, ok: false, error: { type: kind(err), message: String(err?.message ?? err) } }));
}).on("close", () => { setTimeout(() => process.exit(0), 100).unref(); });
