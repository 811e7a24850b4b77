// Pure planning for the WhatsApp side: which stored messages need their media fetched.
import type { MediaKind, ModelChange } from '../../core/model/types.js';
import type { OperationDraft } from '../../core/outbox/queries.js';

export const KIND = { fetchMedia: 'media.fetch' } as const;

/** Meta's size caps per media kind (animated stickers are the larger sticker cap). */
export const MEDIA_SIZE_CAPS: Record<MediaKind, number> = {
  image: 5 * 1024 * 1024,
  audio: 16 * 1024 * 1024,
  video: 16 * 1024 * 1024,
  document: 100 * 1024 * 1024,
  sticker: 500 * 1024,
};

export interface FetchMediaPayload {
  readonly messageId: string;
  readonly mediaId: string;
  readonly kind: MediaKind;
  readonly mimeType: string;
  readonly sha256: string | null;
  readonly filename: string | null;
  [key: string]: string | null;
}

export function toOperationDrafts(change: ModelChange): OperationDraft[] {
  if (change.type !== 'message.recorded' || change.message.media === null) return [];
  const media = change.message.media;
  const payload: FetchMediaPayload = {
    messageId: change.message.id,
    mediaId: media.mediaId,
    kind: media.kind,
    mimeType: media.mimeType,
    sha256: media.sha256 ?? null,
    filename: media.filename ?? null,
  };
  // Its own ordering key: a slow or failing download never holds up the conversation.
  return [{ kind: KIND.fetchMedia, key: change.message.id, orderingKey: `media:${change.message.id}`, payload }];
}
