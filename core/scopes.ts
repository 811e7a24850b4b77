// Scope checks: every enabled connector's credentials must hold exactly the scopes its
// features need. Missing ones block the connector (operations stay queued) with a reason
// an admin can act on; extra ones are reported as over-privileged.
import { buildScopeReport, type Connector, type ExecutionContext, type ScopeReport } from './connector.js';
import { CredentialError, errorMessage } from './errors.js';

export type ScopeCheck =
  | { readonly ok: true; readonly report: ScopeReport }
  | { readonly ok: false; readonly report: ScopeReport | null; readonly reason: string; readonly definitive: boolean };

/** Why a connector with this report cannot run, in words an admin can act on; undefined when it can. */
export function missingScopesReason(connector: Connector, report: ScopeReport): string | undefined {
  if (report.missing.length === 0) return undefined;
  const features = connector.features.filter((f) => (connector.metadata.featureScopes[f] ?? []).some((s) => report.missing.includes(s)));
  return `${connector.metadata.displayName} credentials lack scope${report.missing.length > 1 ? 's' : ''} ${report.missing.join(', ')} (needed by ${features.join(', ')}); ${connector.metadata.grantScopesHint}, then reload`;
}

/**
 * Asks the vendor which scopes the credentials hold. `definitive: false` means the check
 * itself could not run (network, vendor outage): keep the connector's current state.
 */
export async function checkConnectorScopes(connector: Connector, context: ExecutionContext): Promise<ScopeCheck> {
  try {
    const report = buildScopeReport(connector, await connector.grantedScopes(context));
    const reason = missingScopesReason(connector, report);
    return reason === undefined ? { ok: true, report } : { ok: false, report, reason, definitive: true };
  } catch (error) {
    if (error instanceof CredentialError) return { ok: false, report: null, reason: error.message, definitive: true };
    return { ok: false, report: null, reason: `scope check failed: ${errorMessage(error)}`, definitive: false };
  }
}
