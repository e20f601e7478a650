/** The CommonJS build loads with require() and exports what the ESM build does. */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";
import * as esm from "../src/index.js";

test("require() gets the CommonJS build with the same exports", () => {
  const require = createRequire(import.meta.url);
  const cjs = require("../../cjs/index.js"); // dist/test/test -> dist/cjs
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
  assert.equal(cjs.PROTOCOL_VERSION, 2);
  assert.equal(cjs.protocol.encodeKey("a1b2", "user:42").toString(), "2 a1b2 k user:42");
});
