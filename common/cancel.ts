// Cancelling long work from far up the call chain. generateFleets runs inside withCancel(signal), and the places
// that start a child process (runTool, npm pack, msiinfo) pass cancelSignal() to it: a Cancel in the extension stops
// the running tool without every builder in between passing a signal on.
import { AsyncLocalStorage } from 'node:async_hooks';

const scope = new AsyncLocalStorage<AbortSignal>();

/** Runs `work` with `signal` as the cancel signal of everything it calls (no signal: not cancellable). */
export function withCancel<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  return signal ? scope.run(signal, work) : work();
}

/** The cancel signal of the work this call belongs to, if any: give it to spawn/execFile as `signal`. */
export function cancelSignal(): AbortSignal | undefined {
  return scope.getStore();
}

/** Waits `ms`; rejects with the signal's reason as soon as `signal` aborts. */
export function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', done);
      resolve();
    }, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
