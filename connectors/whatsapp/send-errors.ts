// WhatsApp send errors in plain words: what happened and what the sender can do. Shown with the
// error on the operation (a send refused at once) and on the CRM record (a `failed` status).
// https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/

const EXPLANATIONS: Readonly<Record<number, string>> = {
  131047:
    'more than 24 hours have passed since the customer last wrote, so WhatsApp accepts only an approved template now (re-engagement message); send a template, or wait for the customer to write',
  131026:
    'WhatsApp could not deliver the message: the number may not be on WhatsApp, the customer may use an old app version, or has not accepted the current terms; check the number, or reach them another way',
  131049:
    'WhatsApp chose not to deliver this marketing template to keep the customer\'s experience healthy (a per-user limit on marketing messages); do not resend at once: try again later, or with a utility template if the message is not marketing',
  131050: 'the customer has stopped marketing messages from this business in WhatsApp; only non-marketing templates and replies inside the 24-hour window reach them',
  131051: 'this message type is not supported by WhatsApp for this send; send text or a template',
  131052: 'WhatsApp could not download the media the customer sent; ask them to send it again',
  131053: 'WhatsApp could not upload the media of this message (unsupported type or too large); send another file',
  131056: 'too many messages to this customer in a short time (the pair rate limit); the service waits and tries again',
  131062: 'this kind of message cannot go to a business-scoped user id (the customer withholds their phone number); send text inside the 24-hour window or another template',
  132000: "the number of template parameters does not match the template's placeholders; check the template with `wa-crm-sync templates`",
  132001: 'the template does not exist in this language, or is not approved yet; check the name and language with `wa-crm-sync templates`',
  132005: 'the template text with its parameters is too long; shorten the parameters',
  132007: "the template's parameters break WhatsApp's formatting rules (new lines, tabs or more than four spaces in a row); clean the parameters",
  132012: "a template parameter has the wrong format for the template (e.g. text where a currency or date is expected)",
  132015: 'the template is paused for low quality; edit it in WhatsApp Manager or use another one',
  132016: 'the template is disabled for low quality; create a new one or use another',
  130472: "the customer's number is part of a WhatsApp experiment and did not receive this marketing message; nothing to do",
  131031: 'the WhatsApp Business Account is locked or restricted; check WhatsApp Manager',
  131042: 'a payment problem on the WhatsApp Business Account (no payment method, or over the credit line); fix billing in WhatsApp Manager',
  131045: 'the business phone number is not registered; register it in WhatsApp Manager',
  368: 'the WhatsApp Business Account is temporarily blocked for policy violations; see WhatsApp Manager',
};

/** Plain words for a WhatsApp error code, or undefined when none are written for it. */
export function explainSendError(code: number | string | undefined): string | undefined {
  if (code === undefined) return undefined;
  return EXPLANATIONS[Number(code)];
}
