/**
 * The invalidation message format shared by every two-tier client (protocol 2; docs/protocol.md,
 * byte-level vectors in clients/conformance/vectors.json).
 *
 *   payload = version SP origin SP body            version "2" ("1" is still read)
 *   body    = "k" SP key                           drop key (a delete, or a write that announces nothing)
 *           / "v" SP ttl SP digest SP key          key now holds the value with digest, written with ttl
 *           / "*"                                  flush the whole L1
 *   ttl     = "-" / 1*DIGIT (milliseconds)         digest = first 16 bytes of SHA-256(value), lowercase hex
 */
import { createHash } from "node:crypto";

export const PROTOCOL_VERSION = 2;
/** Populate-guard buckets: crc32 (IEEE) of the key's bytes mod 1024, as in every client. */
export const BUCKETS = 1024;

const ORIGIN = /^[A-Za-z0-9_-]+$/;
const DIGEST = /^[0-9a-f]{32}$/;
const TTL = /^(-|[0-9]{1,15})$/;
const SPACE = 0x20;

export type Key = string | Uint8Array;

/** What a "v" message says the key now holds. ttlMs null: no expiry. */
export interface Announcement {
  digest: string;
  ttlMs: number | null;
}

/** One decoded message. key is null for a flush and for an unreadable payload. */
export interface Invalidation {
  origin: string;
  key: Buffer | null;
  flush: boolean;
  announced: Announcement | null;
}

/** A key as it is stored and named in messages: a string as UTF-8, bytes as they are. Anything else
 * is a TypeError before any tier is touched (a number would be sent as its decimal text by ioredis
 * while other clients could name other bytes). */
export function keyBytes(key: unknown): Buffer {
  if (typeof key === "string") return Buffer.from(key, "utf8");
  if (key instanceof Uint8Array) return Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  const shown = (() => { try { return JSON.stringify(key)?.slice(0, 40); } catch { return "?"; } })();
  throw new TypeError(`key: must be a string or bytes, got ${key === null ? "null" : typeof key} ${shown}`);
}

/** The value's digest as messages carry it. */
export function digest(value: Uint8Array): string {
  return createHash("sha256").update(value).digest("hex").slice(0, 32);
}

const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** The key's populate-guard bucket. */
export function bucketOf(key: Buffer): number {
  let crc = -1;
  for (let i = 0; i < key.length; i++) crc = CRC_TABLE[(crc ^ key[i]) & 0xff] ^ (crc >>> 8);
  return ((crc ^ -1) >>> 0) % BUCKETS;
}

function checkOrigin(origin: string): Buffer {
  if (!ORIGIN.test(origin)) throw new Error(`origin: only letters, digits, '-' and '_' are allowed, got ${JSON.stringify(origin)}`);
  return Buffer.from(origin, "ascii");
}

function versionOf(version: number): string {
  if (version !== 1 && version !== 2) throw new Error(`version: must be 1 or 2, got ${version}`);
  return String(version);
}

/** The payload that drops one key from every other pod's L1 (version 1 or 2). */
export function encodeKey(origin: string, key: Key, version = 2): Buffer {
  return Buffer.concat([Buffer.from(`${versionOf(version)} `), checkOrigin(origin), Buffer.from(" k "), keyBytes(key)]);
}

/** The payload of a write (version 2): drop the key, announce the value it now holds. */
export function encodeValue(origin: string, key: Key, valueDigest: string, ttlMs: number | null): Buffer {
  if (!DIGEST.test(valueDigest)) throw new Error(`digest: must be 32 lowercase hex digits, got ${JSON.stringify(valueDigest)}`);
  const ttl = ttlMs === null ? "-" : String(Math.trunc(ttlMs));
  return Buffer.concat([Buffer.from("2 "), checkOrigin(origin), Buffer.from(` v ${ttl} ${valueDigest} `), keyBytes(key)]);
}

/** The payload that flushes every other pod's whole L1. */
export function encodeFlush(origin: string, version = 2): Buffer {
  return Buffer.concat([Buffer.from(`${versionOf(version)} `), checkOrigin(origin), Buffer.from(" *")]);
}

/** Split on the first `n - 1` spaces (the rest, spaces included, is the last part). */
function splitN(payload: Buffer, n: number): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  while (parts.length < n - 1) {
    const at = payload.indexOf(SPACE, start);
    if (at < 0) break;
    parts.push(payload.subarray(start, at));
    start = at + 1;
  }
  parts.push(payload.subarray(start));
  return parts;
}

const UNREADABLE: Invalidation = { origin: "", key: null, flush: true, announced: null };

/** Parse a payload. Anything unexpected decodes as a flush from an unknown origin (the safe reading). */
export function decode(payload: Buffer): Invalidation {
  const parts = splitN(payload, 4);
  const version = parts[0]?.toString("latin1");
  const origin = parts[1]?.toString("latin1") ?? "";
  if (parts.length < 3 || (version !== "1" && version !== "2") || !ORIGIN.test(origin)) return UNREADABLE;
  const op = parts[2].toString("latin1");
  if (op === "k" && parts.length === 4) return { origin, key: Buffer.from(parts[3]), flush: false, announced: null };
  if (op === "*" && parts.length === 3) return { origin, key: null, flush: true, announced: null };
  if (op === "v" && version === "2" && parts.length === 4) {
    const fields = splitN(parts[3], 3);
    const ttl = fields[0].toString("latin1");
    const dig = fields[1]?.toString("latin1") ?? "";
    if (fields.length === 3 && TTL.test(ttl) && DIGEST.test(dig)) {
      return { origin, key: Buffer.from(fields[2]), flush: false, announced: { digest: dig, ttlMs: ttl === "-" ? null : Number(ttl) } };
    }
  }
  return UNREADABLE;
}
