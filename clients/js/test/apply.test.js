// applyUpdates against every conformance vector of the Python reference
// client (vectors.json, written by make_vectors.py).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { applyUpdates } from "../gsync.js";

const { vectors } = JSON.parse(
  readFileSync(new URL("./vectors.json", import.meta.url), "utf8"));

test("the vectors file is not trivial", () => {
  assert.ok(vectors.length >= 300, `only ${vectors.length} vectors`);
  assert.ok(vectors.filter((v) => v.raises).length >= 1);
  assert.ok(vectors.filter((v) => v.name.startsWith("random")).length >= 250);
});

vectors.forEach((vector, index) => {
  test(`vector ${index}: ${vector.name}`, () => {
    const before = structuredClone(vector.state);
    const updatesBefore = structuredClone(vector.updates);
    if (vector.raises) {
      assert.throws(() => applyUpdates(vector.state, vector.updates), TypeError);
    } else {
      const got = applyUpdates(vector.state, vector.updates);
      assert.deepStrictEqual(got, vector.expected);
      // Its JSON (what a store or a server would see) is the same too.
      assert.deepStrictEqual(JSON.parse(JSON.stringify(got)), vector.expected);
    }
    assert.deepStrictEqual(vector.state, before, "the state was changed");
    assert.deepStrictEqual(vector.updates, updatesBefore, "the updates were changed");
  });
});

test("an id named __proto__ never touches a prototype", () => {
  const got = applyUpdates(
    { generation: 1, contents: {} },
    { generation: 2, adds: [{ set: "__proto__", adds: [{ id: "polluted", v: 1 }] }] });
  assert.equal(Object.getPrototypeOf(got.contents), Object.prototype);
  assert.deepStrictEqual(Object.keys(got.contents), ["__proto__"]);
  assert.equal({}.polluted, undefined);
});
