// The engine over a fresh store for each test of a suite, with a connector that records what it is
// asked to plan: the setup the engine, identity and consent suites share.
import { beforeEach } from 'vitest';
import { parseWhatsAppDelivery } from '../../connectors/whatsapp/webhook.js';
import { Engine, type EngineOptions } from '../../core/engine.js';
import { DeliveryInbox } from '../../core/ingest.js';
import { silentLogger } from '../../core/logger.js';
import type { ModelChange } from '../../core/model/types.js';
import type { Store } from '../../core/store/store.js';
import { recordingConnector } from './recording-connector.js';
import { freshStorePerTest } from './store-per-test.js';
import type { StoreKind } from './stores.js';

export interface EngineUnderTest {
  readonly store: Store;
  readonly url: string;
  readonly inbox: DeliveryInbox;
  readonly engine: Engine;
  /** What the engine gave the connector to plan, in order; emptied before each test. */
  readonly changes: ModelChange[];
  /** Read by the engine on every pass: a test may replace it. */
  options: EngineOptions;
}

/** Call inside a `describe`: `initialOptions` gives each test's starting options. */
export function enginePerTest(kind: StoreKind, initialOptions: () => EngineOptions): EngineUnderTest {
  const stores = freshStorePerTest(kind);
  const current = { changes: [] as ModelChange[] } as { -readonly [K in keyof EngineUnderTest]: EngineUnderTest[K] };
  beforeEach(() => {
    current.store = stores.store;
    current.url = stores.url;
    current.inbox = new DeliveryInbox(stores.store);
    current.changes.length = 0;
    current.options = initialOptions();
    const connector = recordingConnector(current.changes);
    current.engine = new Engine({ store: stores.store, parsers: { whatsapp: parseWhatsAppDelivery }, connectors: () => [connector], log: silentLogger(), options: () => current.options });
  });
  return current;
}
