// A message.recorded change for one customer (contact c1), as the customer service window's planning sees it.
import type { E164 } from '../../core/model/phone.js';
import type { Contact, Message, ModelChange } from '../../core/model/types.js';

export function windowChange(message: Pick<Message, 'direction' | 'sentAt'> & { history?: boolean }): ModelChange {
  const contact: Contact = { id: 'c1', crmKey: '+447700900123', waId: '+447700900123' as E164, bsuid: null, parentBsuid: null, username: null, userId: null, profileName: 'Sheena Nelson', createdAt: 0, updatedAt: 1 };
  const recorded: Message = { id: 'wamid.window', threadId: 't-1', contactId: 'c1', type: 'text', originalType: 'text', text: 'hello', media: null, arrivalSeq: 1, status: null, replyToId: null, origin: null, warnings: [], ...message };
  return { type: 'message.recorded', contact, thread: { id: 't-1', contactId: 'c1', businessNumberId: '106540352242922', startedAt: message.sentAt, lastMessageAt: message.sentAt }, threadCreated: false, message: recorded };
}
