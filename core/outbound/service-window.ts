// WhatsApp's customer service window, the one rule both the outbound API's free-text check and
// the window written on CRM records keep (a leaf: it imports nothing).
/** Free text reaches a customer only this long after they last wrote (the customer service window). */
export const CUSTOMER_SERVICE_WINDOW_MS = 24 * 3_600_000;
