// The HTTP client of the push flows: retry with backoff on 429/503 (honouring Retry-After), clear errors on
// 401/403, and a dry-run mode that prints every request with secrets masked and sends nothing.
import { Buffer } from 'node:buffer';
import { setTimeout as delay } from 'node:timers/promises';

export type Body =
  | { json: unknown }
  | { form: Record<string, string> }
  | { bytes: Buffer; contentType?: string }
  | { text: string; contentType: string }
  | { multipart: FormData; describe: string };

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: Body;
  /** Short name of the step, for progress and errors ("create app"). */
  step: string;
  /** Overrides the client's timeout, e.g. for large uploads. */
  timeoutMs?: number;
  /** Changes nothing on the service (a token request): sent in a dry run too, like every GET. */
  read?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, when the body is JSON. */
  json: unknown;
  /** True when nothing was sent (dry run). */
  dryRun: boolean;
}

export class HttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly step: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface HttpClientOptions {
  /** Service name for messages ("Microsoft Graph", "Jamf Pro"). */
  service: string;
  dryRun?: boolean;
  log?: (line: string) => void;
  /** Attempts per request on 429/503 and network errors (first try included). */
  maxAttempts?: number;
  /** First backoff delay; doubles per retry, capped by maxDelayMs. Retry-After wins when the server sends it. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
}

const SECRET_KEYS = /secret|password|token|encryptionkey|mackey|^key$|authorization/i;
const SECRET_QUERY = /^(sig|se|skoid|sktid|client_secret|code|access_token)$/i;

/** A URL with signature-like query parameters masked. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    for (const k of [...u.searchParams.keys()]) if (SECRET_QUERY.test(k)) u.searchParams.set(k, '***');
    // Placeholders of a dry run ({appId}) read better unescaped.
    return u
      .toString()
      .replace(/%2A%2A%2A/g, '***')
      .replace(/%7B/gi, '{')
      .replace(/%7D/gi, '}');
  } catch {
    return url;
  }
}

/** A JSON value with secret fields replaced by "***". */
export function maskJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskJson);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEYS.test(k) && v !== null && typeof v !== 'object' ? '***' : maskJson(v)]));
  }
  return value;
}

function describeBody(body: Body | undefined): string {
  if (!body) return '';
  if ('json' in body) return ` json ${JSON.stringify(maskJson(body.json))}`;
  if ('form' in body)
    return ` form ${new URLSearchParams(maskJson(body.form) as Record<string, string>)
      .toString()
      .replace(/%2A%2A%2A/g, '***')
      .replace(/%7B/gi, '{')
      .replace(/%7D/gi, '}')}`;
  if ('bytes' in body) return ` <${body.bytes.length} bytes${body.contentType ? ` ${body.contentType}` : ''}>`;
  if ('text' in body) return ` ${body.contentType} <${Buffer.byteLength(body.text)} bytes>`;
  return ` multipart ${body.describe}`;
}

function maskHeaders(headers: Record<string, string>): string {
  const shown = Object.entries(headers).map(([k, v]) => `${k}: ${/authorization/i.test(k) ? `${v.split(' ')[0]} ***` : v}`);
  return shown.length ? ` [${shown.join('; ')}]` : '';
}

