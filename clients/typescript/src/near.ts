/** NearL1: the in-process L1 (CACHE_L1_MODE=in-process), an L1Store that keeps copies in this process's
 * memory, bounded by entries and bytes (least recently used evicted first). The L2 server's client
 * tracking (tracking.ts) and the populate guard keep it coherent; the store only bounds and expires.
 * `peek` is its synchronous read, which the cache's hit path uses (no promise to wait for). */
import { performance } from "node:perf_hooks";
import type { L1Store } from "./l1.js";

/** What a copy costs the byte bound beyond its key and value, the same in every client (a nominal
 * figure; what the runtime spends per entry is measured in docs/benchmarks.md). */
export const ENTRY_OVERHEAD = 64;

interface Entry {
  value: Buffer;
  deadline: number; // performance.now() milliseconds: a step of the wall clock cannot stretch it
  cost: number;
}

const ASCII = /^[\x00-\x7f]*$/;
/** The store's key for a key: its bytes as latin1 text (a string key stands for its UTF-8 bytes). */
const id = (key: Buffer | string): string =>
  typeof key === "string" ? (ASCII.test(key) ? key : Buffer.from(key, "utf8").toString("latin1")) : key.toString("latin1");

export interface NearSize {
  entries: number;
  bytes: number;
  /** The most ever held at once: the bounds' proof. */
  peakEntries: number;
  peakBytes: number;
  /** Copies dropped to stay within the bounds. */
  evictions: number;
}

export class NearL1 implements L1Store {
  private readonly items = new Map<string, Entry>(); // in use order: the first is the least recent
  private bytes = 0;
  private peakEntries = 0;
  private peakBytes = 0;
  private evictions = 0;

  constructor(readonly maxEntries: number, readonly maxBytes: number) {
    if (!(maxEntries >= 1 && maxBytes >= 1)) throw new RangeError(`NearL1 bounds must be > 0, got ${maxEntries}, ${maxBytes}`);
  }

  /** A copy of the value (the caller may keep or change it), or null; no promise. */
  peek(key: Buffer | string): Buffer | null {
    const k = id(key);
    const e = this.items.get(k);
    if (e === undefined) return null;
    if (performance.now() >= e.deadline) {
      this.drop(k, e);
      return null;
    }
    this.items.delete(k);
    this.items.set(k, e);
    return Buffer.from(e.value);
  }

  get(key: Buffer | string): Promise<Buffer | null> {
    return Promise.resolve(this.peek(key));
  }

  /** Keep a copy until deadlineMs (Unix ms, turned into the monotonic clock at once); a value bigger
   * than the whole byte bound is not kept. */
  put(key: Buffer, value: Buffer, deadlineMs: number): Promise<void> {
    const k = id(key);
    const old = this.items.get(k);
    if (old !== undefined) this.drop(k, old);
    const cost = key.length + value.length + ENTRY_OVERHEAD;
    if (cost <= this.maxBytes) {
      this.items.set(k, { value: Buffer.from(value), deadline: performance.now() + (deadlineMs - Date.now()), cost });
      this.bytes += cost;
      while (this.items.size > this.maxEntries || this.bytes > this.maxBytes) {
        const [oldest, e] = this.items.entries().next().value as [string, Entry];
        this.drop(oldest, e);
        this.evictions++;
      }
      this.peakEntries = Math.max(this.peakEntries, this.items.size);
      this.peakBytes = Math.max(this.peakBytes, this.bytes);
    }
    return Promise.resolve();
  }

  delete(key: Buffer): Promise<void> {
    const k = id(key);
    const e = this.items.get(k);
    if (e !== undefined) this.drop(k, e);
    return Promise.resolve();
  }

  flush(): Promise<void> {
    this.items.clear();
    this.bytes = 0;
    return Promise.resolve();
  }

  close(): Promise<void> {
    return this.flush();
  }

  size(): NearSize {
    return { entries: this.items.size, bytes: this.bytes, peakEntries: this.peakEntries, peakBytes: this.peakBytes,
      evictions: this.evictions };
  }

  private drop(k: string, e: Entry): void {
    this.items.delete(k);
    this.bytes -= e.cost;
  }
}
