/** The byte-level and env vectors every client is tested against (clients/conformance). */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ConfigurationError, protocol, settingsFromEnv } from "../src/index.js";

const here = new URL("../../../../conformance/", import.meta.url); // dist/test/test -> clients/conformance
const load = (name: string) => JSON.parse(readFileSync(new URL(name, here), "utf8"));
const field = (c: any, name: string): Buffer | null =>
  c[`${name}_hex`] !== undefined ? Buffer.from(c[`${name}_hex`], "hex") : c[name] !== undefined ? Buffer.from(c[name], "utf8") : null;

test("protocol vectors: digest, bucket, encode, decode", () => {
  const v = load("vectors.json");
  for (const c of v.digest) assert.equal(protocol.digest(field(c, "value")!), c.digest);
  for (const c of v.bucket) assert.equal(protocol.bucketOf(field(c, "key")!), c.bucket);
  for (const c of v.encode) {
    const key = field(c, "key")!;
    const got = c.kind === "value" ? protocol.encodeValue(c.origin, key, protocol.digest(field(c, "value")!), c.ttl_ms)
      : c.kind === "key" ? protocol.encodeKey(c.origin, key, c.version ?? 2) : protocol.encodeFlush(c.origin, c.version ?? 2);
    assert.deepEqual(got, field(c, "payload"), JSON.stringify(c));
  }
  for (const c of v.decode) {
    const inv = protocol.decode(field(c, "payload")!);
    assert.deepEqual({ origin: inv.origin, key: inv.key, flush: inv.flush, digest: inv.announced?.digest ?? null,
      ttl: inv.announced?.ttlMs ?? null }, { origin: c.origin, key: field(c, "key"), flush: c.flush, digest: c.digest,
      ttl: c.ttl_ms }, JSON.stringify(c));
  }
});

test("env errors name the variable, word for word", () => {
  const e = load("env.json");
  for (const c of e.errors) {
    const env: Record<string, string> = c.replace ? { ...c.replace } : { ...e.base };
    for (const [k, v] of Object.entries(c.env ?? {})) {
      if (v === null) delete env[k];
      else env[k] = v as string;
    }
    assert.throws(() => settingsFromEnv(env), (err: unknown) => err instanceof ConfigurationError && err.message === c.error,
      JSON.stringify(c));
  }
});

test("keys of any other type are a TypeError", () => {
  for (const key of [42, null, undefined, true, ["4", "2"], { k: 1 }]) {
    assert.throws(() => protocol.keyBytes(key), TypeError);
  }
  assert.deepEqual(protocol.keyBytes("42"), Buffer.from("42"));
});