/** Retry-After as seconds or an HTTP date -> milliseconds. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export class HttpClient {
  readonly dryRun: boolean;
  private readonly log: (line: string) => void;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  /** Every retry taken, for progress output and tests. */
  readonly retries: Array<{ step: string; status: number; waitMs: number }> = [];

  constructor(private readonly options: HttpClientOptions) {
    this.dryRun = options.dryRun ?? false;
    this.log = options.log ?? (() => {});
    this.maxAttempts = options.maxAttempts ?? 6;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
    this.timeoutMs = options.timeoutMs ?? 120_000;
  }

  describe(req: HttpRequest): string {
    return `${req.method} ${maskUrl(req.url)}${maskHeaders(req.headers ?? {})}${describeBody(req.body)}`;
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    // A dry run reads the service's state (the plan needs it) and prints every change instead of sending it.
    if (this.dryRun && req.method !== 'GET' && !req.read) {
      this.log(`[dry-run] ${req.step}: ${this.describe(req)}`);
      return { status: 0, headers: new Headers(), text: '', json: undefined, dryRun: true };
    }
    const service = this.options.service;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(req.url, {
          method: req.method,
          headers: this.headersFor(req),
          body: this.bodyFor(req.body),
          signal: AbortSignal.timeout(req.timeoutMs ?? this.timeoutMs),
          redirect: 'error',
        });
      } catch (err) {
        if (attempt >= this.maxAttempts)
          throw new HttpError(`${service}: ${req.step} failed: ${req.method} ${maskUrl(req.url)}: ${(err as Error).message}`, 0, req.step);
        await this.wait(req.step, 0, this.backoff(attempt));
        continue;
      }
      const text = await res.text();
      if (res.status === 429 || res.status === 503) {
        if (attempt >= this.maxAttempts) {
          throw new HttpError(
            `${service}: ${req.step} still answered ${res.status} after ${attempt} attempts (${req.method} ${maskUrl(req.url)}); try again later`,
            res.status,
            req.step,
          );
        }
        const wait = Math.min(this.maxDelayMs, retryAfterMs(res.headers.get('retry-after')) ?? this.backoff(attempt));
        await this.wait(req.step, res.status, wait);
        continue;
      }
      let json: unknown;
      if (/json/i.test(res.headers.get('content-type') ?? '') && text) {
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
      }
      if (res.status === 401 || res.status === 403) {
        const why =
          res.status === 401
            ? 'the credentials or the token were rejected: check the tenant/client id and the client secret, and that the token has not expired'
            : 'the app is not allowed to do this: grant it the API permissions the push needs (see docs/mdm.md) and admin consent';
        throw new HttpError(
          `${service}: ${req.step}: ${res.status} ${res.status === 401 ? 'Unauthorized' : 'Forbidden'} from ${req.method} ${maskUrl(req.url)}: ` +
            `${why}${serviceMessage(json, text)}`,
          res.status,
          req.step,
        );
      }
      if (res.status >= 400) {
        throw new HttpError(`${service}: ${req.step}: ${res.status} from ${req.method} ${maskUrl(req.url)}${serviceMessage(json, text)}`, res.status, req.step);
      }
      return { status: res.status, headers: res.headers, text, json, dryRun: false };
    }
  }

  private backoff(attempt: number): number {
    // Exponential with full jitter keeps many agents of one MSP from retrying in lock step.
    const cap = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(cap / 2 + Math.random() * (cap / 2));
  }

  private async wait(step: string, status: number, ms: number): Promise<void> {
    this.retries.push({ step, status, waitMs: ms });
    this.log(`${step}: ${status ? `${this.options.service} answered ${status}` : 'network error'}; retrying in ${(ms / 1000).toFixed(1)} s`);
    await delay(ms);
  }

  private headersFor(req: HttpRequest): Record<string, string> {
    const headers: Record<string, string> = { ...req.headers };
    const b = req.body;
    if (b && 'json' in b) headers['content-type'] = 'application/json';
    else if (b && 'form' in b) headers['content-type'] = 'application/x-www-form-urlencoded';
    else if (b && 'bytes' in b && b.contentType) headers['content-type'] = b.contentType;
    else if (b && 'text' in b) headers['content-type'] = b.contentType;
    return headers;
  }

  private bodyFor(b: Body | undefined): RequestInit['body'] {
    if (!b) return undefined;
    if ('json' in b) return JSON.stringify(b.json);
    if ('form' in b) return new URLSearchParams(b.form).toString();
    if ('bytes' in b) return new Uint8Array(b.bytes.buffer, b.bytes.byteOffset, b.bytes.length);
    if ('text' in b) return b.text;
    return b.multipart;
  }
}

/** The error text a service sent back, shortened, never echoing what we sent. */
function serviceMessage(json: unknown, text: string): string {
  const j = json as { error?: { message?: string; code?: string } | string; error_description?: string; errors?: Array<{ description?: string }> } | undefined;
  const msg =
    typeof j?.error === 'object'
      ? (j.error.message ?? j.error.code)
      : (j?.error_description ?? (typeof j?.error === 'string' ? j.error : undefined) ?? j?.errors?.[0]?.description ?? text.replace(/<[^>]+>/g, ' ').trim());
  return msg ? ` (${String(msg).slice(0, 300)})` : '';
}
