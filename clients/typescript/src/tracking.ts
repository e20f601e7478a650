/** The in-process L1's invalidations (docs/protocol.md, "In-process L1 (client tracking)"): the L2
 * server tracks keys for this process and sends their invalidations to one connection of ours, the
 * tracking connection, subscribed to __redis__:invalidate (RESP2, redirect mode).
 *
 * - On every (re)connect: CLIENT ID, CLIENT SETNAME cp-near-<origin>, with broadcast CLIENT TRACKING ON
 *   REDIRECT <own id> BCAST PREFIX ...; then SUBSCRIBE, whose confirmation flushes the L1 and lets
 *   populates start. Losing the connection flushes the L1 at once.
 * - A populating read adds CLIENT LIST ID <tracking id> to its L2 pipeline (the tracking connection
 *   must be on the server that answers) and, in default mode, CLIENT TRACKING ON REDIRECT <id> OPTIN +
 *   CLIENT CACHING YES (only this GET is tracked). Another server: no copy, and the tracking
 *   connection is moved. The same check runs every health interval.
 * - A message names keys (each dropped, as any invalidation), or is null (a flush on the server, or
 *   tracking state it dropped): the whole L1 goes. */
import type { ChainableCommander, Redis } from "ioredis";
import type { Coherence } from "./guard.js";
import type { NearSettings } from "./settings.js";
import type { CacheStats } from "./stats.js";

export const TRACKING_CHANNEL = "__redis__:invalidate";

export class Tracking {
  /** The tracking connection's CLIENT ID while subscribed; 0: none. */
  tid = 0;
  private readonly name: string;
  private readonly prefixes: Buffer[];
  private lastRx = Date.now();
  private pingSent = 0;
  private checkedAt = Date.now();
  private movedAt = 0;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private readonly readyWaiters: Array<() => void> = [];

  constructor(private readonly client: Redis, private readonly l2: Redis, private readonly near: NearSettings,
              origin: string, private readonly coherence: Coherence, private readonly stats: CacheStats,
              private readonly intervalMs: number) {
    this.name = `cp-near-${origin}`;
    this.prefixes = near.prefixes.map((p) => Buffer.from(p, "utf8"));
    client.options.autoResubscribe = false; // every subscription goes through setUp() below
    client.on("ready", () => void this.setUp());
    for (const event of ["close", "end", "reconnecting"]) client.on(event, () => this.lost());
    client.on("error", () => {}); // reported through the subscription state and the counters
    client.on("messageBuffer", (_channel: Buffer, keys: unknown) => this.onMessage(keys));
    if (client.status === "ready") void this.setUp();
    this.timer = setInterval(() => this.health(), Math.min(200, intervalMs));
    this.timer.unref();
  }

  /** Whether a copy of `key` may be kept: with broadcast, only keys under a tracked prefix. */
  keeps(key: Buffer): boolean {
    return this.prefixes.length === 0 || this.prefixes.some((p) => key.length >= p.length && key.subarray(0, p.length).equals(p));
  }

  /** Queue the checks a populating read needs before its GET; how many were queued. */
  commands(pipe: ChainableCommander): number {
    if (this.tid === 0) return 0;
    pipe.call("CLIENT", "LIST", "ID", String(this.tid));
    if (this.near.tracking === "broadcast") return 1;
    pipe.call("CLIENT", "TRACKING", "ON", "REDIRECT", String(this.tid), "OPTIN");
    pipe.call("CLIENT", "CACHING", "YES");
    return 3;
  }

  /** Whether the checks' replies ([error, result] pairs) show the tracking connection on the server
   * that answered. */
  tracked(replies: Array<[Error | null, unknown]>): boolean {
    if (replies.length === 0) return false;
    const [err, listing] = replies[0];
    const here = !err && String(listing).includes(` name=${this.name} `);
    if (here && replies.slice(1).every(([e]) => !e)) return true;
    const now = Date.now();
    if (!here && now - this.movedAt >= this.intervalMs) {
      // Reads reach a server the tracking connection is not on (a failover, a proxy): move it.
      this.movedAt = now;
      this.lost();
      this.client.disconnect(true);
    }
    return false;
  }

  private async setUp(): Promise<void> {
    let id: number;
    try {
      id = Number(await this.client.call("CLIENT", "ID"));
      await this.client.call("CLIENT", "SETNAME", this.name);
      if (this.near.tracking === "broadcast") {
        await this.client.call("CLIENT", "TRACKING", "ON", "REDIRECT", String(id), "BCAST",
          ...this.prefixes.flatMap((p) => ["PREFIX", p]));
      }
      await this.client.subscribe(TRACKING_CHANNEL);
    } catch {
      return; // the connection went away again; the next "ready" sets it up
    }
    this.lastRx = Date.now();
    this.pingSent = 0;
    this.stats.subscriptions++;
    await this.coherence.flush();
    if (this.client.status !== "ready" || this.closed) return;
    this.tid = id;
    this.coherence.subscribed = true;
    for (const wake of this.readyWaiters.splice(0)) wake();
  }

  private lost(): void {
    this.tid = 0;
    if (this.coherence.subscribed) {
      // Flushed at once, not only when it is back: no copy outlives the connection whose
      // invalidations kept it fresh (unlike a sidecar L1, hits stop while L2 is away).
      this.coherence.subscribed = false;
      void this.coherence.flush();
    }
  }

  private onMessage(keys: unknown): void {
    this.lastRx = Date.now();
    this.stats.invalidationsReceived++;
    if (!Array.isArray(keys)) {
      void this.coherence.flush(); // null: the server flushed, or dropped its tracking state
      return;
    }
    for (const key of keys) void this.coherence.invalidateLocal(Buffer.isBuffer(key) ? key : Buffer.from(String(key)), null);
  }

  private health(): void {
    if (this.closed || this.client.status !== "ready") return;
    const now = Date.now();
    if (this.tid !== 0 && now - this.checkedAt >= this.intervalMs) {
      // Through a data connection: is the tracking connection on the server that answers?
      this.checkedAt = now;
      this.movedAt = 0;
      this.l2.call("CLIENT", "LIST", "ID", String(this.tid)).then((listing) => this.tracked([[null, listing]]), () => {});
    }
    if (this.pingSent && now - this.pingSent >= this.intervalMs) {
      this.lost(); // no reply within an interval: the connection is dead
      this.pingSent = 0;
      this.client.disconnect(true);
    } else if (!this.pingSent && now - this.lastRx >= this.intervalMs) {
      this.pingSent = now;
      this.client.ping().then(() => { this.lastRx = Date.now(); this.pingSent = 0; }, () => {});
    }
  }

  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.coherence.subscribed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.coherence.subscribed), timeoutMs);
      this.readyWaiters.push(() => { clearTimeout(timer); resolve(true); });
    });
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.coherence.subscribed = false;
    this.client.disconnect();
  }
}
