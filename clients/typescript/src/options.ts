/** Timeouts and back-off (seconds). Defaults suit an L1 on loopback and an L2 one network hop away. */
import { ConfigurationError } from "./errors.js";

export interface ClientOptions {
  /** Opening a connection to the L1 sidecar (0.25). */
  l1ConnectTimeout?: number;
  /** An L1 reply (0.25); a slower L1 is treated as down. */
  l1Timeout?: number;
  /** Opening a connection to L2, or asking a Sentinel (0.5). */
  l2ConnectTimeout?: number;
  /** An L2 reply (0.5), then L2Unavailable. */
  l2Timeout?: number;
  /** Times a command is resent after its connection broke (1): a connection killed by a server
   * restart or a password rotation is replaced without an error. */
  retries?: number;
  /** After an L1 error, skip L1 this long, then flush it and use it again (1). */
  l1RetryInterval?: number;
  /** After an L2 error, fail at once this long instead of waiting again (0.5). */
  l2RetryInterval?: number;
  /** Ping the idle subscription this often; no reply within another interval: reconnect (2). */
  healthCheckInterval?: number;
  /** How long fromEnv() waits for the first subscription (1). */
  subscribeWait?: number;
  /** The invalidation format written: 2 announces each value; 1 while readers older than protocol 2
   * still run (a rolling update), since they flush their whole L1 on a version they do not know. */
  publishVersion?: 1 | 2;
  /** Test seams (the conformance driver pauses reads there). Not for applications. */
  beforeL2Read?: (key: Buffer) => Promise<void> | void;
  afterL2Read?: (key: Buffer, value: Buffer) => Promise<void> | void;
}

export type Options = Required<Omit<ClientOptions, "beforeL2Read" | "afterL2Read">> &
  Pick<ClientOptions, "beforeL2Read" | "afterL2Read">;

export const DEFAULTS: Options = {
  l1ConnectTimeout: 0.25, l1Timeout: 0.25, l2ConnectTimeout: 0.5, l2Timeout: 0.5, retries: 1,
  l1RetryInterval: 1, l2RetryInterval: 0.5, healthCheckInterval: 2, subscribeWait: 1, publishVersion: 2,
};

export function withDefaults(options: ClientOptions = {}): Options {
  const o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Options;
  if (o.publishVersion !== 1 && o.publishVersion !== 2) {
    throw new ConfigurationError(`publishVersion: must be 1 or 2, got ${String(o.publishVersion)}`);
  }
  return o;
}
