// gsync: the JavaScript client of myproject's sync API.
//
// One ES module, no dependencies, for browsers and Node 20 (global fetch).
// applyUpdates() is myproject.client.apply_json_updates, rule for rule;
// SyncClient keeps a mirror of one user's tree in a pluggable store.
// See README.md.

const hasOwn = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

// Ids are arbitrary strings, "__proto__" included: members are defined as
// own properties (plain assignment would set the prototype instead).
function put(object, key, value) {
  Object.defineProperty(object, key, {
    value, writable: true, enumerable: true, configurable: true,
  });
}

function copy(members) {
  const result = {};
  for (const key of Object.keys(members)) put(result, key, members[key]);
  return result;
}

// What Python calls a dict: a JSON object.
const isObject = (value) =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Return the state after applying updates (JSON form) to state, which is
 * left unchanged.  A state is {generation, contents}; a member set is an
 * object of its own members.  Members the updates do not touch are shared
 * between the old and the new state, as in the Python reference client.
 */
export function applyUpdates(state, updates) {
  if (!isObject(updates) || !hasOwn(updates, "generation")) {
    throw new TypeError("updates carry no generation");
  }
  return {
    generation: updates.generation,
    contents: applyEntry(state.contents, updates),
  };
}

function applyEntry(members, entry) {
  let old, result, entries;
  if (hasOwn(entry, "contents")) {
    // 1. contents: the complete membership replaces what is held.
    old = {};
    result = {};
    entries = entry.contents;
  } else {
    // 2. Otherwise drop the removals, then upsert the adds.
    old = members;
    result = copy(members);
    for (const id of hasOwn(entry, "removals") ? entry.removals : []) {
      delete result[id];
    }
    entries = hasOwn(entry, "adds") ? entry.adds : [];
  }
  for (const item of entries) {
    if (!isObject(item)) throw new TypeError("an entry is not a JSON object");
    if (hasOwn(item, "id")) {
      put(result, item.id, item); // a document always carries "id"
      continue;
    }
    if (!hasOwn(item, "set") || item.set === null) {
      throw new TypeError('an entry carries neither "id" nor "set"');
    }
    // 3. A member set's entry applies to the set held under its id (as held
    // before this entry's removals), starting from empty if none.
    const held = hasOwn(old, item.set) ? old[item.set] : undefined;
    put(result, item.set, applyEntry(isObject(held) ? held : {}, item));
  }
  return result;
}

export const EMPTY = Object.freeze({ generation: 0, contents: Object.freeze({}) });

/** An error answer of the API: status, error name and detail. */
export class APIError extends Error {
  constructor(status, error, detail) {
    super(`${status} ${error}: ${detail}`);
    this.name = "APIError";
    this.status = status;
    this.error = error;
    this.detail = detail;
  }
}

/** A store that keeps the mirror in memory (lost with the page/process). */
export class MemoryStore {
  constructor() {
    this.record = undefined;
  }

  async get() {
    return this.record;
  }

  async put(record) {
    this.record = record;
  }
}

/**
 * A store that keeps the mirror in the browser's IndexedDB, so a reloaded
 * page resumes from the generation it held.  One record ({state, etag}) per
 * key; use one key per user and server.
 */
export class IndexedDBStore {
  constructor({ database = "gsync", key = "mirror", indexedDB = globalThis.indexedDB } = {}) {
    if (!indexedDB) throw new Error("IndexedDB is not available here");
    this.key = key;
    this.indexedDB = indexedDB;
    this.database = database;
    this.opening = null;
  }

  open() {
    this.opening ??= new Promise((resolve, reject) => {
      const request = this.indexedDB.open(this.database, 1);
      request.onupgradeneeded = () => request.result.createObjectStore("mirrors");
      request.onsuccess = () => {
        const db = request.result;
        // Let another tab upgrade or delete the database instead of blocking it.
        db.onversionchange = () => {
          db.close();
          this.opening = null;
        };
        resolve(db);
      };
      request.onerror = () => {
        this.opening = null; // the next call tries again
        reject(request.error);
      };
    });
    return this.opening;
  }

