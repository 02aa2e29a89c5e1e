/**
 * Signing in, and the access token the SDK asks for.
 *
 * - `/?token=JWT`: that token (it is taken out of the address bar at once). Without a refresh
 *   token it cannot be renewed: when it expires, the sign-in page comes back.
 * - `/?as=USER` (only against `tidings dev`, whose `config.json` has `localSignIn`): a session
 *   from `POST /_local/sessions {userId}`, `{token, refreshToken, expiresAt}`.
 * - otherwise the session this tab signed in with before (sessionStorage: one tab, one user).
 *
 * Refreshing: `POST /api/auth/refresh {refreshToken}` → a new token and refresh token, one
 * refresh at a time (a refresh token is good for one use).
 */

const STORAGE_KEY = 'tidings.session';
const EARLY_REFRESH_MS = 60_000; // a token this close to expiry is refreshed before use

export class SessionEnded extends Error {}

export class Session {
  #config;
  #storage;
  #fetch;
  #current;
  #refreshing = null;
  #ended = false;

  /**
   * @param {{token: string, refreshToken?: string, expiresAt?: string, localUser?: string}} current
   * @param {{config: object, storage?: Storage, fetch?: typeof fetch}} o
   */
  constructor(current, { config, storage = globalThis.sessionStorage, fetch = globalThis.fetch.bind(globalThis) }) {
    this.#config = config;
    this.#storage = storage;
    this.#fetch = fetch;
    this.#current = current;
    if (!this.userId) throw new SessionEnded('That token names no user');
    this.#save();
  }

  /** The signed-in user (the token's `sub`). */
  get userId() {
    return jwtClaims(this.#current.token)?.sub ?? null;
  }

  get canRefresh() {
    return Boolean(this.#current.refreshToken || this.#current.localUser);
  }

  /** The SDK's `getToken`: a token valid now; a fresh one when the SDK asks for it. */
  async token(reason) {
    if (this.#ended) throw new SessionEnded('You signed out');
    const expiring = expiresInMs(this.#current.token) < EARLY_REFRESH_MS;
    if ((reason === 'refresh' || reason === 'unauthorized' || expiring) && this.canRefresh) await this.refresh();
    return this.#current.token;
  }

  refresh() {
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async #refresh() {
    let next = null;
    if (this.#current.refreshToken) {
      const response = await this.#fetch(`${this.#config.apiUrl}/api/auth/refresh`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refreshToken: this.#current.refreshToken }),
      });
      if (response.ok) next = await response.json();
      else if (!this.#current.localUser) throw new SessionEnded('Your session has ended: sign in again');
    }
    // A local demo sign-in whose refresh token was refused (a restarted tidings dev): sign in again.
    if (!next && this.#current.localUser) next = await localSession(this.#config, this.#current.localUser, this.#fetch);
    this.#current = { ...next, localUser: this.#current.localUser };
    this.#save();
  }

  /** Revokes the session on the server (every connection of it closes), then forgets it. From
   * here on no token is handed out: a reconnect racing the sign-out must not sign in again. */
  async signOut() {
    this.#ended = true;
    try {
      await this.#fetch(`${this.#config.apiUrl}/api/auth/revoke`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${this.#current.token}` },
      });
    } finally {
      forgetSession(this.#storage);
    }
  }

  #save() {
    if (this.#ended) return;
    try {
      this.#storage?.setItem(STORAGE_KEY, JSON.stringify(this.#current));
    } catch {
      // private mode: the session lasts as long as the page
    }
  }

  /**
   * The session the address asks for (`?token=`, `?as=`), else the stored one, else null.
   * @param {object} config
   * @param {Location} location
   * @param {{storage?: Storage, fetch?: typeof fetch, history?: History}} [o]
   */
  static async fromLocation(config, location, { storage = globalThis.sessionStorage, fetch = globalThis.fetch.bind(globalThis), history = globalThis.history } = {}) {
    const params = new URLSearchParams(location.search);
    const options = { config, storage, fetch };
    if (params.get('token')) {
      const token = params.get('token');
      params.delete('token'); // out of the address bar and the browser's history
      const query = params.toString();
      history?.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
      return new Session({ token }, options);
    }
    if (params.get('as')) {
      const userId = params.get('as');
      if (!config.localSignIn) throw new SessionEnded('?as= signs in only on tidings dev; give ?token= instead');
      const stored = readStored(storage);
      // A reload keeps this tab's session for the same user rather than opening another.
      if (stored?.localUser === userId) return new Session(stored, options);
      return new Session({ ...(await localSession(config, userId, fetch)), localUser: userId }, options);
    }
    const stored = readStored(storage);
    return stored?.token ? new Session(stored, options) : null;
  }
}

export function forgetSession(storage = globalThis.sessionStorage) {
  try {
    storage?.removeItem(STORAGE_KEY);
  } catch {
    // nothing stored
  }
}

async function localSession(config, userId, fetch) {
  const response = await fetch(config.localSignIn.sessionsUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new SessionEnded(body?.error?.message ?? `Signing in as ${userId} failed (${response.status})`);
  return body;
}

function readStored(storage) {
  try {
    return JSON.parse(storage?.getItem(STORAGE_KEY) ?? 'null');
  } catch {
    return null;
  }
}

/** A JWT's claims (not verified: the server does that), or null. */
export function jwtClaims(token) {
  try {
    const payload = String(token).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(
      [...atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), '='))]
        .map((char) => `%${char.charCodeAt(0).toString(16).padStart(2, '0')}`)
        .join(''),
    );
    return JSON.parse(json);
  } catch {
    return null;
  }
}

function expiresInMs(token) {
  const exp = jwtClaims(token)?.exp;
  return Number.isFinite(exp) ? exp * 1000 - Date.now() : Infinity;
}
