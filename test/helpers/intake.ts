// What a SQLite store holds of the webhooks its service acknowledged, read from outside the
// running service: its deliveries, and those still in the intake file beside it that processing
// has not yet imported (core/store/intake.ts), as pending ones after them.
import { existsSync } from 'node:fs';
import SQLite from 'better-sqlite3';
import { intakeFileOf } from '../../core/store/sqlite-files.js';

export interface StoredDelivery {
  readonly state: string;
  readonly body: string;
  readonly problems: string | null;
}

export function storedDeliveries(storePath: string): StoredDelivery[] {
  const db = new SQLite(storePath, { readonly: true });
  let rows: StoredDelivery[];
  let cursor: { generation: string; upTo: number } | undefined;
  try {
    // One snapshot: a delivery imported is then either among these rows or above this cursor.
    db.exec('begin');
    rows = db.prepare('select state, body, problems from webhook_deliveries order by id').all() as StoredDelivery[];
    const value = db.prepare("select value from connector_state where connector = '_service' and key = 'intake-imported'").get() as { value: string } | undefined;
    cursor = value ? (JSON.parse(value.value) as { generation: string; upTo: number }) : undefined;
    db.exec('commit');
  } finally {
    db.close();
  }
  const intakePath = intakeFileOf(storePath);
  if (!existsSync(intakePath)) return rows;
  const intake = new SQLite(intakePath, { readonly: true });
  try {
    const { generation } = intake.prepare('select generation from intake_generation').get() as { generation: string };
    const after = cursor?.generation === generation ? cursor.upTo : 0;
    const waiting = intake.prepare('select body from intake where id > ? order by id').all(after) as Array<{ body: string }>;
    return [...rows, ...waiting.map((w) => ({ state: 'pending', body: w.body, problems: null }))];
  } finally {
    intake.close();
  }
}
