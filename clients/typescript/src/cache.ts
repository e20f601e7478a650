/** TwoTierCache: read-through over a pod-local L1 and a shared L2, kept coherent by pub/sub
 * invalidation (protocol 2, docs/protocol.md). Without an L1 it is a plain client over L2 with the
 * same API, so app code does not change when a cache gains or loses its `l1:` block. */
import { randomBytes } from "node:crypto";
import { Cluster, ReplyError, type Redis } from "ioredis";
import { l1Client, l2Clients, type L2Client } from "./connect.js";
import { ConfigurationError, L2Unavailable } from "./errors.js";
import { Coherence } from "./guard.js";
import { type L1Store, RedisL1 } from "./l1.js";
import { Loader, type LoadOptions, type LoaderFn } from "./loader.js";
import { NearL1 } from "./near.js";
import { type ClientOptions, type Options, withDefaults } from "./options.js";
import { type Announcement, digest, encodeKey, encodeValue, type Key, keyBytes } from "./protocol.js";
import { type Env, type NearSettings, settingsFromEnv } from "./settings.js";
import { CacheStats } from "./stats.js";
import { Subscription } from "./subscription.js";
import { Tracking } from "./tracking.js";

export type Value = string | Uint8Array;

export interface CacheConfig {
  l1?: L1Store | null;
  /** The invalidation subscription's connection (required with an L1). */
  subscriber?: Redis | null;
  channel?: string | null;
  /** Seconds; required with an L1: the longest an L1 copy lives. */
  ttlCap?: number | null;
  /** Seconds; applied by set() when no ttl is given (none: no expiry). */
  defaultTtl?: number | null;
  name?: string | null;
  options?: ClientOptions;
  /** Makes the L1 (a NearL1) an in-process one kept coherent by the L2 server's client tracking,
   * through `subscriber` (a RESP2 connection to the server `l2` talks to); l2 must not be a Cluster. */
  tracking?: NearSettings | null;
}

// Errors that mean "L2 cannot serve now" rather than "this call is wrong".
const UNAVAILABLE_REPLIES = /^(READONLY|NOAUTH|WRONGPASS|CLUSTERDOWN|MASTERDOWN|LOADING|TRYAGAIN|ERR AUTH|ERR invalid password)/;
const unavailable = (err: unknown): boolean => !(err instanceof ReplyError) || UNAVAILABLE_REPLIES.test(String((err as Error).message));

export class TwoTierCache {
  readonly stats = new CacheStats();
  readonly options: Options;
  readonly name: string | null;
  readonly origin = randomBytes(8).toString("hex");
  private readonly coherence: Coherence;
  private readonly subscription: Subscription | Tracking | null = null;
  private readonly tracking: Tracking | null = null;
  private readonly near: NearL1 | null = null;
  private readonly loader: Loader;
  private readonly channel: string | null;
  private readonly defaultTtlMs: number | null;
  private readonly cluster: boolean;
  private l2RetryAt = 0;

  /** Build the cache from the env contract (default process.env): L1 sidecar when CACHE_L1_HOST is set
   * (unix socket preferred), L2 from CACHE_L2_* with password file, TLS + CA, Sentinel or cluster.
   * Resolves once the invalidation subscription is up, or after options.subscribeWait. */
  static async fromEnv(env: Env = process.env, options: ClientOptions = {}): Promise<TwoTierCache> {
    const s = settingsFromEnv(env);
    const o = withDefaults(options);
    const { l2, subscriber } = l2Clients(s.l2, o, s.l1 !== null || s.near !== null);
    const l1 = s.near ? new NearL1(s.near.maxEntries, s.near.maxBytes) : s.l1 ? new RedisL1(l1Client(s.l1, o)) : null;
    const cache = new TwoTierCache(l2, {
      l1, subscriber, tracking: s.near,
      channel: s.invalidationChannel, ttlCap: s.l1TtlCapMs === null ? null : s.l1TtlCapMs / 1000,
      defaultTtl: s.defaultTtlMs === null ? null : s.defaultTtlMs / 1000, name: s.name, options,
    });
    await cache.waitReady(o.subscribeWait);
    return cache;
  }

