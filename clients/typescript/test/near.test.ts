/** The in-process L1's store on its own: bounds (entries and bytes, least recently used first), expiry,
 * copies the caller owns. Its coherence is the conformance suite's (scenarios/09_in_process.json). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ENTRY_OVERHEAD, NearL1 } from "../src/index.js";

const far = () => Date.now() + 3_600_000;

test("NearL1 keeps within its bounds, least recently used first", async () => {
  const n = new NearL1(3, 1 << 20);
  for (const k of ["a", "b", "c"]) await n.put(Buffer.from(k), Buffer.from(k), far());
  assert.ok(n.peek("a")); // a is now the most recently used
  await n.put(Buffer.from("d"), Buffer.from("d"), far());
  assert.equal(n.peek("b"), null);
  assert.deepEqual(n.size(), { entries: 3, bytes: 3 * (2 + ENTRY_OVERHEAD), peakEntries: 3, peakBytes: 3 * (2 + ENTRY_OVERHEAD), evictions: 1 });
  const b = new NearL1(100, 3 * (ENTRY_OVERHEAD + 2));
  for (const k of ["k1", "k2", "k3", "k4"]) await b.put(Buffer.from(k), Buffer.alloc(0), far());
  assert.equal(b.size().entries, 3);
  assert.ok(b.size().peakBytes <= 3 * (ENTRY_OVERHEAD + 2));
  await b.put(Buffer.from("huge"), Buffer.alloc(1000), far());
  assert.equal(b.peek("huge"), null);
});

test("NearL1 copies expire, are the caller's own, and a string key is its UTF-8 bytes", async () => {
  const n = new NearL1(10, 1 << 20);
  await n.put(Buffer.from("k"), Buffer.from("v1"), Date.now() + 30);
  const v = n.peek("k")!;
  v[0] = 0x58;
  assert.equal(n.peek(Buffer.from("k"))!.toString(), "v1");
  await n.put(Buffer.from("ключ", "utf8"), Buffer.from("x"), far());
  assert.equal(n.peek("ключ")!.toString(), "x");
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(n.peek("k"), null);
});
