// Requests fetch cannot make: the same header on two lines, as a proxy or an attacker can send
// it (Node joins the lines as "a, b" for the handler, which is what the service must refuse).
import { request } from 'node:http';

/** POSTs `body` with `headers` (an array value becomes one header line per item); resolves with the status. */
export function postWithHeaders(url: string, headers: Record<string, string | string[]>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}
