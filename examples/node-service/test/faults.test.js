// @ts-check
import { test } from "node:test";
import assert from "node:assert/strict";

import { Faults } from "../src/faults.js";

test("fails exactly the given share of requests", () => {
  const faults = new Faults(0.05);
  let failed = 0;
  for (let i = 0; i < 1000; i++) {
    if (faults.next()) failed++;
  }
  assert.equal(failed, 50);
});

test("a zero rate never fails", () => {
  const faults = new Faults(0);
  for (let i = 0; i < 100; i++) assert.equal(faults.next(), false);
});