  constructor(private readonly l2: L2Client, config: CacheConfig = {}) {
    this.options = withDefaults(config.options);
    const l1 = config.l1 ?? null;
    if (l1 !== null) {
      if (!config.channel) throw new ConfigurationError("channel: required when an L1 is given");
      if (!(config.ttlCap && config.ttlCap > 0)) throw new ConfigurationError(`ttlCap: must be > 0 seconds when an L1 is given, got ${config.ttlCap}`);
      if (!config.subscriber) throw new ConfigurationError("subscriber: required when an L1 is given");
    }
    if (config.defaultTtl != null && !(config.defaultTtl > 0)) throw new ConfigurationError(`defaultTtl: must be > 0 seconds, got ${config.defaultTtl}`);
    this.name = config.name ?? null;
    this.channel = config.channel ?? null;
    this.defaultTtlMs = config.defaultTtl == null ? null : Math.max(1, Math.round(config.defaultTtl * 1000));
    this.cluster = l2 instanceof Cluster;
    const capMs = config.ttlCap ? Math.max(1, Math.trunc(config.ttlCap * 1000)) : 0;
    this.coherence = new Coherence(l1, capMs, this.stats, this.options.l1RetryInterval * 1000);
    this.loader = new Loader(this, this.coherence);
    if (l1 !== null && config.tracking) {
      if (this.cluster || !(l1 instanceof NearL1)) throw new ConfigurationError("tracking: needs a NearL1 and an L2 that is not a Cluster");
      this.near = l1;
      this.subscription = this.tracking = new Tracking(config.subscriber!, l2 as Redis, config.tracking, this.origin,
        this.coherence, this.stats, this.options.healthCheckInterval * 1000);
    } else if (l1 !== null) {
      this.subscription = new Subscription(config.subscriber!, this.channel!, this.origin, this.coherence, this.stats,
        this.options.healthCheckInterval * 1000);
    }
  }

  get hasL1(): boolean { return this.coherence.l1 !== null; }

  /** The L1 store (a RedisL1, a NearL1, or null without an L1). */
  get l1Store(): L1Store | null { return this.coherence.l1; }

  /** Whether invalidations arrive (L1 is populated only then). */
  get subscribed(): boolean { return this.coherence.subscribed; }

  /** Wait until the invalidation subscription is up, at most `timeout` seconds (true without an L1). */
  waitReady(timeout: number): Promise<boolean> {
    return this.subscription ? this.subscription.waitReady(timeout * 1000) : Promise.resolve(true);
  }

  /** The value (a Buffer; an empty value is a value), or null on a miss. Rejects with L2Unavailable
   * only when L1 cannot answer and L2 is down. */
  get(key: Key): Promise<Buffer | null> {
    const near = this.near;
    if (near !== null && (typeof key === "string" || Buffer.isBuffer(key)) && this.coherence.l1Ok) {
      // The in-process hit: a lookup in this process's memory, no I/O.
      const value = near.peek(key);
      if (value !== null) {
        this.stats.l1Hits++;
        return Promise.resolve(value);
      }
    }
    const l1 = this.coherence.l1;
    if (typeof key !== "string" || l1 === null || !this.coherence.l1Ok) {
      let k: Buffer;
      try {
        k = keyBytes(key);
      } catch (err) {
        return Promise.reject(err);
      }
      return this.fromL1(k).then((hit) => hit ?? this.readThrough(k));
    }
    // The hit path of a string key: one L1 round trip, no byte copy of the key, no further await.
    return l1.get(key).then((value) => {
      if (value === null) {
        this.stats.l1Misses++;
        return this.readThrough(keyBytes(key));
      }
      this.stats.l1Hits++;
      return value;
    }, (err) => {
      this.coherence.l1Down(err);
      this.stats.l1Misses++;
      return this.readThrough(keyBytes(key));
    });
  }

  /** Like get, decoded as UTF-8. */
  async getString(key: Key): Promise<string | null> {
    const value = await this.get(key);
    return value === null ? null : value.toString("utf8");
  }

  /** @internal The L1 copy, or null (counted as an L1 miss when there is an L1). */
  async fromL1(k: Buffer): Promise<Buffer | null> {
    const l1 = this.coherence.l1;
    if (l1 === null) return null;
    if (this.coherence.l1Ok || (await this.coherence.usable())) {
      try {
        const value = await l1.get(k);
        if (value !== null) {
          this.stats.l1Hits++;
          return value;
        }
      } catch (err) {
        this.coherence.l1Down(err);
      }
    }
    this.stats.l1Misses++;
    return null;
  }

  /** @internal */
  async readThrough(k: Buffer): Promise<Buffer | null> {
    this.checkL2();
    const c = this.coherence;
    if (!(c.l1 !== null && c.l1Ok && c.subscribed && (this.tracking === null || this.tracking.keeps(k)))) {
      return this.answered(await this.l2Call(() => this.l2.getBuffer(k), "read"));
    }
    const s = c.snapshot(k);
    await this.options.beforeL2Read?.(k);
    // The L2 entry lives at least until startedMs + PTTL: PTTL is measured after this instant. GET
    // and PTTL in one round trip; a change between them is a write, whose invalidation refuses or
    // removes this populate.
    const startedMs = Date.now();
    const pipe = this.l2.pipeline();
    const checks = this.tracking?.commands(pipe) ?? 0;  // an in-process L1's tracking checks come first
    const replies = (await this.l2Call(() => pipe.getBuffer(k).pttl(k).exec(), "read")) as Array<[Error | null, unknown]>;
    const [[getErr, value], [pttlErr, pttl]] = replies.slice(checks) as [[Error | null, Buffer | null], [Error | null, number]];
    if (getErr) throw this.l2Down(getErr, "read");
    this.answered(value);
    const tracked = this.tracking === null || this.tracking.tracked(replies.slice(0, checks));
    if (value !== null && !pttlErr && pttl !== -2 && tracked) {
      await this.options.afterL2Read?.(k, value);
      await c.populate(k, value, startedMs, pttl, s);
    }
    return value;
  }

