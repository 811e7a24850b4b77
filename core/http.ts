// Vendor requests: one call through a vendor SDK (vendorCall), or one request over fetch for
// connectors that speak HTTP directly (vendorFetch). Both wait for the shared rate budget,
// count the answer for /metrics, settle the rate slot when the answer came, and turn failures
// into typed errors.
import type { ExecutionContext } from './connector.js';
import { TransportError, errorFromHttpStatus, type SyncError } from './errors.js';

/** One SDK call: rate budget first, answer counted, failure classified by the vendor's own rules. */
export async function vendorCall<T>(
  context: ExecutionContext,
  options: { readonly bucket?: string | readonly string[]; readonly classify: (error: unknown) => SyncError },
  run: () => Promise<T>,
): Promise<T> {
  const slot = await context.throttle(1, options.bucket);
  try {
    const result = await run();
    context.recordVendorCall(200);
    return result;
  } catch (error) {
    const failure = options.classify(error);
    context.recordVendorCall(failure.status ?? 0);
    throw failure;
  } finally {
    await slot.settle();
  }
}

export interface VendorRequest {
  readonly vendor: string;
  readonly url: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Uint8Array | FormData;
  readonly timeoutMs: number;
  /** Endpoint limits this request also counts against (see ExecutionContext.throttle). */
  readonly bucket?: string | readonly string[];
  /** Statuses that are answers, not failures (e.g. 404 when looking a record up). */
  readonly acceptStatuses?: readonly number[];
  /** Maps a failed answer to a more precise error than the status alone gives (vendor error codes). */
  readonly classify?: (status: number, body: string, retryAfter: string | null) => SyncError | undefined;
}

/** Sends the request and returns the response; throws a SyncError for anything but 2xx or an accepted status. */
export async function vendorFetch(context: ExecutionContext, request: VendorRequest): Promise<Response> {
  const slot = await context.throttle(1, request.bucket);
  // One controller per request, tied to the long-lived shutdown signal only while it runs:
  // AbortSignal.any() on Node 20 keeps every combined signal alive as long as its sources.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, request.timeoutMs);
  const onShutdown = () => controller.abort();
  context.signal.addEventListener('abort', onShutdown, { once: true });
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: request.method ?? 'GET',
      headers: request.headers ?? {},
      ...(request.body === undefined ? {} : { body: request.body }),
      signal: controller.signal,
    });
  } catch (error) {
    context.recordVendorCall(0);
    const reason = timedOut ? `no answer within ${request.timeoutMs} ms` : (error as Error).message;
    throw new TransportError(`${request.vendor}: ${request.method ?? 'GET'} ${new URL(request.url).pathname} failed: ${reason}`, { cause: error });
  } finally {
    clearTimeout(timer);
    context.signal.removeEventListener('abort', onShutdown);
    await slot.settle();
  }
  context.recordVendorCall(response.status);
  if (response.ok || request.acceptStatuses?.includes(response.status)) return response;
  const body = await response.text().catch(() => '');
  const retryAfter = response.headers.get('retry-after');
  throw request.classify?.(response.status, body, retryAfter) ?? errorFromHttpStatus(request.vendor, response.status, body.slice(0, 500), retryAfter);
}
