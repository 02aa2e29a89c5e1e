/**
 * Attachments, without the DOM: the composer's uploads (one queue per chat, with progress and
 * the scan's verdict) and the files of sent messages fetched for showing (blob URLs).
 *
 * An upload goes through the SDK's `client.upload()` (the form, the POST to S3, the scan):
 * `uploading` (bytes going out, `loaded`/`total`) → `scanning` (S3 has it, the verdict is
 * awaited) → `clean` (sent with the next message) or `infected` / `failed` (kept on screen with
 * the reason until removed, never sent).
 *
 * A sent file is fetched through `GET /api/attachments/{id}` with the bearer token: its `302`
 * goes to a presigned S3 URL, which `fetch` follows; the bytes become a blob URL for `<img>` or
 * a download (an `<img src>` could not carry the token, and the presigned URL lasts 5 minutes).
 */

/** @typedef {'uploading' | 'scanning' | 'clean' | 'infected' | 'failed'} UploadState */

let serial = 0;

export class Uploads {
  /** @type {Map<string, object[]>} chatId → its uploads, in the order chosen */
  #byChat = new Map();

  /**
   * @param {object} o
   * @param {{upload: (chatId: string, file: Blob, options: object) => Promise<object>}} o.client the SDK client
   * @param {() => void} o.onChange
   */
  constructor({ client, onChange }) {
    this.client = client;
    this.onChange = onChange;
  }

  /** Starts uploading a file the user chose for the chat; resolves once it has settled. */
  add(chatId, file) {
    const item = {
      id: `upload-${++serial}`,
      chatId,
      name: file.name,
      size: file.size,
      contentType: file.type || 'application/octet-stream',
      state: /** @type {UploadState} */ ('uploading'),
      loaded: 0,
      total: file.size,
      attachmentId: null,
      error: null,
    };
    if (!this.#byChat.has(chatId)) this.#byChat.set(chatId, []);
    this.#byChat.get(chatId).push(item);
    this.onChange();
    const onProgress = ({ loaded, total }) => {
      if (item.state !== 'uploading') return;
      Object.assign(item, { loaded, total });
      if (total > 0 && loaded >= total) item.state = 'scanning'; // S3 has every byte: the scan is next
      this.onChange();
    };
    return this.client.upload(chatId, file, { onProgress, contentType: item.contentType }).then(
      (uploaded) => {
        Object.assign(item, { state: 'clean', attachmentId: uploaded.attachmentId, loaded: item.total });
        this.onChange();
      },
      (error) => {
        const infected = error?.code === 'INFECTED';
        Object.assign(item, {
          state: infected ? 'infected' : 'failed',
          attachmentId: error?.extra?.attachmentId ?? null,
          error: infected ? 'Infected: the file was removed' : uploadError(error),
        });
        this.onChange();
      },
    );
  }

  /** The chat's uploads, in the order chosen. */
  of(chatId) {
    return this.#byChat.get(chatId) ?? [];
  }

  /** Whether one of the chat's uploads is still on its way (a send waits for it). */
  busy(chatId) {
    return this.of(chatId).some((item) => item.state === 'uploading' || item.state === 'scanning');
  }

  /** The chat's clean uploads, as a message's attachments, taken out of the composer. */
  take(chatId) {
    const clean = this.of(chatId).filter((item) => item.state === 'clean');
    const rest = this.of(chatId).filter((item) => item.state !== 'clean');
    if (rest.length) this.#byChat.set(chatId, rest);
    else this.#byChat.delete(chatId);
    if (clean.length) this.onChange();
    return clean.map(({ attachmentId, name, size, contentType }) => ({ attachmentId, name, size, contentType, status: 'clean' }));
  }

  /** Drops an upload from the composer (an unsent upload is deleted by the server after a day). */
  remove(id) {
    for (const [chatId, items] of this.#byChat) {
      const left = items.filter((item) => item.id !== id);
      if (left.length === items.length) continue;
      if (left.length) this.#byChat.set(chatId, left);
      else this.#byChat.delete(chatId);
      this.onChange();
    }
  }
}

/** A refusal in words: S3's size and type refusals, the form's rate limit, the rest as they came. */
export function uploadError(error) {
  switch (error?.code) {
    case 'EntityTooLarge':
    case 'EntityTooSmall':
      return 'Not uploaded: the file changed size while uploading';
    case 'AccessDenied':
      return 'Not uploaded: the upload was refused (expired, or not the type it said)';
    case 'RATE_LIMITED':
      return `Not uploaded: too many uploads, try again in ${Math.ceil((error.retryAfterMs ?? 60_000) / 1000)} s`;
    default:
      return `Not uploaded: ${error?.message ?? error}`;
  }
}

/** Whether an attachment is shown in the message itself (a scanned image) rather than as a link. */
export function isInline(attachment) {
  return attachment?.status === 'clean' && /^image\//.test(attachment.contentType ?? '');
}

/** The files of sent messages, fetched once each (by attachment id) and kept as blob URLs. */
export class AttachmentFiles {
  /** @type {Map<string, {state: 'loading' | 'ready' | 'error', url?: string, error?: string, promise: Promise<string>}>} */
  #files = new Map();

  /**
   * @param {object} o
   * @param {(attachmentId: string) => Promise<Blob>} o.fetchFile
   * @param {(blob: Blob) => string} o.createUrl `URL.createObjectURL`
   * @param {(url: string) => void} o.revokeUrl `URL.revokeObjectURL`
   * @param {() => void} o.onChange
   */
  constructor({ fetchFile, createUrl, revokeUrl, onChange }) {
    Object.assign(this, { fetchFile, createUrl, revokeUrl, onChange });
  }

  /** What is known of the file: undefined until `load` was called. */
  get(attachmentId) {
    return this.#files.get(attachmentId);
  }

  /** Fetches the file (once; a failed fetch may be retried): resolves with its blob URL. */
  load(attachmentId) {
    const known = this.#files.get(attachmentId);
    if (known && known.state !== 'error') return known.promise;
    const entry = { state: 'loading' };
    entry.promise = this.fetchFile(attachmentId).then(
      (blob) => {
        Object.assign(entry, { state: 'ready', url: this.createUrl(blob) });
        this.onChange();
        return entry.url;
      },
      (error) => {
        Object.assign(entry, { state: 'error', error: error?.message ?? String(error) });
        this.onChange();
        throw error;
      },
    );
    entry.promise.catch(() => {}); // a view that only renders the state need not handle it
    this.#files.set(attachmentId, entry);
    return entry.promise;
  }

  /** Gives every blob URL back (signing out). */
  clear() {
    for (const entry of this.#files.values()) if (entry.url) this.revokeUrl(entry.url);
    this.#files.clear();
  }
}