  private answered(value: Buffer | null): Buffer | null {
    if (value === null) this.stats.l2Misses++;
    else this.stats.l2Hits++;
    return value;
  }

  /** Write to L2 (ttl in seconds; none: CACHE_DEFAULT_TTL, else no expiry), drop the local copy and
   * tell other pods to drop theirs, announcing the value. Rejects with L2Unavailable. */
  async set(key: Key, value: Value, ttl?: number): Promise<void> {
    const k = keyBytes(key);
    const data = toBuffer(value);
    const px = this.px(ttl);
    const announced = { digest: digest(data), ttlMs: px };
    await this.write(k, announced, (p) => (px === null ? p.set(k, data) : p.set(k, data, "PX", px)));
  }

  /** Delete from L2 and from every pod's L1; resolves to whether L2 held the key. */
  async delete(key: Key): Promise<boolean> {
    const k = keyBytes(key);
    const result = await this.write(k, null, (p) => p.del(k));
    return Number(result) > 0;
  }

  /** The cached value, else `loader()`'s, stored like set(). Concurrent misses of one key in this
   * process call the loader once and share its result or its error; a loader error is never cached.
   * null from the loader is an absence, remembered for `negativeTtl` seconds when given. With L2 down
   * the loader still answers (nothing is stored). */
  async getOrLoad(key: Key, loader: LoaderFn, options: LoadOptions = {}): Promise<Buffer | null> {
    return this.loader.getOrLoad(keyBytes(key), loader, options);
  }

  /** @internal */
  px(ttl: number | undefined | null): number | null {
    if (ttl === undefined || ttl === null) return this.defaultTtlMs;
    if (!(typeof ttl === "number" && ttl > 0 && Number.isFinite(ttl))) {
      throw new RangeError(`ttl: must be a finite number of seconds > 0, got ${String(ttl)}`);
    }
    return Math.max(1, Math.round(ttl * 1000));
  }

  private message(k: Buffer, announced: Announcement | null): Buffer {
    if (announced === null || this.options.publishVersion === 1) return encodeKey(this.origin, k, this.options.publishVersion);
    return encodeValue(this.origin, k, announced.digest, announced.ttlMs);
  }

  private async write(k: Buffer, announced: Announcement | null,
                      command: (p: ReturnType<L2Client["pipeline"]>) => unknown): Promise<unknown> {
    this.checkL2();
    const message = this.channel ? this.message(k, announced) : null;
    // The write and its invalidation share one round trip; on one connection PUBLISH runs after the
    // write, so no pod can re-read the old value after being told. (A cluster: two calls.)
    const pipe = this.l2.pipeline();
    command(pipe);
    if (message && !this.cluster) pipe.publish(this.channel!, message);
    let result: unknown;
    try {
      const replies = await this.l2Call(() => pipe.exec(), "write");
      const [err, reply] = replies![0];
      if (err) throw this.l2Down(err, "write");
      result = reply;
    } catch (err) {
      await this.coherence.invalidateLocal(k, null); // unknown whether L2 applied it: the copy goes
      throw err;
    }
    this.l2RetryAt = 0;
    await this.coherence.invalidateLocal(k, announced);
    if (message && this.cluster) {
      await this.l2.publish(this.channel!, message).catch(() => {
        this.stats.publishErrors++; // other pods keep their copy for at most the TTL cap
      });
    }
    return result;
  }

  private async l2Call<T>(call: () => Promise<T>, what: string): Promise<T> {
    try {
      const result = await call();
      this.l2RetryAt = 0;
      return result;
    } catch (err) {
      throw this.l2Down(err, what);
    }
  }

  private checkL2(): void {
    if (this.l2RetryAt && Date.now() < this.l2RetryAt) {
      throw new L2Unavailable(`L2 failed moments ago; not retrying until ${this.options.l2RetryInterval}s have passed`);
    }
  }

  private l2Down(err: unknown, what: string): unknown {
    if (err instanceof L2Unavailable || !unavailable(err)) return err;
    this.l2RetryAt = Date.now() + this.options.l2RetryInterval * 1000;
    this.stats.l2Errors++;
    return new L2Unavailable(`L2 ${what} failed: ${(err as Error)?.message ?? String(err)}`);
  }

  /** Stop the subscription and close every connection. */
  async close(): Promise<void> {
    this.subscription?.close();
    await this.coherence.l1?.close();
    this.l2.disconnect();
  }
}

function toBuffer(value: Value): Buffer {
  if (typeof value === "string") return Buffer.from(value, "utf8");
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError(`value: must be a string or bytes, got ${typeof value}`);
}
