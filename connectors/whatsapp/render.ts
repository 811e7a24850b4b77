// Renders a WhatsApp Cloud API message object as the plain text a CRM timeline shows.
// Pure: the webhook schema has already been checked.
import type { CloudApiMessage } from './webhook-schema.js';

const MEDIA_LABEL: Record<string, string> = {
  image: 'image',
  video: 'video',
  audio: 'audio',
  document: 'document',
  sticker: 'sticker',
};

function joinParts(parts: Array<string | undefined | null | false>): string {
  return parts.filter((p): p is string => typeof p === 'string' && p.trim() !== '').join(' ');
}

function renderBody(message: CloudApiMessage): string {
  switch (message.type) {
    case 'text':
      return message.text?.body ?? '';
    case 'image':
    case 'video':
    case 'sticker':
    case 'document':
    case 'audio': {
      const media = message[message.type];
      const label =
        message.type === 'audio' && media?.voice
          ? 'voice message'
          : message.type === 'sticker' && media?.animated
            ? 'animated sticker'
            : MEDIA_LABEL[message.type];
      const name = message.type === 'document' && media?.filename ? `: ${media.filename}` : '';
      return joinParts([`[${label}${name}]`, media?.caption]);
    }
    case 'location': {
      const loc = message.location;
      if (!loc) return '[location]';
      const where = joinParts([loc.name, loc.address ? `(${loc.address})` : undefined]);
      return joinParts(['[location]', where, `${loc.latitude},${loc.longitude}`, loc.url]);
    }
    case 'contacts': {
      const cards = (message.contacts ?? []).map((card) => {
        const phones = (card.phones ?? []).map((p) => p.phone ?? p.wa_id).filter(Boolean);
        const emails = (card.emails ?? []).map((e) => e.email).filter(Boolean);
        return joinParts([card.name?.formatted_name, card.org?.company ? `(${card.org.company})` : undefined, [...phones, ...emails].join(', ')]);
      });
      return `[contact card] ${cards.join('; ')}`.trim();
    }
    case 'interactive': {
      const i = message.interactive;
      if (i?.button_reply) return `[button reply] ${i.button_reply.title}`;
      if (i?.list_reply) return joinParts(['[list reply]', i.list_reply.title, i.list_reply.description ? `- ${i.list_reply.description}` : undefined]);
      if (i?.nfm_reply) return joinParts(['[form reply]', i.nfm_reply.name, i.nfm_reply.body]);
      return `[interactive reply: ${i?.type ?? 'unknown'}]`;
    }
    case 'button':
      return `[button] ${message.button?.text ?? message.button?.payload ?? ''}`.trim();
    case 'reaction': {
      const emoji = message.reaction?.emoji;
      return emoji ? `[reaction ${emoji}]` : '[reaction removed]';
    }
    case 'order': {
      const order = message.order;
      const items = (order?.product_items ?? []).map(
        (item) => `${item.quantity} x ${item.product_retailer_id} @ ${item.item_price} ${item.currency}`,
      );
      return joinParts([`[order: ${items.length} item${items.length === 1 ? '' : 's'}]`, items.join('; '), order?.text]);
    }
    case 'system':
      return message.system?.body ?? '[system message]';
    default: {
      const title = message.errors?.[0]?.title;
      return joinParts([`[unsupported message type ${message.type}]`, title ? `(${title})` : undefined]);
    }
  }
}

/** The text shown on the CRM timeline for one message, with forwarding, ad and product context. */
export function renderMessage(message: CloudApiMessage): string {
  const context = message.context;
  const prefix = context?.frequently_forwarded ? '[frequently forwarded]' : context?.forwarded ? '[forwarded]' : undefined;
  const product = context?.referred_product
    ? `(about product ${context.referred_product.product_retailer_id} in catalog ${context.referred_product.catalog_id})`
    : undefined;
  const referral = message.referral
    ? `(via ${message.referral.source_type ?? 'referral'}${message.referral.headline ? ` "${message.referral.headline}"` : ''}${message.referral.source_url ? ` ${message.referral.source_url}` : ''})`
    : undefined;
  return joinParts([prefix, renderBody(message), product, referral]);
}
