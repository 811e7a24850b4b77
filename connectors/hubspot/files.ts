// Stored media into HubSpot Files, once: shared by the timeline's attachments and the inbox's.
import type { ExecutionContext } from '../../core/connector.js';
import { VendorError } from '../../core/errors.js';
import { readStoredMedia } from '../../core/media-store.js';
import type { HubSpotApi } from './client.js';
import { fileSearchAnswer, uploadedFile } from './responses.js';
import { mediaFileName, type MediaPayload } from './mappers.js';

/**
 * Uploads the file (unless an upload of the same bytes is already there: the name is derived
 * from the content hash) and returns its file id. The search only sees an upload that has
 * landed; one whose answer was lost may still be landing, so the upload also asks HubSpot to hand
 * back a duplicate in the folder instead of storing a second copy
 * (duplicateValidationStrategy RETURN_EXISTING, https://developers.hubspot.com/docs/api/files/files).
 */
export async function uploadMediaFile(api: HubSpotApi, folder: string, payload: MediaPayload, context: ExecutionContext): Promise<string> {
  const name = mediaFileName(payload);
  const found = await api.read(context, 'looking for an uploaded file', fileSearchAnswer, (c) =>
    c.files.filesApi.doSearch(undefined, undefined, undefined, 1, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, name.replace(/\.[^.]+$/, '')),
  );
  const existing = found.results.find((f) => `${f.name}.${f.extension}` === name || f.name === name)?.id;
  if (existing) return existing;
  const data = await readStoredMedia(payload.path);
  const uploaded = await api.read(context, 'uploading a media file', uploadedFile, (c) =>
    c.files.filesApi
      .upload({ data, name }, undefined, folder, name, undefined, JSON.stringify({ access: 'PRIVATE', overwrite: false, duplicateValidationStrategy: 'RETURN_EXISTING', duplicateValidationScope: 'EXACT_FOLDER' }))
      .catch(duplicateHandedBack),
  );
  if (!uploaded.id) throw new VendorError('hubspot', 'file upload answered without a file id');
  return uploaded.id;
}

/**
 * A duplicate handed back with 200 rather than 201 is an answer, not a failure: the generated
 * client treats every status but 201 as an error (its default range), so the upload's two answers
 * are told apart here, by the file the body holds.
 */
function duplicateHandedBack(error: unknown): { id: string } {
  const answer = error as { code?: unknown; body?: { id?: unknown } };
  if (answer.code === 200 && typeof answer.body?.id === 'string') return { id: answer.body.id };
  throw error;
}
