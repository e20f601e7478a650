/** getOrLoad: single flight per key in the process, loader errors never cached, optional negative
 * caching in this process only (an invalidation of the key, or an L1 flush, forgets it sooner). */
import type { TwoTierCache, Value } from "./cache.js";
import { L2Unavailable } from "./errors.js";
import { type Coherence, keyId } from "./guard.js";

/** Loads from the source of truth; null (or undefined) is an absence. */
export type LoaderFn = () => Promise<Value | null | undefined>;

export interface LoadOptions {
  /** Seconds the loaded value lives in L2 (none: as set() without a ttl). */
  ttl?: number;
  /** Seconds an absence is remembered in this process (none: not remembered). */
  negativeTtl?: number;
}

/** Remembered absences per process at most; the oldest go first. */
export const NEGATIVE_ENTRIES = 10_000;

export class Loader {
  private readonly flights = new Map<string, Promise<Buffer | null>>();
  private readonly negative = new Map<string, number>();

  constructor(private readonly cache: TwoTierCache, private readonly coherence: Coherence) {
    coherence.onKeyInvalidated = (id) => { this.negative.delete(id); };
    coherence.onFlush = () => { this.negative.clear(); };
  }

  async getOrLoad(k: Buffer, loader: LoaderFn, options: LoadOptions): Promise<Buffer | null> {
    const cache = this.cache;
    cache.px(options.ttl); // a bad ttl fails before any tier is touched
    if (options.negativeTtl !== undefined && !(options.negativeTtl > 0 && Number.isFinite(options.negativeTtl))) {
      throw new RangeError(`negativeTtl: must be a finite number of seconds > 0, got ${options.negativeTtl}`);
    }
    const hit = await cache.fromL1(k);
    if (hit !== null) return hit;
    const id = keyId(k);
    if (this.absent(id)) return null;
    const flight = this.flights.get(id);
    if (flight !== undefined) {
      cache.stats.loadWaits++;
      return flight;
    }
    const mine = this.load(k, id, loader, options).finally(() => this.flights.delete(id));
    this.flights.set(id, mine);
    return mine;
  }

  private async load(k: Buffer, id: string, loader: LoaderFn, options: LoadOptions): Promise<Buffer | null> {
    const cache = this.cache;
    let l2Ok = true;
    try {
      const value = await cache.readThrough(k);
      if (value !== null) return value;
    } catch (err) {
      if (!(err instanceof L2Unavailable)) throw err;
      l2Ok = false; // L2 down: the loader answers instead, nothing is stored
    }
    const s = this.coherence.snapshot(k);
    cache.stats.loads++;
    let loaded: Value | null | undefined;
    try {
      loaded = await loader();
    } catch (err) {
      cache.stats.loadErrors++;
      throw err;
    }
    if (loaded === null || loaded === undefined) {
      if (options.negativeTtl !== undefined) this.rememberAbsent(k, id, s, options.negativeTtl);
      return null;
    }
    const data = typeof loaded === "string" ? Buffer.from(loaded, "utf8") : Buffer.from(loaded);
    if (l2Ok) await cache.set(k, data, options.ttl).catch(() => {}); // not stored: the caller still has its value
    return data;
  }

  private absent(id: string): boolean {
    const expires = this.negative.get(id);
    if (expires === undefined) return false;
    if (Date.now() >= expires) {
      this.negative.delete(id);
      return false;
    }
    this.cache.stats.negativeHits++;
    return true;
  }

  private rememberAbsent(k: Buffer, id: string, s: ReturnType<Coherence["snapshot"]>, seconds: number): void {
    if (this.coherence.l1 !== null && !this.coherence.subscribed) return;
    if (this.coherence.touched(k, s) !== "no") return; // the key changed since the read
    if (this.negative.size >= NEGATIVE_ENTRIES) this.negative.delete(this.negative.keys().next().value!);
    this.negative.delete(id);
    this.negative.set(id, Date.now() + seconds * 1000);
  }
}
