// Numbered migrations, written once for both dialects: one file each under migrations/, named
// by number. Add a new file and its line below; never edit a shipped one. Kysely runs them in name
// order (with allowUnorderedMigrations, a number merged late still runs on stores past it).
import type { Migration, MigrationProvider } from 'kysely';
import { migration0001 } from './migrations/0001_initial.js';
import { migration0002 } from './migrations/0002_rate_event_ids.js';
import { migration0003 } from './migrations/0003_message_origin.js';
import { migration0004 } from './migrations/0004_alerts.js';
import { migration0005 } from './migrations/0005_admin.js';
import { migration0006 } from './migrations/0006_admin_sessions.js';
import { migration0007 } from './migrations/0007_totp_last_step.js';
import { migration0008 } from './migrations/0008_security_hardening.js';
import { migration0009 } from './migrations/0009_outbox_key_queue_media_blobs.js';
import { migration0010 } from './migrations/0010_audit_key_webhook_replays.js';
import { migration0011 } from './migrations/0011_alert_lifecycle.js';
import { migration0012 } from './migrations/0012_history_import.js';
import { migration0013 } from './migrations/0013_contact_identities.js';
import { migration0014 } from './migrations/0014_outbound_api.js';
import { migration0015 } from './migrations/0015_console.js';
import { migration0017 } from './migrations/0017_outbox_ready_keys_index.js';
import { migration0018 } from './migrations/0018_delivery_slices.js';
import { migration0019 } from './migrations/0019_consents.js';
import { migration0020 } from './migrations/0020_outbox_open_flag.js';
import { migrationKit } from './migrations/kit.js';
import type { StoreDialect } from './types.js';

function migrationsFor(dialect: StoreDialect): Record<string, Migration> {
  const kit = migrationKit(dialect);
  return {
    '0001_initial': migration0001(kit),
    '0002_rate_event_ids': migration0002(kit),
    '0003_message_origin': migration0003(kit),
    '0004_alerts': migration0004(kit),
    '0005_admin': migration0005(kit),
    '0006_admin_sessions': migration0006(kit),
    '0007_totp_last_step': migration0007(kit),
    '0008_security_hardening': migration0008(kit),
    '0009_outbox_key_queue_media_blobs': migration0009(kit),
    '0010_audit_key_webhook_replays': migration0010(kit),
    '0011_alert_lifecycle': migration0011(kit),
    '0012_history_import': migration0012(kit),
    '0013_contact_identities': migration0013(kit),
    '0014_outbound_api': migration0014(kit),
    '0015_console': migration0015(kit),
    '0017_outbox_ready_keys_index': migration0017(kit),
    '0018_delivery_slices': migration0018(kit),
    '0019_consents': migration0019(kit),
    '0020_outbox_open_flag': migration0020(kit),
  };
}

export class StaticMigrationProvider implements MigrationProvider {
  readonly #dialect: StoreDialect;
  constructor(dialect: StoreDialect) {
    this.#dialect = dialect;
  }
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrationsFor(this.#dialect);
  }
}
