/**
 * The one error type the SDK rejects with and emits.
 *
 * Server errors keep the protocol's `code` (`BAD_FRAME`, `FORBIDDEN`, `NOT_FOUND`, `CONFLICT`,
 * `RATE_LIMITED`, `UNAUTHORIZED`, `CONNECTION_LIMIT`, `UPGRADE_REQUIRED`, `UNAVAILABLE`,
 * `INTERNAL`, ...). The SDK adds a few of its own, listed in {@link SDK_ERROR_CODES}.
 */
export class TidingsError extends Error {
  /**
   * @param {string} code the protocol error code, or one of the SDK's own
   * @param {string} message a human-readable explanation
   * @param {object} [details]
   * @param {number} [details.retryAfterMs] how long to wait before retrying (`RATE_LIMITED`)
   * @param {string} [details.refId] the id of the client frame this error answers
   * @param {number} [details.status] the HTTP status, for REST errors
   * @param {object} [details.frame] the server frame that carried the error
   * @param {object} [details.extra] other fields of the error payload (e.g. `upgradeUrl`)
   * @param {unknown} [details.cause]
   */
  constructor(code, message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'TidingsError';
    /** @type {string} */
    this.code = code;
    /** @type {number | undefined} */
    this.retryAfterMs = details.retryAfterMs;
    /** @type {string | undefined} */
    this.refId = details.refId;
    /** @type {number | undefined} */
    this.status = details.status;
    /** @type {object | undefined} */
    this.frame = details.frame;
    /** @type {object} */
    this.extra = details.extra ?? {};
  }
}

/** Codes the SDK itself uses, beside the protocol's. */
export const SDK_ERROR_CODES = Object.freeze({
  /** No reply after every retry of a request that is not durable (search, sync, ...). */
  TIMEOUT: 'TIMEOUT',
  /** The client was closed (`close()`, or a close the SDK does not fight). */
  CLOSED: 'CLOSED',
  /** The connection dropped while a request that is not re-sent was in flight (sync). */
  DISCONNECTED: 'DISCONNECTED',
  /** A REST call could not reach the server. */
  NETWORK: 'NETWORK',
  /** `getToken()` threw or returned no token. */
  TOKEN: 'TOKEN',
  /** The outbox storage failed; the entry is kept in memory only. */
  STORAGE: 'STORAGE',
  /** A handler registered with `on()` threw. */
  HANDLER: 'HANDLER',
});

/** A TidingsError from a protocol error object `{code, message, retryAfterMs?, ...}`. */
export function errorFromPayload(error, frame) {
  const { code = 'INTERNAL', message = 'The server reported an error', retryAfterMs, refId, ...extra } = error ?? {};
  return new TidingsError(code, message, { retryAfterMs, refId: refId ?? frame?.payload?.refId, frame, extra });
}
