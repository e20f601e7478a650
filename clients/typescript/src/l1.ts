/** The L1 tier behind one small interface, so the coherence logic does not care what holds the
 * copies. Today there is one kind, RedisL1 (the pod's Redis sidecar); another kind (an in-process near
 * cache, say) implements the same methods. */
import type { Redis } from "ioredis";

export interface L1Store {
  /** The copy, or null. A string key stands for its UTF-8 bytes. */
  get(key: Buffer | string): Promise<Buffer | null>;
  /** Keep a copy until `deadlineMs` (Unix milliseconds, the wall clock this process shares with the
   * store), never a relative TTL. Calls take effect in the order they are made (a connection's
   * command order): a delete or flush made after a put removes what the put stored. */
  put(key: Buffer, value: Buffer, deadlineMs: number): Promise<void>;
  delete(key: Buffer): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** The Redis sidecar: GET, SET ... PXAT, DEL, FLUSHDB ASYNC, on one connection (so in order). */
export class RedisL1 implements L1Store {
  constructor(readonly client: Redis) {}

  get(key: Buffer | string): Promise<Buffer | null> {
    return this.client.getBuffer(key);
  }

  async put(key: Buffer, value: Buffer, deadlineMs: number): Promise<void> {
    await this.client.set(key, value, "PXAT", deadlineMs);
  }

  async delete(key: Buffer): Promise<void> {
    await this.client.del(key);
  }

  async flush(): Promise<void> {
    await this.client.flushdb("ASYNC");
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }
}
