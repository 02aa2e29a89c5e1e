/**
 * The REST (HTTP API) calls the SDK needs, with the same access token as the WebSocket:
 * `Authorization: Bearer <token>`. A 401 gets one retry with a fresh token.
 */

import { TidingsError } from './errors.js';

export class Rest {
  #o;

  /**
   * @param {object} o
   * @param {string | undefined} o.apiUrl the HTTP API's base (`http://127.0.0.1:8080` locally)
   * @param {typeof fetch | undefined} o.fetch
   * @param {(context: {reason: string}) => Promise<string>} o.token the current (or a fresh) token
   */
  constructor(o) {
    this.#o = o;
  }

  get available() {
    return Boolean(this.#o.apiUrl && this.#o.fetch);
  }

  /**
   * `method path` with an optional JSON body; resolves with the JSON answer (null for 204).
   * Errors reject with a TidingsError carrying the JSON error's code, the status and
   * `retryAfterMs` (from `Retry-After`).
   */
  async call(method, path, body) {
    if (!this.available) {
      throw new TidingsError('UNAVAILABLE', 'No apiUrl (or no fetch) was given: REST calls are not possible');
    }
    let response = await this.#send(method, path, body, 'rest');
    if (response.status === 401) response = await this.#send(method, path, body, 'unauthorized');
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const retryAfter = Number(response.headers.get('Retry-After'));
      throw new TidingsError(
        data?.error?.code ?? `HTTP_${response.status}`,
        data?.error?.message ?? `${method} ${path} answered ${response.status}`,
        { status: response.status, retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined },
      );
    }
    return data;
  }

  async #send(method, path, body, reason) {
    const token = await this.#o.token({ reason });
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const url = `${this.#o.apiUrl.replace(/\/+$/, '')}${path}`;
    try {
      return await this.#o.fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (cause) {
      throw new TidingsError('NETWORK', `${method} ${url} failed: ${cause?.message ?? cause}`, { cause });
    }
  }
}

/** `ws://host:port/ws` -> `http://host:port`: the local runtime serves both on one port. Other
 * URLs (API Gateway's WebSocket and HTTP APIs are different hosts) give undefined. */
export function apiUrlFromWebSocketUrl(url) {
  const parsed = new URL(url);
  if (parsed.pathname !== '/ws') return undefined;
  return `${parsed.protocol === 'wss:' ? 'https:' : 'http:'}//${parsed.host}`;
}
