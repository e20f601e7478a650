/** Build ioredis clients for each tier from the contract settings: auth from files, TLS, Sentinel,
 * cluster. Every client gets short timeouts, so no cache call waits much longer than its timeout. */
import { readFileSync } from "node:fs";
import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { Options } from "./options.js";
import type { TierSettings } from "./settings.js";

export type L2Client = Redis | Cluster;

/** The password file is read again before every reconnect, so a rotated Secret is picked up without
 * a restart (the kubelet swaps the file atomically). */
function readPassword(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").replace(/[\r\n]+$/, "");
  } catch {
    return undefined; // the connection then fails authentication: L2Unavailable
  }
}

const backoff = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000);

function common(connectTimeout: number, timeout: number, o: Options): RedisOptions {
  return {
    connectTimeout: Math.round(connectTimeout * 1000), commandTimeout: Math.round(timeout * 1000),
    maxRetriesPerRequest: Math.max(0, o.retries), enableOfflineQueue: true, lazyConnect: false,
    protocol: 2, keepAlive: 30000, retryStrategy: backoff,
  };
}

function auth(t: TierSettings): RedisOptions {
  if (t.passwordFile !== null) return { username: t.username ?? undefined, password: readPassword(t.passwordFile) };
  if (t.password !== null) return { username: t.username ?? undefined, password: t.password };
  return {};
}

function tls(t: TierSettings): RedisOptions {
  if (!t.tls) return {};
  // No CA file: the system trust store (managed services with public CAs). Hostnames are checked.
  return { tls: { servername: t.host, ca: t.tlsCaFile ? readFileSync(t.tlsCaFile) : undefined, rejectUnauthorized: true } };
}

/** Refresh the password from its file whenever the client is about to reconnect. */
function rereadOnReconnect(client: Redis, t: TierSettings): Redis {
  if (t.passwordFile !== null) {
    const path = t.passwordFile;
    const strategy = client.options.retryStrategy ?? backoff;
    client.options.retryStrategy = (times: number) => {
      client.options.password = readPassword(path);
      return strategy(times);
    };
  }
  return client;
}

/** The L1 sidecar: the unix socket when the contract offers one (faster than TCP loopback). */
export function l1Client(t: TierSettings, o: Options): Redis {
  const opts = common(o.l1ConnectTimeout, o.l1Timeout, o);
  return t.socket ? new Redis({ ...opts, path: t.socket }) : new Redis({ ...opts, host: t.host, port: t.port });
}

/** The shared tier (Sentinel-managed primary, cluster, or a plain endpoint, socket preferred) and
 * the client the invalidation subscription runs on (in cluster mode a plain connection to the
 * configured endpoint: a classic PUBLISH reaches every node). */
export function l2Clients(t: TierSettings, o: Options, withSubscriber: boolean): { l2: L2Client; subscriber: Redis | null } {
  const opts: RedisOptions = { ...common(o.l2ConnectTimeout, o.l2Timeout, o), ...auth(t), ...tls(t) };
  const plain = (): Redis => rereadOnReconnect(
    t.socket && !t.tls ? new Redis({ ...opts, path: t.socket }) : new Redis({ ...opts, host: t.host, port: t.port }), t);
  if (t.cluster) {
    const l2 = new Cluster([{ host: t.host, port: t.port }], {
      redisOptions: opts, enableOfflineQueue: true, clusterRetryStrategy: backoff, slotsRefreshTimeout: opts.connectTimeout,
    });
    return { l2, subscriber: withSubscriber ? plain() : null };
  }
  if (t.sentinels.length > 0) {
    const sentinel = (): Redis => rereadOnReconnect(new Redis({
      ...opts, sentinels: t.sentinels.map(([host, port]) => ({ host, port })), name: t.sentinelMaster ?? undefined,
      sentinelPassword: t.sentinelPasswordFile ? readPassword(t.sentinelPasswordFile) : undefined,
      sentinelRetryStrategy: backoff, enableTLSForSentinelMode: t.tls,
    }), t);
    return { l2: sentinel(), subscriber: withSubscriber ? sentinel() : null };
  }
  return { l2: plain(), subscriber: withSubscriber ? plain() : null };
}
