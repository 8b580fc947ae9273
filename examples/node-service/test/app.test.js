// @ts-check
import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { createApp } from "../src/app.js";
import { readConfig } from "../src/config.js";

const config = { ...readConfig({ LISTEN: "127.0.0.1:0" }, "1.0.0"), failRate: 0 };

describe("health", () => {
  test("answers ok with the version", async () => {
    const answer = await createApp(config, undefined).handle("GET", "/health");
    assert.deepEqual(answer, { status: 200, body: { status: "ok", version: "1.0.0" } });
  });

  test("deep health without a database says so", async () => {
    const answer = await createApp(config, undefined).handle("GET", "/health/deep");
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { status: "ok", version: "1.0.0", database: "not configured" });
  });

  test("deep health reports a broken database as 503", async () => {
    const db = { query: async () => Promise.reject(new Error("connection refused")) };
    const answer = await createApp(config, db).handle("GET", "/health/deep");
    assert.equal(answer.status, 503);
  });
});

describe("api", () => {
  test("items come from the database", async () => {
    const db = { query: async () => ({ rows: [{ id: 1, name: "first" }] }) };
    const answer = await createApp(config, db).handle("GET", "/api/items");
    assert.deepEqual(answer.body, { items: [{ id: 1, name: "first" }] });
  });

  test("unknown paths are 404", async () => {
    const answer = await createApp(config, undefined).handle("GET", "/nope");
    assert.equal(answer.status, 404);
  });
});

describe("config", () => {
  test("rejects a listen address without a port", () => {
    assert.throws(() => readConfig({ LISTEN: "localhost" }, "1.0.0"), /LISTEN must be host:port/);
  });
});
