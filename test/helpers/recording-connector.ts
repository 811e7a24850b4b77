// A connector for engine tests: records the changes it is asked to plan and queues one operation per change.
import type { Connector } from '../../core/connector.js';
import type { ModelChange } from '../../core/model/types.js';

export function recordingConnector(seen: ModelChange[]): Connector {
  return {
    metadata: { id: 'rec', displayName: 'Recorder', featureScopes: {}, grantScopesHint: '', maxBatch: {}, defaultTuning: { concurrency: 1, rateLimit: null, maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 1 } },
    features: [],
    tuning: { concurrency: 1, rateLimit: null, maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 1 },
    plan(change) {
      seen.push(change);
      const key = change.type === 'message.recorded' ? change.message.id : `${change.type}:${seen.length}`;
      return [{ kind: change.type, key, orderingKey: 'k', payload: null }];
    },
    execute: async () => [],
    reconcile: async () => undefined,
    grantedScopes: async () => [],
  };
}
