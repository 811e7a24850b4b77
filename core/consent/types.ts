// What a consent is, as the model and the connectors name it: types and constants only, so the
// model's types can name them without importing the consent store (which reads the model).
export const CONSENT_STATUSES = ['opted_in', 'opted_out'] as const;
export type ConsentStatus = (typeof CONSENT_STATUSES)[number];

/** How we learnt it: WhatsApp's user_preferences webhook, a typed keyword, or a tapped button. */
export const CONSENT_SOURCES = ['webhook', 'keyword', 'button'] as const;
export type ConsentSource = (typeof CONSENT_SOURCES)[number];

/** The only category WhatsApp lets users stop and resume today (marketing messages). */
export type ConsentCategory = 'marketing';

export interface Consent {
  readonly contactId: string;
  readonly category: ConsentCategory;
  readonly status: ConsentStatus;
  /** When the person changed it (the webhook's or the message's time), in milliseconds. */
  readonly changedAt: number;
  readonly source: ConsentSource;
}

/** What the customer said, as the source gives it verbatim (not the rendered timeline text). */
export interface CustomerWords {
  /** The typed text, or a button's visible title. */
  readonly text: string | null;
  /** A quick-reply button's payload, or an interactive reply's id. */
  readonly payload: string | null;
}
