// A module loaded the first time it is needed, once. A vendor SDK is needed only by the thread
// that calls the vendor: the processing thread imports the connectors to plan operations and
// never calls one, and the three CRM SDKs together cost each thread that loads them about 16 MB
// of RSS (7 MB of heap), a tenth of the service's memory target.

/** Returns a loader that starts `load` on its first call and hands every call the same answer; a failed load is tried again next time. */
export function loadOnFirstUse<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () =>
    (loading ??= load().catch((error: unknown) => {
      loading = undefined;
      throw error;
    }));
}
