// Driven by tests/test_js_client.py against a real pserve: one JS client
// writes, a second mirrors it a page at a time; prints what both hold.
import { APIError, SyncClient } from "../../clients/js/gsync.js";

const { GSYNC_URL: baseUrl, GSYNC_USER: userId, GSYNC_TOKEN: token } = process.env;
const statuses = [];
const countingFetch = async (url, init) => {
  const response = await fetch(url, init);
  statuses.push([init.method, response.status]);
  return response;
};

const writer = new SyncClient({ baseUrl, userId, token });
await writer.sync();
await writer.create("messages", { id: "m1", text: "hello" });
await writer.create("messages", { id: "__proto__", text: "an id JS objects inherit" });
const assigned = await writer.create("messages", { text: "the server picks the id" });
await writer.createSet("tasks", "work");
for (let i = 0; i < 5; i++) await writer.create("tasks/work", { id: `w ${i}`, done: false });
await writer.patch("tasks/work/w 1", { done: true, note: "merge-patched" });
await writer.replace("messages/m1", { text: "replaced" });
await writer.delete("tasks/work/w 3");
await writer.createSet("", "trash");
await writer.delete("trash");
let conflict;
try {
  await writer.patch("tasks", { x: 1 });
} catch (error) {
  if (!(error instanceof APIError)) throw error;
  conflict = { status: error.status, error: error.error, detail: error.detail };
}

const progress = [];
const reader = new SyncClient({
  baseUrl, userId, token, pageSize: 2, fetch: countingFetch,
  onProgress: (page) => progress.push(page),
});
await reader.sync();
const firstSync = statuses.length;
await reader.sync(); // up to date: the ETag gives a 304
console.log(JSON.stringify({
  writer: writer.state, reader: reader.state, assigned: assigned.id,
  progress, conflict, secondSync: statuses.slice(firstSync),
}));
