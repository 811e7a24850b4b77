// Pausing a connector from the admin API: kept in the store, so every instance and every
// restart honours it, until someone resumes it. `enabled: false` in the config still wins.
import type { Store } from '../store/store.js';

const KEY = 'admin-paused';

export async function setPaused(store: Store, connector: string, paused: { by: string; at: number } | null): Promise<void> {
  if (!paused) {
    await store.db.deleteFrom('connector_state').where('connector', '=', connector).where('key', '=', KEY).execute();
    return;
  }
  const value = JSON.stringify(paused);
  await store.db
    .insertInto('connector_state')
    .values({ connector, key: KEY, value, updated_at: paused.at })
    .onConflict((oc) => oc.columns(['connector', 'key']).doUpdateSet({ value, updated_at: paused.at }))
    .execute();
}

/** Connectors paused by an admin, with who paused them and when. */
export async function pausedConnectors(store: Store): Promise<Map<string, { by: string; at: number }>> {
  const rows = await store.db.selectFrom('connector_state').select(['connector', 'value']).where('key', '=', KEY).execute();
  return new Map(rows.map((r) => [r.connector, JSON.parse(r.value) as { by: string; at: number }]));
}
