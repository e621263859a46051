// SyncClient with an injected fetch that plays the server's side of each
// exchange: requests are recorded, answers are given in order.
import assert from "node:assert/strict";
import { test } from "node:test";

import { APIError, MemoryStore, SyncClient } from "../gsync.js";

const BASE = "http://sync.test";

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status, headers: { "Content-Type": "application/json", ...headers },
  });
}

// A fetch answering with answers[i] (a Response, an Error to throw, or a
// function of the request) to the i-th request.
function fakeFetch(answers) {
  const requests = [];
  const fetch = async (url, init = {}) => {
    const parsed = new URL(url);
    const request = {
      method: init.method, path: parsed.pathname,
      query: Object.fromEntries(parsed.searchParams), headers: init.headers ?? {},
      body: init.body === undefined ? undefined : JSON.parse(init.body),
    };
    requests.push(request);
    let answer = answers.shift();
    if (answer === undefined) throw new Error(`unexpected request ${url}`);
    if (typeof answer === "function") answer = answer(request);
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { fetch, requests };
}

function client(fetch, options = {}) {
  return new SyncClient({ baseUrl: `${BASE}/`, userId: "alice", token: "T", fetch, ...options });
}

const FIRST = { generation: 3, adds: [{ set: "messages" }, { set: "tasks" }] };
const FIRST_STATE = { generation: 3, contents: { messages: {}, tasks: {} } };

test("sync sends the token and generation, stores the state and ETag, and a 304 keeps it", async () => {
  const { fetch, requests } = fakeFetch([
    json(200, FIRST, { ETag: '"3"' }),
    new Response(null, { status: 304, headers: { ETag: '"3"' } }),
  ]);
  const store = new MemoryStore();
  const alice = client(fetch, { store });
  assert.equal(await alice.sync(), 3);
  assert.deepStrictEqual(alice.state, FIRST_STATE);
  assert.deepStrictEqual(await store.get(), { state: FIRST_STATE, etag: '"3"' });
  assert.equal(await alice.sync(), 3);
  assert.deepStrictEqual(alice.state, FIRST_STATE);
  assert.deepStrictEqual(requests.map((r) => [r.method, r.path, r.query]), [
    ["GET", "/users/alice", { generation: "0" }],
    ["GET", "/users/alice", { generation: "3" }],
  ]);
  assert.equal(requests[0].headers.Authorization, "Bearer T");
  assert.equal(requests[0].headers["If-None-Match"], undefined);
  assert.equal(requests[1].headers["If-None-Match"], '"3"');
});

test("sync follows pages until no more, storing and reporting each", async () => {
  const pages = [
    { generation: 2, more: true, adds: [{ set: "messages", adds: [{ id: "m1" }, { id: "m2" }] }] },
    { generation: 5, more: true, adds: [{ set: "messages", removals: ["m1"], adds: [{ id: "m3" }] }] },
    { generation: 6, adds: [{ set: "tasks", contents: [{ id: "t1" }] }] },
  ];
  const stored = [];
  const store = new MemoryStore();
  const put = store.put.bind(store);
  store.put = async (record) => { stored.push(record); await put(record); };
  const progress = [];
  const { fetch, requests } = fakeFetch(pages.map((page) => json(200, page, page.more
    ? { ETag: `"${page.generation}"`, "X-Tree-Generation": "6" } : { ETag: '"6"' })));
  const alice = client(fetch, { store, pageSize: 2, onProgress: (p) => progress.push(p) });
  assert.equal(await alice.sync(), 6);
  assert.deepStrictEqual(requests.map((r) => r.query), [
    { generation: "0", limit: "2" }, { generation: "2", limit: "2" }, { generation: "5", limit: "2" },
  ]);
  // The tree's ETag does not name a partial mirror: never sent mid-way.
  assert.ok(requests.every((r) => r.headers["If-None-Match"] === undefined));
  assert.deepStrictEqual(progress, [
    { generation: 2, more: true, tree: 6 }, { generation: 5, more: true, tree: 6 },
    { generation: 6, more: false, tree: 6 },
  ]);
  assert.deepStrictEqual(stored.map((r) => [r.state.generation, r.etag]),
    [[2, null], [5, null], [6, '"6"']]);
  assert.deepStrictEqual(alice.state, {
    generation: 6, contents: { messages: { m2: { id: "m2" }, m3: { id: "m3" } }, tasks: { t1: { id: "t1" } } },
  });
});

test("without pageSize no limit is sent, and pages the server chose are followed", async () => {
  const { fetch, requests } = fakeFetch([
    json(200, { generation: 2, more: true, adds: [{ set: "messages" }] }),
    json(200, { generation: 3, adds: [{ set: "tasks" }] }),
  ]);
  const alice = client(fetch);
  assert.equal(await alice.sync(), 3);
  assert.deepStrictEqual(requests.map((r) => r.query), [{ generation: "0" }, { generation: "2" }]);
  assert.deepStrictEqual(alice.state, FIRST_STATE);
});

test("an interrupted sync resumes from the last stored page", async () => {
  const store = new MemoryStore();
  const first = fakeFetch([
    json(200, { generation: 2, more: true, adds: [{ set: "messages", adds: [{ id: "m1" }] }] }),
    new TypeError("fetch failed"),
  ]);
  await assert.rejects(client(first.fetch, { store, pageSize: 1 }).sync(), /fetch failed/);
  assert.deepStrictEqual(await store.get(), {
    state: { generation: 2, contents: { messages: { m1: { id: "m1" } } } }, etag: null,
  });
  // A new client (a reloaded page) on the same store carries on from there.
  const second = fakeFetch([
    json(200, { generation: 4, adds: [{ set: "messages", adds: [{ id: "m2" }] }] }, { ETag: '"4"' }),
  ]);
  const resumed = client(second.fetch, { store, pageSize: 1 });
  assert.equal(await resumed.sync(), 4);
  assert.deepStrictEqual(second.requests[0].query, { generation: "2", limit: "1" });
  assert.deepStrictEqual(resumed.state.contents, { messages: { m1: { id: "m1" }, m2: { id: "m2" } } });
});

test("a page that does not advance is an error, not an endless loop", async () => {
  const { fetch } = fakeFetch([
    json(200, { generation: 2, more: true }),
    json(200, { generation: 2, more: true }),
  ]);
  await assert.rejects(client(fetch, { pageSize: 5 }).sync(), /does not advance/);
});

test("error answers raise APIError and change nothing", async () => {
  const { fetch } = fakeFetch([
    json(400, { error: "bad_request", detail: "limit must be at most 10000" }),
    new Response("<html>bad gateway</html>", { status: 502 }),
    json(403, { error: "forbidden", detail: "not your tree" }),
  ]);
  const store = new MemoryStore();
  const alice = client(fetch, { store, pageSize: 20000 });
  const error = await alice.sync().catch((e) => e);
  assert.ok(error instanceof APIError);
  assert.deepStrictEqual([error.status, error.error, error.detail],
    [400, "bad_request", "limit must be at most 10000"]);
  const gateway = await alice.sync().catch((e) => e);
  assert.deepStrictEqual([gateway.status, gateway.error, gateway.detail],
    [502, "http_error", "<html>bad gateway</html>"]);
  const forbidden = await alice.create("messages", { id: "m1" }).catch((e) => e);
  assert.equal(forbidden.status, 403);
  assert.equal(alice.generation, 0);
  assert.equal(await store.get(), undefined);
});

test("writes send the generation and JSON, and apply the answer's updates", async () => {
  const store = new MemoryStore();
  await store.put({ state: FIRST_STATE, etag: '"3"' });
  const m1 = { id: "m1", text: "hi" };
  const { fetch, requests } = fakeFetch([
    json(201, { document: m1, updates: { generation: 4, adds: [{ set: "messages", adds: [m1] }] } }),
    json(201, { set: "work", updates: { generation: 5, adds: [{ set: "tasks", adds: [{ set: "work", contents: [] }] }] } }),
    (request) => json(200, { document: { id: "w 1", ...request.body },
      updates: { generation: 6, adds: [{ set: "tasks", adds: [{ set: "work", adds: [{ id: "w 1", done: false }] }] }] } }),
    json(200, { document: { id: "w 1", done: true },
      updates: { generation: 7, adds: [{ set: "tasks", adds: [{ set: "work", adds: [{ id: "w 1", done: true }] }] }] } }),
    json(200, { deleted: "m1", updates: { generation: 8, adds: [{ set: "messages", removals: ["m1"] }] } }),
    json(200, { document: { id: "x" } }), // no updates: nothing to apply
  ]);
  const alice = client(fetch, { store });
  assert.deepStrictEqual(await alice.create("messages", { id: "m1", text: "hi" }), m1);
  await alice.createSet("tasks", "work");
  assert.deepStrictEqual(await alice.replace("tasks/work/w 1", { done: false }), { id: "w 1", done: false });
  assert.deepStrictEqual(await alice.patch("tasks/work/w 1", { done: true }), { id: "w 1", done: true });
  await alice.delete("messages/m1");
  await alice.create("messages", { id: "x" });
  assert.deepStrictEqual(requests.map((r) => [r.method, r.path, r.query.generation, r.body]), [
    ["POST", "/users/alice/messages", "3", { id: "m1", text: "hi" }],
    ["POST", "/users/alice/tasks", "4", { set: "work" }],
    ["PUT", "/users/alice/tasks/work/w%201", "5", { done: false }],
    ["PATCH", "/users/alice/tasks/work/w%201", "6", { done: true }],
    ["DELETE", "/users/alice/messages/m1", "7", undefined],
    ["POST", "/users/alice/messages", "8", { id: "x" }],
  ]);
  // The server reads JSON bodies only, PATCH's merge patch included.
  assert.ok(requests.filter((r) => r.body).every((r) => r.headers["Content-Type"] === "application/json"));
  assert.equal(requests[4].headers["Content-Type"], undefined);
  const want = { generation: 8, contents: { messages: {}, tasks: { work: { "w 1": { id: "w 1", done: true } } } } };
  assert.deepStrictEqual(alice.state, want);
  // Stored, and without the ETag of a generation it no longer holds.
  assert.deepStrictEqual(await store.get(), { state: want, etag: null });
});

test("calls run one at a time: each starts from the state the previous left", async () => {
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  const { fetch, requests } = fakeFetch([
    async () => { await held; return json(200, FIRST, { ETag: '"3"' }); },
    json(201, { document: { id: "m1" }, updates: { generation: 4, adds: [{ set: "messages", adds: [{ id: "m1" }] }] } }),
  ]);
  const alice = client(fetch);
  const syncing = alice.sync();
  const creating = alice.create("messages", { id: "m1" });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(requests.length, 1, "the write waited for the sync");
  release();
  await Promise.all([syncing, creating]);
  assert.equal(requests[1].query.generation, "3");
  assert.deepStrictEqual(alice.state.contents.messages, { m1: { id: "m1" } });
});

test("a failed call does not stop the ones queued after it", async () => {
  const { fetch } = fakeFetch([new TypeError("offline"), json(200, FIRST)]);
  const alice = client(fetch);
  const failed = alice.sync();
  const next = alice.sync();
  await assert.rejects(failed, /offline/);
  assert.equal(await next, 3);
});

test("fetch is called without a this, as a browser's window.fetch requires", async () => {
  const thisValues = [];
  const alice = client(function (url, init) {
    thisValues.push(this);
    return json(200, FIRST);
  });
  await alice.sync();
  assert.deepStrictEqual(thisValues, [undefined]);
});

test("a live sync asks the server to wait, without If-None-Match", async () => {
  const { fetch, requests } = fakeFetch([
    json(200, { generation: 3, adds: [{ set: "m" }] }, { ETag: '"3"' }),
    json(200, { generation: 4, more: true, adds: [{ set: "m", adds: [{ id: "a" }] }] }),
    json(200, { generation: 5, adds: [{ set: "m", adds: [{ id: "b" }] }] }, { ETag: '"5"' }),
  ]);
  const client = new SyncClient({ baseUrl: BASE, userId: "alice", token: "t", fetch });
  await client.sync();
  assert.equal(await client.sync({ wait: 20 }), 5);
  assert.equal(requests[1].query.wait, "20");
  assert.equal(requests[1].headers["If-None-Match"], undefined);
  assert.equal(requests[2].query.wait, undefined); // later pages: no wait
  assert.deepEqual(Object.keys(client.state.contents.m), ["a", "b"]);
});

test("live() polls until aborted and reports each change", async () => {
  const controller = new AbortController();
  const seen = [];
  const { fetch, requests } = fakeFetch([
    json(200, { generation: 1, adds: [] }),
    json(200, { generation: 1 }),
    json(200, { generation: 2, adds: [{ id: "x" }] }),
    () => { controller.abort(); return json(200, { generation: 2 }); },
  ]);
  const client = new SyncClient({ baseUrl: BASE, userId: "alice", token: "t", fetch });
  await client.live({ wait: 5, signal: controller.signal,
                      onChange: (state) => seen.push(state.generation) });
  assert.deepEqual(seen, [1, 2]);
  assert.equal(requests.length, 4);
  assert.ok(requests.every((r) => r.query.wait === "5"));
});