  async transact(mode, work) {
    const db = await this.open();
    return new Promise((resolve, reject) => {
      const transaction = db.transaction("mirrors", mode);
      const request = work(transaction.objectStore("mirrors"));
      // Resolve on commit, not on the request: a put is durable only then.
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  }

  get() {
    return this.transact("readonly", (mirrors) => mirrors.get(this.key));
  }

  put(record) {
    return this.transact("readwrite", (mirrors) => mirrors.put(record, this.key));
  }

  async close() {
    if (this.opening) (await this.opening).close();
    this.opening = null;
  }
}

/**
 * Keeps a local mirror of one user's tree in sync through the HTTP API.
 *
 * Every call sends the mirror's generation and applies the answer's
 * updates, so one round trip both writes and syncs.  Paths are relative to
 * the user's tree ("messages/m1").  Calls on one client run one at a time,
 * in call order: each starts from the state the previous one left.
 */
export class SyncClient {
  constructor({
    baseUrl, userId, token, store = new MemoryStore(), pageSize = null,
    fetch = globalThis.fetch, onProgress = null,
  }) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.userId = userId;
    this.token = token;
    this.store = store;
    this.pageSize = pageSize;
    this.fetch = fetch;
    this.onProgress = onProgress;
    this.state = EMPTY;
    this.etag = null;
    this.loaded = false;
    this.queue = Promise.resolve();
  }

  get generation() {
    return this.state.generation;
  }

  url(path = "") {
    const tree = `${this.baseUrl}/users/${encodeURIComponent(this.userId)}`;
    const segments = path.split("/").filter(Boolean).map(encodeURIComponent);
    return segments.length ? `${tree}/${segments.join("/")}` : tree;
  }

  // Run work after every call made before it (see the class comment).
  serial(work) {
    const run = this.queue.then(async () => {
      if (!this.loaded) {
        const record = await this.store.get();
        if (record) {
          this.state = record.state;
          this.etag = record.etag ?? null;
        }
        this.loaded = true;
      }
      return work();
    });
    this.queue = run.catch(() => {});
    return run;
  }

  async save(state, etag) {
    // Stored before it is adopted: what the client holds is always stored.
    await this.store.put({ state, etag });
    this.state = state;
    this.etag = etag;
  }

  async request(method, path, { body, query = {}, headers = {} } = {}) {
    const params = new URLSearchParams({ generation: String(this.generation), ...query });
    const init = {
      method,
      headers: { Authorization: `Bearer ${this.token}`, Accept: "application/json", ...headers },
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json"; // PATCH too: the server reads JSON only
      init.body = JSON.stringify(body);
    }
    // Called unbound: a browser's fetch refuses any other `this` than window.
    const fetch = this.fetch;
    const response = await fetch(`${this.url(path)}?${params}`, init);
    if (response.status === 304) return { status: 304, answer: null, etag: null };
    const text = await response.text();
    if (!response.ok) {
      let answer;
      try {
        answer = JSON.parse(text);
      } catch {
        answer = { error: "http_error", detail: text.slice(0, 200) };
      }
      throw new APIError(response.status, answer.error, answer.detail);
    }
    return {
      status: response.status, answer: JSON.parse(text), etag: response.headers.get("ETag"),
      tree: response.headers.get("X-Tree-Generation"),
    };
  }

  /**
   * Bring the mirror up to date, a page at a time (pageSize members at most
   * when set); every page is stored before the next is asked for, so an
   * interrupted sync resumes where it stopped.  Returns the generation.
   * With `wait` (seconds, 1 to 30) the server holds the first request until
   * the tree changes or the wait runs out (a live poll: never a 304).
   */
  sync({ wait } = {}) {
    return this.serial(async () => {
      const query = this.pageSize ? { limit: String(this.pageSize) } : {};
      if (wait) query.wait = String(wait);
      for (;;) {
        const headers = this.etag && !query.wait ? { "If-None-Match": this.etag } : {};
        const asked = this.generation;
        const { status, answer, etag, tree } = await this.request("GET", "", { query, headers });
        if (status === 304) return this.generation;
        const more = answer.more === true;
        if (more && answer.generation === asked) {
          throw new Error(`the server's page at generation ${asked} does not advance`);
        }
        // A page's ETag is the tree's generation, not the page's: it names
        // the mirror's state only once the last page is applied.
        await this.save(applyUpdates(this.state, answer), more ? null : etag);
        // tree: where the pages lead (a page that says more names it).
        this.onProgress?.({ generation: this.generation, more, tree: tree ? Number(tree) : answer.generation });
        if (!more) return this.generation;
        delete query.wait; // the next pages are there already
      }
    });
  }

  /**
   * Keep the mirror live: live polls one after another until `signal`
   * aborts; `onChange(state)` after each that moved the generation.  A
   * failed poll is passed to `onError` and retried after `retryDelay` ms.
   */
  async live({ wait = 25, signal, onChange, onError, retryDelay = 1000 } = {}) {
    while (!signal?.aborted) {
      const before = this.generation;
      try {
        await this.sync({ wait });
        if (this.generation !== before) onChange?.(this.state);
      } catch (error) {
        if (signal?.aborted) break;
        onError?.(error);
        await new Promise((resolve) => setTimeout(resolve, retryDelay));
      }
    }
  }

  write(method, path, body) {
    return this.serial(async () => {
      const { answer } = await this.request(method, path, { body });
      if (answer.updates) {
        // No ETag names the new state: the next sync asks without one.
        await this.save(applyUpdates(this.state, answer.updates), null);
      }
      return answer;
    });
  }

  /** Create a document in the set at setPath ("" for the top); return it. */
  async create(setPath, document) {
    return (await this.write("POST", setPath, document)).document;
  }

  /** Create an empty set setId inside the set at setPath ("" for the top). */
  async createSet(setPath, setId) {
    await this.write("POST", setPath, { set: setId });
  }

  /** Replace the document at path; return it. */
  async replace(path, document) {
    return (await this.write("PUT", path, document)).document;
  }

  /** JSON merge patch (RFC 7396) the document at path; return it. */
  async patch(path, patch) {
    return (await this.write("PATCH", path, patch)).document;
  }

  /** Delete the document or set at path. */
  async delete(path) {
    await this.write("DELETE", path);
  }

  /** Share the document at path with other users; return the answer. */
  share(path, userIds) {
    return this.write("POST", `${path}/@@share`, { users: userIds });
  }
}
