// The logger itself keeps personal data and secrets out of the lines it writes: every field that
// can carry a phone number is masked, every field that can carry a message text or a secret is
// redacted, at the depths the service logs them. Read from the JSON lines pino actually writes.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';

/** A logger writing into memory, and the lines it wrote, parsed. */
function capturingLogger(level = 'trace') {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const log = createLogger({ level, destination });
  return { log, text: () => chunks.join(''), lines: () => chunks.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const PHONE = '+16505551234';
/** What must never appear: the national number, in any of the forms a log line could hold it. */
const PHONE_DIGITS = '6505551234';

describe('logger: phone numbers', () => {
  // Each key the code uses for a customer's number (contacts, statuses, sends, adoption logs).
  const PHONE_FIELDS = ['phone', 'waId', 'from', 'to', 'recipient'];

  it.each(PHONE_FIELDS)('masks %s, written with or without "+", at every level', (field) => {
    const { log, text, lines } = capturingLogger();
    log.info({ [field]: PHONE }, 'with plus');
    log.warn({ [field]: '16505551234' }, 'digits only');
    log.error({ [field]: '+1 (650) 555-1234' }, 'as a person typed it');
    log.debug({ [field]: PHONE }, 'at debug');
    expect(text()).not.toContain(PHONE_DIGITS);
    expect(text()).not.toContain('555-1234');
    // Masked, not dropped: enough is left to tell two customers apart in an incident.
    expect(lines().map((l) => l[field])).toEqual(['+16*******34', '+16*******34', '+16*******34', '+16*******34']);
  });

  // Customers who hide their number are known by a business-scoped user id and a username.
  it.each(['bsuid', 'parentBsuid', 'userId', 'customer'])('masks %s carrying a BSUID', (field) => {
    const { log, text, lines } = capturingLogger();
    const bsuid = 'US.13491208655302741918';
    log.info({ [field]: bsuid }, 'identified');
    expect(text()).not.toContain('13491208655302741918');
    expect(typeof lines()[0]![field]).toBe('string');
  });

  it('masks a username', () => {
    const { log, text, lines } = capturingLogger();
    log.info({ username: 'priya.raman.77' }, 'identified');
    expect(text()).not.toContain('priya.raman.77');
    expect(typeof lines()[0]!['username']).toBe('string');
  });

  it('masks the phone fields on child loggers too (connectors log through children)', () => {
    const { log, text, lines } = capturingLogger();
    log.child({ connector: 'zendesk' }).info({ phone: PHONE, zendeskUserId: 42 }, 'adopted an existing Zendesk user with the same phone number');
    expect(text()).not.toContain(PHONE_DIGITS);
    expect(lines()[0]).toMatchObject({ connector: 'zendesk', zendeskUserId: 42, phone: '+16*******34' });
  });

  it('leaves fields that only look like numbers alone (ids and counts are not phones)', () => {
    const { log, lines } = capturingLogger();
    log.info({ deliveryId: 16505551234, operationId: '16505551234', bytes: 512 }, 'stored');
    expect(lines()[0]).toMatchObject({ deliveryId: 16505551234, operationId: '16505551234', bytes: 512 });
  });
});

describe('logger: message texts and secrets', () => {
  // Message texts travel as body / text / caption; the rest are the credentials in the config.
  const REDACTED_FIELDS = ['body', 'text', 'caption', 'accessToken', 'refreshToken', 'appSecret', 'verifyToken', 'apiToken', 'clientSecret', 'privateKey', 'password', 'webhookSecret', 'authorization', 'token'];
  const SECRET = 'Does-it-come-in-another-color-7f3a';

  it.each(REDACTED_FIELDS)('redacts %s at the top, one and two levels down', (field) => {
    const { log, text, lines } = capturingLogger();
    log.info({ [field]: SECRET }, 'top');
    log.info({ message: { [field]: SECRET } }, 'one down');
    log.info({ request: { headers: { [field]: SECRET } } }, 'two down');
    expect(text()).not.toContain(SECRET);
    const [top, one, two] = lines() as [Record<string, unknown>, { message: Record<string, unknown> }, { request: { headers: Record<string, unknown> } }];
    expect(top[field]).toBe('[redacted]');
    expect(one.message[field]).toBe('[redacted]');
    expect(two.request.headers[field]).toBe('[redacted]');
  });

  it('redacts a secret that is not a string (an object or a number) as a whole', () => {
    const { log, text } = capturingLogger();
    log.info({ body: { text: { body: SECRET } }, token: 12345678901 }, 'structured');
    expect(text()).not.toContain(SECRET);
    expect(text()).not.toContain('12345678901');
  });

  it('keeps the message and the fields that are neither (what an operator needs to act on)', () => {
    const { log, lines } = capturingLogger();
    log.warn({ connector: 'hubspot', attempts: 3, kind: 'message.log' }, 'vendor answered 429; retrying');
    expect(lines()[0]).toMatchObject({ msg: 'vendor answered 429; retrying', connector: 'hubspot', attempts: 3, kind: 'message.log', service: 'wa-crm-sync', level: 40 });
  });

  it('keeps an absent phone absent (null stays null, nothing crashes)', () => {
    const { log, lines } = capturingLogger();
    log.info({ phone: null, waId: undefined }, 'no number known');
    expect(lines()[0]).toMatchObject({ phone: null, msg: 'no number known' });
  });

  it('logs at info unless told otherwise', () => {
    const chunks: string[] = [];
    const log = createLogger({ destination: new Writable({ write: (c: Buffer, _e, done) => void (chunks.push(c.toString()), done()) }) });
    log.debug('not this');
    log.info('this');
    expect(chunks.map((c) => (JSON.parse(c) as { msg: string }).msg)).toEqual(['this']);
  });

  it('writes nothing below its level', () => {
    const { log, text } = capturingLogger('info');
    log.debug({ deliveryId: 1 }, 'webhook stored');
    expect(text()).toBe('');
  });
});
