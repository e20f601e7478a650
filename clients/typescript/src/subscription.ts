/** The invalidation subscription: a dedicated connection to L2 subscribed to the channel. Every
 * (re)subscription flushes L1 (what was published meanwhile is lost); each message drops a key or
 * flushes L1; an idle connection is pinged, and one that does not answer within another interval is
 * dropped and reconnected (with back-off). */
import type { Redis } from "ioredis";
import type { Coherence } from "./guard.js";
import { decode } from "./protocol.js";
import type { CacheStats } from "./stats.js";

export class Subscription {
  private lastRx = Date.now();
  private pingSent = 0;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private readonly readyWaiters: Array<() => void> = [];

  constructor(private readonly client: Redis, private readonly channel: string, private readonly origin: string,
              private readonly coherence: Coherence, private readonly stats: CacheStats,
              private readonly intervalMs: number) {
    client.options.autoResubscribe = false; // every subscription goes through subscribe() below
    client.on("ready", () => void this.subscribe());
    for (const event of ["close", "end", "reconnecting"]) client.on(event, () => { coherence.subscribed = false; });
    client.on("error", () => {}); // reported through the subscription state and the counters
    client.on("messageBuffer", (_channel: Buffer, payload: Buffer) => this.onMessage(payload));
    if (client.status === "ready") void this.subscribe();
    this.timer = setInterval(() => this.health(), Math.min(200, intervalMs));
    this.timer.unref();
  }

  private async subscribe(): Promise<void> {
    try {
      await this.client.subscribe(this.channel);
    } catch {
      return; // the connection went away again; the next "ready" subscribes
    }
    this.lastRx = Date.now();
    this.pingSent = 0;
    // Anything published while we were not subscribed is lost, so the whole L1 goes.
    this.stats.subscriptions++;
    await this.coherence.flush();
    if (this.client.status !== "ready" || this.closed) return;
    this.coherence.subscribed = true;
    for (const wake of this.readyWaiters.splice(0)) wake();
  }

  private onMessage(payload: Buffer): void {
    this.lastRx = Date.now();
    this.stats.invalidationsReceived++;
    const inv = decode(payload);
    if (inv.origin === this.origin) {
      this.stats.ownInvalidationsSkipped++;
    } else if (inv.flush) {
      void this.coherence.flush();
    } else {
      void this.coherence.invalidateLocal(inv.key!, inv.announced);
    }
  }

  private health(): void {
    if (this.closed || this.client.status !== "ready") return;
    const now = Date.now();
    if (this.pingSent && now - this.pingSent >= this.intervalMs) {
      // No reply within an interval: the connection is dead. No populates until it is back.
      this.coherence.subscribed = false;
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
