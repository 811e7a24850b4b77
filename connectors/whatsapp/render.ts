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

/**
 * A map link anyone can open (no API key): OpenStreetMap's marker URL at street zoom.
 * https://wiki.openstreetmap.org/wiki/Browsing#Adding_a_Marker
 */
export function openStreetMapLink(latitude: number, longitude: number): string {
  return `https://www.openstreetmap.org/?mlat=${latitude}&mlon=${longitude}#map=17/${latitude}/${longitude}`;
}

/** An amount in its currency's own minor units (ISO 4217 code, as Meta sends it); the code alone when unknown. */
function money(amount: number, currency: string): string {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency, currencyDisplay: 'code' }).format(amount).replace(/\u00a0/g, ' ');
  } catch {
    return `${amount} ${currency}`;
  }
}

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
      return joinParts(['[location]', where, `${loc.latitude},${loc.longitude}`, openStreetMapLink(loc.latitude, loc.longitude), loc.url]);
    }
    case 'contacts': {
      const cards = (message.contacts ?? []).map((card) => {
        const typed = (value: string | undefined, type: string | undefined) => (value ? `${value}${type ? ` (${type.toLowerCase()})` : ''}` : undefined);
        const phones = (card.phones ?? []).map((p) => typed(p.phone ?? (p.wa_id ? `+${p.wa_id}` : undefined), p.type)).filter((p): p is string => p !== undefined);
        const emails = (card.emails ?? []).map((e) => typed(e.email, e.type)).filter((e): e is string => e !== undefined);
        return joinParts([
          card.name?.formatted_name ?? 'unnamed contact',
          card.org?.company ? `(${card.org.company})` : undefined,
          phones.length > 0 ? `phone ${phones.join(', ')}` : undefined,
          emails.length > 0 ? `email ${emails.join(', ')}` : undefined,
        ]);
      });
      return `[contact card${cards.length === 1 ? '' : 's'}] ${cards.join('; ')}`.trim();
    }
    case 'interactive': {
      const i = message.interactive;
      if (i?.button_reply) return `[button reply] ${i.button_reply.title}`;
      if (i?.list_reply) return joinParts(['[list reply]', i.list_reply.title, i.list_reply.description ? `- ${i.list_reply.description}` : undefined]);
      if (i?.nfm_reply) return joinParts(['[form reply]', i.nfm_reply.name, i.nfm_reply.body]);
      // The business's own question (an echo of what it sent): its text and the options offered.
      if (i?.body?.text) {
        const options = [...(i.action?.buttons ?? []).map((b) => b.reply?.title), ...(i.action?.sections ?? []).flatMap((section) => (section.rows ?? []).map((row) => row.title))].filter(
          (o): o is string => typeof o === 'string' && o !== '',
        );
        return joinParts([i.body.text, options.length > 0 ? `[options: ${options.join(' / ')}]` : undefined]);
      }
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
      const items = order?.product_items ?? [];
      const lines = items.map((item) => `${item.quantity} x ${item.product_retailer_id} at ${money(Number(item.item_price), item.currency)}`);
      // One total per currency: an order can in principle mix them, and adding across would be wrong.
      const totals = new Map<string, number>();
      for (const item of items) totals.set(item.currency, (totals.get(item.currency) ?? 0) + Number(item.quantity) * Number(item.item_price));
      const total = [...totals].map(([currency, sum]) => money(sum, currency)).join(' + ');
      const listed = items.length > 0 ? `${lines.join('; ')}; total ${total}` : undefined;
      return joinParts([`[order: ${items.length} item${items.length === 1 ? '' : 's'}]`, listed, order?.text ? `(note: ${order.text})` : undefined]);
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
