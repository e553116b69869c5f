/// <reference lib="dom" />
/**
 * State blobs of sessions running in this browser, kept in IndexedDB after each generation there,
 * so a reloaded page continues them where they were (localStorage holds too little for blobs).
 *
 * @module
 */

/** A session's state as this browser last saved it, and the transcript turns it covers. */
export interface KeptState {
  readonly blob: ArrayBuffer;
  readonly turns: number;
}

const DB = "playground", STORE = "states";

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function run<T>(mode: IDBTransactionMode, act: (store: IDBObjectStore) => IDBRequest): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const request = act(db.transaction(STORE, mode).objectStore(STORE));
      request.onsuccess = () => resolve(request.result as T);
      request.onerror = () => reject(request.error);
    });
  } finally {
    db.close();
  }
}

/** Keeps session `id`'s state. */
export const keepState = (id: string, kept: KeptState) => run<void>("readwrite", (s) => s.put(kept, id));
/** Session `id`'s kept state, if there is one. */
export const keptState = (id: string) => run<KeptState | undefined>("readonly", (s) => s.get(id));
/** Forgets session `id`'s kept state. */
export const forgetState = (id: string) => run<void>("readwrite", (s) => s.delete(id));
