/** Parse the cache-patterns env contract (version 1) into settings, without connecting. Errors name
 * the variable and the value refused, exactly as every client words them (clients/conformance/env.json). */
import { ConfigurationError } from "./errors.js";

export const CONTRACT_VERSION = "1";
// Strict syntax, the same in every client: no signs, exponents, underscores, hex or spaces.
const PORT = /^[0-9]{1,5}$/;
const SECONDS = /^[0-9]+(\.[0-9]+)?$/;
const COUNT = /^[0-9]{1,15}$/;

export type Env = Record<string, string | undefined>;

/** How to reach one tier (the L1 sidecar or the shared L2). */
export interface TierSettings {
  host: string;
  port: number;
  socket: string | null;
  tls: boolean;
  tlsCaFile: string | null;
  cluster: boolean;
  username: string | null;
  passwordFile: string | null;
  /** Only from CACHE_*_PASSWORD (a file is preferred); never logged. */
  password: string | null;
  sentinels: Array<[string, number]>;
  sentinelMaster: string | null;
  sentinelPasswordFile: string | null;
  /** Parsed but not used: a lagging replica would reopen the populate race. */
  readHost: string | null;
  readPort: number | null;
}

/** The whole contract for one app container. */
export interface CacheSettings {
  l2: TierSettings;
  l1: TierSettings | null;
  name: string | null;
  pattern: string | null;
  /** Milliseconds; null: entries written without a ttl never expire. */
  defaultTtlMs: number | null;
  /** Milliseconds; set whenever l1 or near is. */
  l1TtlCapMs: number | null;
  invalidationChannel: string | null;
  /** An in-process L1 (CACHE_L1_MODE=in-process); then l1 is null. */
  near: NearSettings | null;
}

/** An in-process L1's bounds and how the server tracks keys for it. */
export interface NearSettings {
  maxEntries: number;
  maxBytes: number;
  tracking: "default" | "broadcast";
  /** Broadcast: only keys under one of them are kept. */
  prefixes: string[];
}

const fail = (message: string): never => { throw new ConfigurationError(message); };
/** A value in an error message, in single quotes as every client shows it. */
const q = (s: string): string => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
const present = (env: Env, name: string): boolean => env[name] !== undefined;

function bool(env: Env, name: string): boolean {
  const raw = env[name];
  if (raw === undefined) return false;
  const v = raw.trim().toLowerCase();
  if (v !== "true" && v !== "false") fail(`${name}: must be 'true' or 'false', got ${q(raw)}`);
  return v === "true";
}

function port(env: Env, name: string, def: number): number {
  const raw = env[name];
  if (raw === undefined) return def;
  const n = PORT.test(raw) ? Number(raw) : -1;
  if (!(n >= 1 && n <= 65535)) fail(`${name}: must be a TCP port (1-65535), got ${q(raw)}`);
  return n;
}

function millis(env: Env, name: string, required: boolean, when = "CACHE_L1_HOST is set"): number | null {
  const raw = env[name];
  if (raw === undefined || raw === "") {
    if (required) fail(`${name}: required when ${when}`);
    return null;
  }
  const value = SECONDS.test(raw) ? Number(raw) : -1;
  if (!(value > 0)) fail(`${name}: must be a number of seconds > 0, got ${q(raw)}`);
  return Math.max(1, Math.round(value * 1000));
}

function sentinels(env: Env, name: string): Array<[string, number]> {
  const raw = env[name];
  if (!raw) return [];
  return raw.split(",").map((item) => {
    const entry = item.trim();
    const at = entry.lastIndexOf(":");
    const p = at > 0 && PORT.test(entry.slice(at + 1)) ? Number(entry.slice(at + 1)) : -1;
    if (!(p >= 1 && p <= 65535)) fail(`${name}: each entry must be host:port, got ${q(entry)}`);
    return [entry.slice(0, at).replace(/^\[|\]$/g, ""), p] as [string, number];
  });
}

function tier(env: Env, prefix: string): TierSettings {
  const host = env[`${prefix}_HOST`];
  if (!host) fail(`${prefix}_HOST: required (is the container bound to a cache?)`);
  const sents = sentinels(env, `${prefix}_SENTINELS`);
  const master = env[`${prefix}_SENTINEL_MASTER`] || null;
  if (sents.length > 0 && master === null) fail(`${prefix}_SENTINEL_MASTER: required when ${prefix}_SENTINELS is set`);
  const username = env[`${prefix}_USERNAME`] || null;
  const passwordFile = env[`${prefix}_PASSWORD_FILE`] || null;
  const password = env[`${prefix}_PASSWORD`] ?? null;
  if (username !== null && passwordFile === null && password === null) {
    fail(`${prefix}_USERNAME: set, but neither ${prefix}_PASSWORD_FILE nor ${prefix}_PASSWORD is`);
  }
  const cluster = bool(env, `${prefix}_CLUSTER`);
  if (cluster && sents.length > 0) fail(`${prefix}_CLUSTER: cluster mode and Sentinel cannot both be set`);
  const readHost = env[`${prefix}_READ_HOST`] || null;
  return {
    host: host as string, port: port(env, `${prefix}_PORT`, 6379), socket: env[`${prefix}_SOCKET`] || null,
    tls: bool(env, `${prefix}_TLS`), tlsCaFile: env[`${prefix}_TLS_CA_FILE`] || null, cluster, username, passwordFile,
    password, sentinels: sents, sentinelMaster: master,
    sentinelPasswordFile: env[`${prefix}_SENTINEL_PASSWORD_FILE`] || null,
    readHost, readPort: readHost ? port(env, `${prefix}_READ_PORT`, 6379) : null,
  };
}

