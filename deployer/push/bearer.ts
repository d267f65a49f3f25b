// One bearer-token conversation with a service (Graph, Jamf Pro): the token is fetched when first needed,
// renewed shortly before it expires, and renewed once more when the service answers 401 to a call (expired or
// revoked early), so a long update does not fail half-way.
import { type HttpClient, HttpError, type HttpRequest, type HttpResponse } from './http.js';

export interface IssuedToken {
  value: string;
  /** Seconds, as the token endpoint said (expires_in). */
  expiresIn: number;
}

export class BearerSession {
  private token?: { value: string; expiresAt: number };

  constructor(
    readonly http: HttpClient,
    private readonly issue: () => Promise<IssuedToken>,
    private readonly log: (line: string) => void,
    /** Renew this long before the stated expiry. */
    private readonly marginMs = 30_000,
  ) {}

  /** The token endpoint's answer, checked: `{ access_token, expires_in }`. */
  static read(service: string, res: HttpResponse, defaultExpiresIn: number): IssuedToken {
    const body = res.json as { access_token?: string; expires_in?: number } | undefined;
    if (!body?.access_token) throw new HttpError(`${service}: token: the response carries no access_token`, res.status, 'token');
    return { value: body.access_token, expiresIn: body.expires_in ?? defaultExpiresIn };
  }

  private async bearer(): Promise<string> {
    if (this.token && Date.now() < this.token.expiresAt - this.marginMs) return this.token.value;
    const t = await this.issue();
    this.token = { value: t.value, expiresAt: Date.now() + t.expiresIn * 1000 };
    return t.value;
  }

  /** A call with the bearer token; a 401 renews the token once and repeats the call. */
  async call(req: HttpRequest): Promise<HttpResponse> {
    const send = async () => this.http.request({ ...req, headers: { ...req.headers, authorization: `Bearer ${await this.bearer()}` } });
    try {
      return await send();
    } catch (err) {
      if (!(err instanceof HttpError) || err.status !== 401 || err.step === 'token') throw err;
      this.log(`${req.step}: token rejected; renewing it once`);
      this.token = undefined;
      return send();
    }
  }
}
