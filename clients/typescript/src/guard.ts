/** What keeps L1 coherent with L2: the populate guard (a generation per key bucket and the last few
 * invalidations of each bucket, by key and announcement), dropping a key locally, flushing L1, and
 * bypassing L1 while it fails until a flush makes it safe again (docs/protocol.md). JavaScript runs
 * one callback at a time, so the guard needs no lock: a populate checks and issues its SET in one
 * turn, and an invalidation that arrives later issues its DEL after that SET on the same connection. */
import { type Announcement, BUCKETS, bucketOf, digest } from "./protocol.js";
import type { L1Store } from "./l1.js";
import type { CacheStats } from "./stats.js";

const EVENTS = 4;

export interface Snapshot {
  bucket: number;
  globalGen: number;
  gen: number;
}

interface GuardEvent {
  gen: number;
  key: string; // the key's bytes as latin1 text
  announced: Announcement | null;
}

export const keyId = (key: Buffer): string => key.toString("latin1");

export class Coherence {
  private readonly gens = new Float64Array(BUCKETS);
  private readonly events: GuardEvent[][] = Array.from({ length: BUCKETS }, () => []);
  private globalGen = 0;
  l1Ok = false; // L1 starts "down": copies left by an earlier process may have missed invalidations
  subscribed = false;
  private l1RetryAt = 0;
  private recovering: Promise<boolean> | null = null;
  onKeyInvalidated: (id: string) => void = () => {};
  onFlush: () => void = () => {};

  constructor(readonly l1: L1Store | null, readonly capMs: number, readonly stats: CacheStats,
              readonly l1RetryIntervalMs: number) {}

  snapshot(key: Buffer): Snapshot {
    const bucket = bucketOf(key);
    return { bucket, globalGen: this.globalGen, gen: this.gens[bucket] };
  }

  /** Whether `key` was invalidated since the snapshot: "no", "refused", or the last announcement. */
  touched(key: Buffer, s: Snapshot): "no" | "refused" | GuardEvent {
    if (this.globalGen !== s.globalGen) return "refused";
    const gen = this.gens[s.bucket];
    if (gen === s.gen) return "no";
    const newer = this.events[s.bucket].filter((e) => e.gen > s.gen);
    if (newer.length !== gen - s.gen) return "refused"; // more than the record keeps
    const id = keyId(key);
    for (let i = newer.length - 1; i >= 0; i--) if (newer[i].key === id) return newer[i];
    return "no"; // other keys that share the bucket
  }

  /** Copy an L2 value into L1 until the entry's deadline (startedMs + pttl; -1: none), at most the cap
   * from now, as an absolute time: however late the SET reaches L1, the copy cannot outlive L2's entry. */
  populate(key: Buffer, value: Buffer, startedMs: number, pttl: number, s: Snapshot): Promise<void> {
    const now = Date.now();
    let deadline = pttl === -1 ? now + this.capMs : Math.min(startedMs + pttl, now + this.capMs);
    if (deadline <= now) return Promise.resolve(); // the L2 entry expires before the copy could be made
    const t = this.touched(key, s);
    let announced = false;
    let refused = t === "refused" || !this.subscribed || !this.l1Ok;
    if (!refused && typeof t === "object") {
      refused = t.announced === null || t.announced.digest !== digest(value);
      if (!refused && t.announced !== null) {
        announced = true;
        if (t.announced.ttlMs !== null) deadline = Math.min(deadline, startedMs + t.announced.ttlMs);
      }
    }
    if (refused) {
      this.stats.populatesRefused++;
      return Promise.resolve();
    }
    if (deadline <= now) return Promise.resolve();
    // Issued now, in this turn: any invalidation handled later sends its DEL after this SET.
    return this.l1!.put(key, value, deadline).then(() => {
      this.stats.populates++;
      if (announced) this.stats.populatesAnnounced++;
    }, (err) => this.l1Down(err));
  }

  /** Drop the key from L1 and refuse populates of it that started before now (unless they read what
   * `announced` describes). */
  invalidateLocal(key: Buffer, announced: Announcement | null): Promise<void> {
    const bucket = bucketOf(key);
    const gen = ++this.gens[bucket];
    const events = this.events[bucket];
    events.push({ gen, key: keyId(key), announced });
    if (events.length > EVENTS) events.shift();
    this.onKeyInvalidated(keyId(key));
    if (this.l1 === null || !this.l1Ok) return Promise.resolve();
    return this.l1.delete(key).catch((err) => this.l1Down(err)); // a flush before the next use
  }

  /** Empty L1 and refuse every populate in flight; whether L1 is usable afterwards. */
  async flush(): Promise<boolean> {
    if (this.l1 === null) return false;
    this.globalGen++;
    this.onFlush();
    try {
      await this.l1.flush();
    } catch (err) {
      this.l1Down(err);
      return false;
    }
    this.l1Ok = true;
    this.stats.l1Flushes++;
    return true;
  }

  /** Whether L1 may be used now; while it is marked down, at most once per retry interval flush it
   * and use it again. */
  async usable(): Promise<boolean> {
    if (this.l1Ok) return true;
    if (this.l1 === null || Date.now() < this.l1RetryAt) return false;
    if (this.recovering === null) {
      this.l1RetryAt = Date.now() + this.l1RetryIntervalMs;
      this.recovering = this.flush().finally(() => { this.recovering = null; });
    }
    return this.recovering;
  }

  l1Down(_err: unknown): void {
    this.l1Ok = false;
    this.l1RetryAt = Date.now() + this.l1RetryIntervalMs;
    this.stats.l1Errors++;
  }
}
