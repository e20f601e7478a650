/** The cache's counters (named as in every client; `snapshot()` gives the canonical snake_case names). */
export class CacheStats {
  l1Hits = 0;
  /** Reads with an L1 that it did not answer (a miss, or L1 bypassed). */
  l1Misses = 0;
  l2Hits = 0;
  l2Misses = 0;
  populates = 0;
  populatesRefused = 0;
  /** Populates kept because the invalidation announced the value read. */
  populatesAnnounced = 0;
  invalidationsReceived = 0;
  ownInvalidationsSkipped = 0;
  l1Flushes = 0;
  l1Errors = 0;
  l2Errors = 0;
  publishErrors = 0;
  subscriptions = 0;
  /** Loader calls made by getOrLoad. */
  loads = 0;
  /** Loader calls that failed (never cached). */
  loadErrors = 0;
  /** getOrLoad calls that waited for another caller's load of the key. */
  loadWaits = 0;
  /** getOrLoad calls answered by a remembered absence. */
  negativeHits = 0;

  get l1HitRatio(): number {
    const reads = this.l1Hits + this.l2Hits + this.l2Misses;
    return reads ? this.l1Hits / reads : 0;
  }

  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, value] of Object.entries(this)) {
      if (typeof value === "number") out[name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = value;
    }
    return out;
  }
}
