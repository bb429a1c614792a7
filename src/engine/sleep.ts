/**
 * Waiting between polls. The abort listener is removed when the wait ends: a poll loop that left
 * one behind per turn made Node warn `MaxListenersExceededWarning ... 65 abort listeners` on the
 * administrator's terminal after a minute of `swap` waiting for the core.
 */

/** Resolve after `ms`, or at once (false) when `signal` aborts; never leaves a listener behind. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
