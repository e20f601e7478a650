/** cache-patterns-client: the two-tier cache client for caches deployed by cache-patterns (protocol 2,
 * docs/protocol.md). `TwoTierCache.fromEnv()` reads the CACHE_* env contract; without an L1 in the
 * pod it is a plain client over L2 with the same API. The L1 is a sidecar Redis or (from 2.1.0,
 * CACHE_L1_MODE=in-process) a NearL1 in this process, invalidated by the L2 server's client tracking.
 * The major version is the protocol's. */
export { TwoTierCache, type CacheConfig, type Value } from "./cache.js";
export { CacheError, ConfigurationError, L2Unavailable } from "./errors.js";
export { type L1Store, RedisL1 } from "./l1.js";
export { ENTRY_OVERHEAD, NearL1, type NearSize } from "./near.js";
export { type LoadOptions, type LoaderFn, NEGATIVE_ENTRIES } from "./loader.js";
export { type ClientOptions, DEFAULTS } from "./options.js";
export * as protocol from "./protocol.js";
export { PROTOCOL_VERSION } from "./protocol.js";
export { type CacheSettings, type NearSettings, type TierSettings, settingsFromEnv } from "./settings.js";
export { CacheStats } from "./stats.js";

export const VERSION = "2.1.0";
