/**
 * Uploading an attachment (docs/protocol.md, "Attachments"): the upload form from the HTTP API
 * (`POST /api/chats/{chatId}/attachments`), the file POSTed straight to S3 with the form's
 * fields (multipart, the file last), then, unless told not to, the scan's verdict
 * (`attachment.scanned`). What comes back is what `send(..., {attachments: [{attachmentId}]})`
 * needs, with the name, size and type a UI shows while the message is written.
 *
 * Progress comes from `XMLHttpRequest`'s `upload.onprogress` where there is one (browsers); with
 * `fetch` alone (Node) there is no upload progress to read, so the only report is the final 100%.
 */

import { TidingsError } from './errors.js';

/** How long `upload` waits for `attachment.scanned` by default (a large file's scan takes a while). */
export const SCAN_TIMEOUT_MS = 60_000;

/** S3 refused the file's POST. `code` is S3's own: `EntityTooLarge` / `EntityTooSmall` (400, the
 * size is not the one the form was made for), `AccessDenied` (403: another content type than the
 * form's, or an expired form), ...; nothing was stored. */
export class UploadRefusedError extends TidingsError {
  constructor(code, message, details = {}) {
    super(code, message, details);
    this.name = 'UploadRefusedError';
  }
}

/** The scan found the upload infected: the file is deleted and can never be sent or fetched. */
export class InfectedError extends TidingsError {
  constructor(message, details = {}) {
    super('INFECTED', message, details);
    this.name = 'InfectedError';
  }
}

/**
 * @param {object} io what the client lends: `rest` (its Rest), `fetch`, `XMLHttpRequest` (or
 *   undefined), `on(type, handler)` (its emitter) and `clock`
 * @param {string} chatId
 * @param {Blob | ArrayBuffer | ArrayBufferView} file a `File` names itself; other data needs `options.name`
 * @param {object} [options]
 * @param {string} [options.name] the file name (default: the File's)
 * @param {string} [options.contentType] default: the Blob's type, else `application/octet-stream`
 * @param {(progress: {loaded: number, total: number}) => void} [options.onProgress]
 * @param {boolean} [options.waitScanned=true] resolve only once the scan found it clean
 * @param {number} [options.scanTimeoutMs=60000]
 * @returns {Promise<{attachmentId: string, name: string, size: number, contentType: string, status: 'clean' | 'pending', expiresAt: string}>}
 */
export async function uploadAttachment(io, chatId, file, options = {}) {
  const { waitScanned = true, scanTimeoutMs = SCAN_TIMEOUT_MS, onProgress } = options;
  const blob = asBlob(file, options.contentType);
  const name = options.name ?? (typeof file?.name === 'string' ? file.name : undefined);
  if (typeof name !== 'string' || !name) throw new TypeError('upload: options.name is required unless the file is a File');
  const contentType = options.contentType || blob.type || 'application/octet-stream';
  // Listen before asking: the verdict may arrive before S3's answer to the POST does.
  const verdict = waitScanned ? scanVerdicts(io) : null;
  try {
    const ticket = await io.rest.call('POST', `/api/chats/${encodeURIComponent(chatId)}/attachments`, {
      name,
      size: blob.size,
      contentType,
    });
    if (typeof ticket?.attachmentId !== 'string' || typeof ticket?.upload?.url !== 'string') {
      throw new TidingsError('INTERNAL', 'The upload form answer has no attachmentId or upload url');
    }
    const form = formData(ticket.upload.fields ?? {}, blob, name);
    await (io.XMLHttpRequest ? postWithXhr : postWithFetch)(io, ticket.upload.url, form, blob.size, onProgress);
    const attachment = { attachmentId: ticket.attachmentId, name, size: blob.size, contentType, expiresAt: ticket.expiresAt };
    if (!verdict) return { ...attachment, status: 'pending' };
    const scanned = await verdict.wait(ticket.attachmentId, scanTimeoutMs);
    if (scanned.payload?.status !== 'clean') {
      throw new InfectedError(`${name} was found infected and deleted: it cannot be sent`, {
        frame: scanned,
        extra: { attachmentId: ticket.attachmentId },
      });
    }
    return { ...attachment, status: 'clean' };
  } finally {
    verdict?.stop();
  }
}

/** `attachment.scanned` frames from now on, by attachment id, and a wait for one of them. */
function scanVerdicts(io) {
  const seen = new Map();
  let waiter = null;
  const off = io.on('attachment.scanned', (payload, frame) => {
    if (typeof payload?.attachmentId !== 'string') return;
    seen.set(payload.attachmentId, frame);
    if (waiter?.attachmentId === payload.attachmentId) waiter.resolve(frame);
  });
  let timer;
  return {
    wait(attachmentId, timeoutMs) {
      if (seen.has(attachmentId)) return Promise.resolve(seen.get(attachmentId));
      return new Promise((resolve, reject) => {
        waiter = { attachmentId, resolve };
        timer = io.clock.setTimeout(() => {
          reject(
            new TidingsError('TIMEOUT', `No scan verdict for ${attachmentId} within ${timeoutMs} ms (GET /api/attachments/{id} answers 409 while scanning)`, {
              extra: { attachmentId },
            }),
          );
        }, timeoutMs);
      });
    },
    stop() {
      off();
      if (timer !== undefined) io.clock.clearTimeout(timer);
    },
  };
}

function asBlob(file, contentType) {
  if (typeof Blob === 'function' && file instanceof Blob) return file;
  if (file instanceof ArrayBuffer || ArrayBuffer.isView(file)) return new Blob([file], contentType ? { type: contentType } : {});
  throw new TypeError('upload: the file must be a Blob, a File, an ArrayBuffer or a typed array');
}

/** The form's fields as they are, then the file as `file` (S3 ignores fields after it). */
function formData(fields, blob, name) {
  const form = new FormData();
  for (const [field, value] of Object.entries(fields)) form.append(field, value);
  form.append('file', blob, name);
  return form;
}

function postWithXhr(io, url, form, size, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new io.XMLHttpRequest();
    xhr.open('POST', url);
    if (onProgress && xhr.upload) {
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress({ loaded: event.loaded, total: event.total });
      };
    }
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress?.({ loaded: size, total: size });
        resolve();
      } else reject(refusal(xhr.status, String(xhr.responseText ?? '')));
    };
    xhr.onerror = () => reject(new TidingsError('NETWORK', `The upload to ${url} failed (network, or the bucket's CORS refused this origin)`));
    xhr.onabort = () => reject(new TidingsError('NETWORK', `The upload to ${url} was aborted`));
    xhr.send(form);
  });
}

async function postWithFetch(io, url, form, size, onProgress) {
  let response;
  try {
    response = await io.fetch(url, { method: 'POST', body: form });
  } catch (cause) {
    throw new TidingsError('NETWORK', `The upload to ${url} failed: ${cause?.message ?? cause}`, { cause });
  }
  if (!response.ok) throw refusal(response.status, await response.text().catch(() => ''));
  onProgress?.({ loaded: size, total: size });
}

/** S3's XML error (`<Error><Code>EntityTooLarge</Code><Message>…</Message></Error>`) as an error. */
function refusal(status, text) {
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
  return new UploadRefusedError(code || `HTTP_${status}`, `S3 refused the upload: ${message || text.trim().slice(0, 200) || status}`, {
    status,
  });
}
