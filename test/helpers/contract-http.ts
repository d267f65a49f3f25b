// What the contract test servers (Graph, Jamf Pro) share: an HTTP server on 127.0.0.1 (ephemeral port) that
// hands each request with its whole body to a handler, JSON answers, and planned faults for retry tests.
import { Buffer } from 'node:buffer';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultOptions {
  /** Sent as the Retry-After header. */
  retryAfter?: string;
  /** How many matching requests get the fault; default 1. */
  times?: number;
}

export interface DueFault {
  status: number;
  headers: Record<string, string>;
}

/** Faults to inject: the next `times` requests matching method and path are answered with `status`. */
export class FaultPlan {
  private readonly faults: Array<{ method: string; path: RegExp; status: number; retryAfter?: string; times: number }> = [];

  add(method: string, path: RegExp, status: number, options: FaultOptions = {}): void {
    this.faults.push({ method, path, status, retryAfter: options.retryAfter, times: options.times ?? 1 });
  }

  /** The fault due for this request (counted as used), or undefined when none is. */
  take(method: string, path: string): DueFault | undefined {
    const fault = this.faults.find((f) => f.times > 0 && f.method === method && f.path.test(path));
    if (!fault) return undefined;
    fault.times--;
    return { status: fault.status, headers: fault.retryAfter !== undefined ? { 'retry-after': fault.retryAfter } : {} };
  }
}

/** One-shot actions on the next request matching method and path (e.g. expire every token as it arrives). */
export class RequestTriggers {
  private readonly triggers: Array<{ method: string; path: RegExp; action: () => void; done: boolean }> = [];

  add(method: string, path: RegExp, action: () => void): void {
    this.triggers.push({ method, path, action, done: false });
  }

  fire(method: string, path: string): void {
    for (const t of this.triggers) {
      if (t.done || t.method !== method || !t.path.test(path)) continue;
      t.done = true;
      t.action();
    }
  }
}

/** Requests that change something on the service: every one but GETs and the token request. */
export function countWrites(requests: Array<{ method: string; path: string }>, tokenPath: RegExp): number {
  return requests.filter((r) => r.method !== 'GET' && !tokenPath.test(r.path)).length;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

export interface ContractHttpServer {
  /** http://127.0.0.1:<port> */
  url: string;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 port 0; a handler that throws or rejects is answered by onError (a 500 in the service's shape). */
export async function listenContractServer(
  handle: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void | Promise<void>,
  onError: (res: ServerResponse, err: Error) => void,
): Promise<ContractHttpServer> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      Promise.resolve()
        .then(() => handle(req, res, Buffer.concat(chunks)))
        .catch((err: Error) => onError(res, err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
