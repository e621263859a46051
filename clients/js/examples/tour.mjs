// A tour of the client against a running server:
//   GSYNC_URL=http://localhost:6543 GSYNC_USER=alice GSYNC_TOKEN=... \
//     node clients/js/examples/tour.mjs
import { isDeepStrictEqual } from "node:util";

import { APIError, MemoryStore, SyncClient } from "../gsync.js";

const { GSYNC_URL: baseUrl, GSYNC_USER: userId, GSYNC_TOKEN: token } = process.env;
const show = (label, value) => console.log(label, JSON.stringify(value));

// A phone: writes, and every write brings its mirror up to date too.
const phone = new SyncClient({ baseUrl, userId, token });
show("sync ->", await phone.sync());
show("create ->", await phone.create("messages", { id: "m1", text: "hello" }));
await phone.createSet("tasks", "work");
await phone.create("tasks/work", { id: "w1", title: "write the docs" });
await phone.create("tasks/work", { id: "w2", title: "run the tests" });
show("patch ->", await phone.patch("tasks/work/w1", { done: true }));
await phone.delete("messages/m1");
show("phone holds", phone.state);

// A laptop: mirrors the tree two members a page, and says how far it got.
const laptop = new SyncClient({
  baseUrl, userId, token, store: new MemoryStore(), pageSize: 2,
  onProgress: ({ generation, more }) => show("page ->", { generation, more }),
});
show("laptop sync ->", await laptop.sync());
show("same as the phone:", isDeepStrictEqual(laptop.state, phone.state));
show("sync again (304) ->", await laptop.sync());

try {
  await laptop.replace("tasks", { id: "tasks" });
} catch (error) {
  if (!(error instanceof APIError)) throw error;
  show("APIError", { status: error.status, error: error.error, detail: error.detail });
}
