/** Errors the client raises on purpose, so apps can catch cache trouble without importing ioredis. */

/** Base class of everything this package throws on purpose: catching it is enough to fall back. */
export class CacheError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A missing or unusable value of the env contract (or an option); the message names the variable:
 * `CACHE_L1_TTL_CAP: must be a number of seconds > 0, got '30s'`. */
export class ConfigurationError extends CacheError {}

/** L1 could not answer and L2 could not be reached in time (connect or read timeout, refused, failed
 * authentication, a read-only replica). A failed write may or may not have been applied; the local L1
 * copy was dropped either way. */
export class L2Unavailable extends CacheError {}