/** Read the contract (default: process.env). Absent CACHE_L1_HOST means a single tier over
 * CACHE_L2_* (or CACHE_* when there is no CACHE_L2_HOST). */
export function settingsFromEnv(env: Env = process.env): CacheSettings {
  const version = env.CACHE_CONTRACT_VERSION;
  if (version !== undefined && version !== CONTRACT_VERSION) {
    fail(`CACHE_CONTRACT_VERSION: this client speaks ${q(CONTRACT_VERSION)}, got ${q(version)}`);
  }
  const prefix = present(env, "CACHE_L2_HOST") ? "CACHE_L2" : "CACHE";
  const l2 = tier(env, prefix);
  let l1: TierSettings | null = null;
  let near: NearSettings | null = null;
  let cap: number | null = null;
  let channel: string | null = null;
  const mode = env.CACHE_L1_MODE;
  if (mode === "in-process") {
    if (present(env, "CACHE_L1_HOST")) fail("CACHE_L1_MODE: in-process takes no CACHE_L1_HOST (the L1 is in the process)");
    if (l2.cluster) {
      fail(`CACHE_L1_MODE: in-process needs an L2 that is not a cluster (tracking is per node), got ${prefix}_CLUSTER=true`);
    }
    cap = millis(env, "CACHE_L1_TTL_CAP", true, "CACHE_L1_MODE is in-process");
    channel = env.CACHE_L1_INVALIDATION_CHANNEL || null;
    if (channel === null) fail("CACHE_L1_INVALIDATION_CHANNEL: required when CACHE_L1_MODE is in-process");
    near = nearSettings(env);
  } else if (present(env, "CACHE_L1_HOST") && (mode === undefined || mode === "sidecar")) {
    l1 = tier(env, "CACHE_L1");
    if (l1.cluster || l1.sentinels.length > 0 || l1.tls) {
      fail("CACHE_L1_*: the L1 tier must be a plain loopback redis (no TLS, cluster, Sentinel)");
    }
    cap = millis(env, "CACHE_L1_TTL_CAP", true);
    channel = env.CACHE_L1_INVALIDATION_CHANNEL || null;
    if (channel === null) fail("CACHE_L1_INVALIDATION_CHANNEL: required when CACHE_L1_HOST is set");
  }
  return {
    l2, l1, name: env.CACHE_NAME ?? null, pattern: env.CACHE_PATTERN ?? null,
    defaultTtlMs: millis(env, "CACHE_DEFAULT_TTL", false), l1TtlCapMs: cap, invalidationChannel: channel, near,
  };
}

function count(env: Env, name: string): number {
  const raw = env[name];
  if (raw === undefined || raw === "") fail(`${name}: required when CACHE_L1_MODE is in-process`);
  const n = COUNT.test(raw as string) ? Number(raw) : 0;
  if (!(n > 0)) fail(`${name}: must be a whole number > 0, got ${q(raw as string)}`);
  return n;
}

function nearSettings(env: Env): NearSettings {
  const tracking = env.CACHE_L1_TRACKING ?? "default";
  if (tracking !== "default" && tracking !== "broadcast") {
    fail(`CACHE_L1_TRACKING: must be 'default' or 'broadcast', got ${q(tracking)}`);
  }
  const raw = env.CACHE_L1_TRACKING_PREFIXES;
  let prefixes: string[] = [];
  if (tracking === "broadcast") {
    if (!raw) fail("CACHE_L1_TRACKING_PREFIXES: required when CACHE_L1_TRACKING is broadcast");
    prefixes = (raw as string).split(",");
    if (prefixes.some((p) => p === "" || p !== p.trim())) {
      fail(`CACHE_L1_TRACKING_PREFIXES: comma-separated prefixes, none empty or with spaces, got ${q(raw as string)}`);
    }
  } else if (raw) {
    fail(`CACHE_L1_TRACKING_PREFIXES: only used when CACHE_L1_TRACKING is broadcast, got ${q(raw)}`);
  }
  return { maxEntries: count(env, "CACHE_L1_MAX_ENTRIES"), maxBytes: count(env, "CACHE_L1_MAX_BYTES"),
    tracking: tracking as NearSettings["tracking"], prefixes };
}
