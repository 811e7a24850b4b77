// pino JSON logs. Secrets are redacted by key; customers' identifiers (phone numbers, BSUIDs,
// usernames) are masked by the serialisers of the fields that carry them. Message bodies are
// never passed to a logger at all.
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import { maskIdentifier, maskUsername } from './model/identity.js';

export type Logger = PinoLogger;

const SECRET_KEYS = [
  'accessToken',
  'refreshToken',
  'appSecret',
  'verifyToken',
  'apiToken',
  'clientSecret',
  'privateKey',
  'password',
  'webhookSecret',
  'authorization',
  'token',
  // Message texts: a text's body, a media message's caption.
  'body',
  'text',
  'caption',
];

export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  const masked = (value: unknown) => (typeof value === 'string' ? maskIdentifier(value) : value);
  const maskedUsername = (value: unknown) => (typeof value === 'string' ? maskUsername(value) : value);
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'wa-crm-sync' },
      redact: {
        paths: [...SECRET_KEYS, ...SECRET_KEYS.map((k) => `*.${k}`), ...SECRET_KEYS.map((k) => `*.*.${k}`)],
        censor: '[redacted]',
      },
      serializers: {
        phone: masked,
        waId: masked,
        from: masked,
        to: masked,
        recipient: masked,
        customer: masked,
        bsuid: masked,
        parentBsuid: masked,
        userId: masked,
        username: maskedUsername,
      },
    },
    options.destination,
  );
}

/** A logger that writes nothing, for tests and one-shot commands that print their own output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
