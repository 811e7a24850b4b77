// Random faults for the sandboxes, as express middleware: a share of API requests fails the way
// vendors' networks and servers do. Some faults strike before the request is handled (a 5xx, a
// reset connection), some after (the work is done but the answer is lost or comes too late),
// which is what makes idempotency matter. Seeded, so a failing run can be repeated.
import type { NextFunction, Request, Response } from 'express';

export type FaultKind =
  /** A 5xx answer in the vendor's error shape, before anything is done. */
  | 'server-error'
  /** The connection is reset before the request is handled. */
  | 'reset-before'
  /** The request is handled, then the connection is reset instead of answering. */
  | 'reset-after'
  /** The request is handled, and the answer comes after `slowMs` (past the client's timeout). */
  | 'slow'
  /**
   * The connection is reset at once, and the request is still carried out `lateMs` later: the
   * vendor goes on with work whose caller it can no longer answer, so a retry that looks for it
   * right away finds nothing. Salesforce keeps processing a REST call for up to 10 minutes
   * ("The timeout limit for REST and SOAP API calls is 10 minutes",
   * https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-api.html).
   * Needs the request body parsed before this middleware (the socket is gone by the time the
   * handler runs).
   */
  | 'lands-late'
  /**
   * The vendor ends the caller's session just before the request (an access token expiring), so
   * it is refused as unauthenticated. Only for sandboxes whose tokens expire (they pass
   * `expireCredentials`); elsewhere this kind is never dealt.
   */
  | 'token-expired';

export interface ChaosOptions {
  /** Share of requests that fail, 0 to 1. */
  readonly rate: number;
  readonly kinds: readonly FaultKind[];
  readonly seed?: number;
  readonly slowMs?: number;
  /** How long after the reset a 'lands-late' request is carried out. */
  readonly lateMs?: number;
  /** Only requests with these methods fail (e.g. writes); all when absent. */
  readonly methods?: readonly string[];
}

/** Drops the connection now and hands the request on `lateMs` later: nobody is left to hear what the handler answers. */
export function landLater(req: Request, res: Response, next: NextFunction, lateMs: number): void {
  res.end = (() => res) as Response['end'];
  req.socket.destroy();
  setTimeout(next, lateMs);
}

/** mulberry32: a small seeded generator, enough to spread faults reproducibly. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export class Chaos {
  options: ChaosOptions | undefined;
  /** Faults dealt, by kind. */
  readonly dealt: Record<FaultKind, number> = { 'server-error': 0, 'reset-before': 0, 'reset-after': 0, slow: 0, 'token-expired': 0, 'lands-late': 0 };
  #random = seededRandom(1);

  set(options: ChaosOptions | undefined): void {
    this.options = options;
    this.#random = seededRandom(options?.seed ?? 1);
  }

  /**
   * The middleware; `serverError` answers a 5xx in the vendor's own shape, `expireCredentials`
   * (where tokens expire) invalidates the sessions the sandbox has issued.
   */
  middleware(serverError: (res: Response) => void, expireCredentials?: () => void) {
    return (req: Request, res: Response, next: NextFunction): void => {
      const options = this.options;
      const kinds = options?.kinds.filter((k) => k !== 'token-expired' || expireCredentials !== undefined) ?? [];
      if (!options || kinds.length === 0 || (options.methods && !options.methods.includes(req.method))) return next();
      if (this.#random() >= options.rate) return next();
      const kind = kinds[Math.floor(this.#random() * kinds.length)]!;
      this.dealt[kind]++;
      if (kind === 'server-error') return serverError(res);
      if (kind === 'token-expired') {
        expireCredentials!();
        return next();
      }
      if (kind === 'reset-before') {
        req.socket.destroy();
        return;
      }
      if (kind === 'lands-late') return landLater(req, res, next, options.lateMs ?? 1_000);
      // Let the handler do its work, then lose or delay the answer.
      const end = res.end.bind(res) as (...args: unknown[]) => Response;
      res.end = ((...args: unknown[]) => {
        if (kind === 'reset-after') {
          req.socket.destroy();
          return res;
        }
        setTimeout(() => end(...args), options.slowMs ?? 2_000);
        return res;
      }) as Response['end'];
      next();
    };
  }
}
