/**
 * The signed-in client: the SDK's events into the store, the user's actions into the SDK, and
 * one render after each batch of changes.
 *
 * What the SDK already does is not redone here: reconnects, the outbox (a message written
 * offline is stored and sent when the connection is back), seq order and gap-fill, token
 * refresh, the typing and read-mark rates, presence renewal, the suggestion debounce.
 */

import { TidingsClient } from '../sdk/index.js';
import { uuid } from '../sdk/ids.js';
import { AttachmentFiles, Uploads } from './attachments.js';
import { ChatList } from './chatlist.js';
import { ChatView } from './chatview.js';
import { h, replaceChildren } from './dom.js';
import { chatTitle, dmPartner, dndScheduled, PRESENCE_LABELS } from './format.js';
import { NewChatPanel } from './newchat.js';
import { PrefsPanel } from './prefs.js';
import { SearchBox } from './search.js';
import { forgetSession, SessionEnded } from './session.js';
import { renderSignIn } from './signin.js';
import { Store } from './store.js';
import { ToastQueue } from './toasts.js';
import { ToastView } from './toastview.js';

export const VERSION = '0.1.0';
const HISTORY_PAGE = 50;
const JUMP_MAX_PAGES = 20; // how far back "show this message" loads (1000 messages)
const NOTICE_MS = 6000;

export class App {
  /**
   * @param {HTMLElement} root
   * @param {object} config `config.json`
   * @param {import('./session.js').Session} session
   */
  constructor(root, config, session) {
    this.root = root;
    this.config = config;
    this.session = session;
    this.openChatId = null;
    this.focused = undefined;
    this.subscribed = new Set();
    this.loading = new Map();
    this.scheduled = false;
    this.ended = false;
  }

  async start() {
    this.store = new Store(this.session.userId);
    this.client = new TidingsClient({
      url: this.config.webSocketUrl,
      apiUrl: this.config.apiUrl,
      clientName: `tidings-web/${VERSION}`,
      getToken: (context) => this.#token(context),
    });
    this.toasts = new ToastQueue({ onChange: () => this.schedule() });
    this.uploads = new Uploads({ client: this.client, onChange: () => this.schedule() });
    this.files = new AttachmentFiles({
      fetchFile: (attachmentId) => this.#fetchAttachment(attachmentId),
      createUrl: (blob) => URL.createObjectURL(blob),
      revokeUrl: (url) => URL.revokeObjectURL(url),
      onChange: () => this.schedule(),
    });
    this.#buildShell();
    this.#listen();
    this.store.subscribe(() => this.schedule());
    if (!(await this.#loadInitial())) return;
    this.client.connect().catch(() => {}); // a close it does not fight arrives as the 'closed' state
    window.addEventListener('hashchange', () => this.#openFromHash());
    document.addEventListener('visibilitychange', () => this.#visibilityChanged());
    window.addEventListener('online', () => this.schedule());
    window.addEventListener('offline', () => this.schedule());
    document.addEventListener('keydown', (event) => this.#shortcut(event));
    this.timers = [
      setInterval(() => this.store.sweepTyping(), 1000),
      setInterval(() => this.schedule(), 30_000), // a scheduled do-not-disturb window starts or ends
    ];
    this.#openFromHash();
    this.schedule();
  }

  // --- rendering -------------------------------------------------------------------------

  /** One render per batch of changes (after the current event's handlers). */
  schedule() {
    if (this.scheduled || this.ended) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      if (!this.ended) this.#render();
    });
  }

  #render() {
    const { unread, mentions } = this.store.totals();
    this.totalBadge.hidden = unread === 0 && mentions === 0;
    this.totalBadge.textContent = String(unread);
    this.totalBadge.title = `${unread} unread, ${mentions} mentioning you`;
    this.totalBadge.classList.toggle('has-mentions', mentions > 0);
    document.title = unread ? `(${unread}) Tidings` : 'Tidings';
    this.meName.textContent = this.store.displayName(this.store.me);
    this.statusSelect.value = this.store.myStatus in PRESENCE_LABELS ? this.store.myStatus : 'available';
    this.#renderBanners();
    this.chatList.render();
    this.chatView.render();
    this.toastView.render();
    this.#maybeMarkRead();
  }

  #buildShell() {
    const me = this.store.me;
    this.totalBadge = h('span', { class: 'badge total', testid: 'total-badge', hidden: true });
    this.statusSelect = h(
      'select',
      { testid: 'status-select', 'aria-label': 'Your status', onchange: () => this.setStatus(this.statusSelect.value) },
      Object.entries(PRESENCE_LABELS).map(([status, label]) => h('option', { value: status }, status === 'offline' ? 'Appear offline' : label)),
    );
    this.search = new SearchBox(this);
    this.notice = h('div', { class: 'notice', testid: 'notice', role: 'status', hidden: true });
    this.banners = h('div', { class: 'banners' });
    this.chatList = new ChatList(this);
    this.chatView = new ChatView(this);
    this.toastView = new ToastView(this);
    this.prefsPanel = new PrefsPanel(this);
    this.newChat = new NewChatPanel(this);
    this.meName = h('span', { class: 'me', testid: 'me', dataset: { user: me } }, me);
    replaceChildren(
      this.root,
      h(
        'div',
        { class: 'app', testid: 'app' },
        h(
          'header',
          { class: 'topbar' },
          h('span', { class: 'brand' }, 'Tidings', this.totalBadge),
          this.search.element,
          h(
            'span',
            { class: 'account' },
            this.statusSelect,
            h('button', { type: 'button', testid: 'prefs-button', title: 'Notification preferences', onclick: () => this.prefsPanel.open() }, '🔔 Preferences'),
            this.meName,
            h('button', { type: 'button', class: 'link', testid: 'signout', onclick: () => this.signOut() }, 'Sign out'),
          ),
        ),
        this.banners,
        this.notice,
        h('div', { class: 'layout' }, this.chatList.element, h('main', { class: 'main' }, this.chatView.element, this.search.resultsElement)),
        this.toastView.element,
        this.prefsPanel.element,
        this.newChat.element,
      ),
    );
  }

  #renderBanners() {
    const banners = [];
    const state = this.store.connection;
    if (state === 'closed' && this.store.closedReason) {
      banners.push(
        h(
          'div',
          { class: 'banner error', testid: 'closed-banner', role: 'alert' },
          `Disconnected: ${this.store.closedReason}. `,
          h('button', { type: 'button', onclick: () => this.client.connect().catch(() => {}) }, 'Reconnect'),
        ),
      );
    } else if (this.offline()) {
      const pending = this.store.pendingCount();
      banners.push(
        h(
          'div',
          { class: 'banner offline', testid: 'offline-banner', role: 'status' },
          "You're offline. Messages will be sent when you reconnect.",
          pending ? h('span', { class: 'muted', testid: 'pending-count' }, ` ${pending} waiting.`) : null,
        ),
      );
    }
    const schedule = this.store.prefs?.global?.dndSchedule;
    if (this.store.myStatus === 'dnd') {
      banners.push(
        h(
          'div',
          { class: 'banner dnd', testid: 'dnd-banner', role: 'status' },
          'Do not disturb is on: only urgent messages notify you. ',
          h('button', { type: 'button', testid: 'dnd-off', onclick: () => this.setStatus('available') }, 'Turn off'),
        ),
      );
    } else if (dndScheduled(schedule)) {
      banners.push(
        h(
          'div',
          { class: 'banner dnd', testid: 'dnd-banner', role: 'status' },
          `Do not disturb is scheduled until ${schedule.endTime} (${schedule.timezone}): only urgent messages notify you. `,
          h('button', { type: 'button', onclick: () => this.prefsPanel.open() }, 'Change'),
        ),
      );
    }
    replaceChildren(this.banners, banners);
  }

  /** No connection to count on: the browser is offline, or the SDK lost the connection. (While
   * the first connection is being made, requests simply wait for it.) */
  offline() {
    return !navigator.onLine || this.client.state === 'reconnecting' || this.client.state === 'closed';
  }

  showNotice(text) {
    this.notice.textContent = text;
    this.notice.hidden = false;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => {
      this.notice.hidden = true;
    }, NOTICE_MS);
  }

  // --- the SDK's events ----------------------------------------------------------------------

  #listen() {
    const { client, store } = this;
    client.on('message.new', ({ message }) => {
      if (!store.chats.has(message.chatId)) this.refreshChats();
      if (store.upsertMessage(message)) this.chatView.arrived(message);
    });
    client.on('message.updated', ({ message }) => store.upsertMessage(message));
    client.on('message.deleted', ({ chatId, messageId }) => store.applyDeleted(chatId, messageId));
    client.on('message.reaction', ({ chatId, messageId, reactions }) => store.applyReaction(chatId, messageId, reactions));
    client.on('typing.indicator', (payload) => store.setTyping(payload));
    client.on('read.receipt', (payload) => store.applyReceipt(payload));
    client.on('notification.badge', (payload) => store.applyBadge(payload));
    client.on('notification.toast', (payload) => this.#toast(payload));
    client.on('presence.changed', (payload) => store.setPresence(payload));
    client.on('synced', ({ chatId, headSeq, readWatermarks }) => {
      store.setWatermarks(chatId, readWatermarks);
      store.syncedTo(chatId, headSeq);
    });
    // A busy big chat's messages as a number: the SDK syncs the chat; "N new messages" until then.
    client.on('chat.summary', (payload) => store.applySummary(payload));
    client.on('chat.added', ({ chat }) => {
      if (!chat?.chatId) return;
      store.addChat(chat);
      this.#updatePresence();
    });
    client.on('chat.removed', ({ chatId }) => this.#chatGone(chatId));
    for (const type of ['member.joined', 'member.left', 'chat.updated']) client.on(type, () => this.refreshChats());
    client.on('reset', ({ chatId, reason, messages }) => {
      if (reason === 'forbidden') this.#chatGone(chatId);
      else store.replaceMessages(chatId, messages); // the SDK replays (or has fetched) what is there now
    });
    client.on('state', ({ state, error, reason }) => {
      store.setConnection(state, error ? reason : null);
      if (state === 'closed' && ['UNAUTHORIZED', 'TOKEN'].includes(error?.code)) this.signedOut('Your session has ended: sign in again.');
    });
    client.on('outbox', ({ action, entry, reply, error }) => {
      if (entry.frame.type !== 'message.send') return;
      if (action === 'queued') store.addPending(entry.id, entry.frame.payload, entry.frame.timestamp);
      else if (action === 'acked') store.ackPending(entry.id, reply?.message);
      else if (action === 'failed') store.failPending(entry.id, error);
    });
    client.on('error', (error) => console.warn('[tidings]', error.code, error.message));
  }

  async #token(context) {
    try {
      return await this.session.token(context.reason);
    } catch (error) {
      if (error instanceof SessionEnded) this.signedOut(error.message);
      throw error;
    }
  }

  /** A sent file's bytes: `GET /api/attachments/{id}` with the token answers 302 to a presigned
   * S3 URL, which fetch follows (cross-origin: the bucket's CORS allows GET). */
  async #fetchAttachment(attachmentId) {
    const url = `${this.config.apiUrl.replace(/\/+$/, '')}/api/attachments/${encodeURIComponent(attachmentId)}`;
    const answer = await fetch(url, { headers: { Authorization: `Bearer ${await this.#token({ reason: 'rest' })}` } });
    if (!answer.ok) throw new Error(answer.status === 409 ? 'still being scanned' : `the file could not be fetched (${answer.status})`);
    return answer.blob();
  }

  /** Saves a sent file (fetched as for showing, then handed to the browser as a download). */
  async download(attachment) {
    try {
      const url = await this.files.load(attachment.attachmentId);
      const link = document.createElement('a');
      link.href = url;
      link.download = attachment.name ?? 'attachment';
      link.click();
    } catch (error) {
      this.showNotice(`${attachment.name ?? 'The file'} could not be downloaded: ${error.message}`);
    }
  }

  async #loadInitial() {
    try {
      const [chats, prefs] = await Promise.all([this.client.listChats(), this.client.api('GET', '/api/prefs')]);
      this.store.setChats(chats);
      this.store.setPrefs(prefs);
    } catch (error) {
      if (error?.code === 'UNAUTHORIZED' || error instanceof SessionEnded) {
        this.signedOut('Your session has ended: sign in again.');
        return false;
      }
      this.showNotice(`Your chats could not be loaded: ${error.message}`);
    }
    // Messages written before a reload and not acked yet: the SDK sends them; show them waiting.
    for (const entry of await this.client.pendingMutations()) {
      if (entry.frame.type === 'message.send' && (entry.userId ?? this.store.me) === this.store.me) {
        this.store.addPending(entry.id, entry.frame.payload, entry.frame.timestamp);
      }
    }
    this.#updatePresence();
    return true;
  }

  refreshChats() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(async () => {
      try {
        this.store.setChats(await this.client.listChats());
        this.#updatePresence();
      } catch (error) {
        console.warn('[tidings] the chat list could not be refreshed', error);
      }
    }, 300);
  }

  #chatGone(chatId) {
    this.store.removeChat(chatId);
    if (this.openChatId === chatId) this.openChat(null);
  }

  #toast(payload) {
    // The chat on screen needs no toast (the server skips focused chats; this covers a race).
    if (payload.chatId === this.openChatId && this.pageVisible()) return;
    this.toasts.show({ ...payload, id: payload.id ?? uuid() });
    this.#alertOutside(payload);
  }

  /** A sound (unless turned off for everything or for the chat) and, while the page is hidden,
   * a desktop notification (if the browser allows them and `global.desktop` is on). */
  #alertOutside(payload) {
    const prefs = this.store.prefs;
    const chat = this.store.chats.get(payload.chatId);
    const override = (chat?.type === 'channel' && prefs?.channelOverrides?.[payload.chatId]) || prefs?.chatOverrides?.[payload.chatId];
    if (prefs?.global?.sound !== false && override?.sound !== false) beep();
    if (!this.pageVisible() && prefs?.global?.desktop !== false && globalThis.Notification?.permission === 'granted') {
      const notification = new Notification(payload.title ?? 'Tidings', { body: payload.body ?? '', tag: payload.id });
      notification.onclick = () => {
        window.focus();
        this.jumpTo(payload.chatId, payload.messageId);
      };
    }
  }

  // --- navigation ------------------------------------------------------------------------

  pageVisible() {
    return document.visibilityState === 'visible';
  }

  /** Opens a chat (null: none) through the address (`#chatId`), so Back works. */
  openChat(chatId) {
    const hash = chatId ? `#${encodeURIComponent(chatId)}` : '';
    if (window.location.hash === hash || (!hash && !window.location.hash)) this.#show(chatId);
    else window.location.hash = hash;
  }

  #openFromHash() {
    const wanted = decodeURIComponent(window.location.hash.slice(1));
    this.#show(wanted || null);
  }

  #show(chatId) {
    if (this.openChatId && this.openChatId !== chatId) this.client.stopTyping(this.openChatId);
    this.openChatId = chatId;
    this.chatView.show(chatId);
    this.#sendFocus();
    if (chatId && !this.store.history.get(chatId)?.loaded) this.loadHistory(chatId);
    this.#updatePresence();
    this.schedule();
  }

  #visibilityChanged() {
    this.#sendFocus();
    this.schedule();
  }

  /** `chat.focus`: the chat this connection shows now (none while the page is hidden). */
  #sendFocus() {
    const chatId = this.pageVisible() ? this.openChatId : null;
    if (chatId === this.focused) return;
    this.focused = chatId;
    this.client.focus(chatId).then(
      // What the server now counts as on screen (no badge growth there): tests and tools wait on it.
      () => {
        if (this.focused === chatId) this.root.querySelector('.app').dataset.serverFocus = chatId ?? '';
      },
      (error) => console.warn('[tidings] chat.focus', error),
    );
  }

  /** Loads the newest page of a chat, or (`older`) the page before the oldest loaded. */
  loadHistory(chatId, { older = false } = {}) {
    const key = `${chatId}:${older}`;
    if (this.loading.has(key)) return this.loading.get(key);
    const state = this.store.history.get(chatId);
    if (older && !state?.nextBefore) return Promise.resolve(false);
    const page = older ? { before: state.nextBefore, limit: HISTORY_PAGE } : { limit: HISTORY_PAGE };
    const promise = this.client
      .history(chatId, page)
      .then((result) => {
        this.store.mergeHistory(chatId, result?.messages ?? [], result?.nextBefore ?? null);
        return true;
      })
      .catch((error) => {
        this.showNotice(`Messages could not be loaded: ${error.message}`);
        return false;
      })
      .finally(() => this.loading.delete(key));
    this.loading.set(key, promise);
    return promise;
  }

  /** Opens a chat at a message (a search result, a toast), loading older pages to reach it. */
  async jumpTo(chatId, messageId) {
    if (!this.store.chats.has(chatId)) {
      this.showNotice('That chat is not in your list.');
      return;
    }
    this.openChat(chatId);
    if (!this.store.history.get(chatId)?.loaded) await this.loadHistory(chatId);
    for (let page = 0; messageId && !this.store.message(chatId, messageId) && page < JUMP_MAX_PAGES; page++) {
      if (!(await this.loadHistory(chatId, { older: true }))) break;
    }
    await Promise.resolve(); // the render that shows the loaded pages
    this.#render();
    if (messageId && !this.chatView.reveal(messageId)) this.showNotice('That message is no longer there.');
  }

  // --- presence ----------------------------------------------------------------------------

  /** Presence of the people on screen: DM partners in the list, the open chat's members, me. */
  #updatePresence() {
    const wanted = new Set([this.store.me]);
    for (const chat of this.store.chats.values()) {
      const partner = dmPartner(chat, this.store.me);
      if (partner) wanted.add(partner.userId);
    }
    for (const member of this.store.chats.get(this.openChatId)?.members ?? []) wanted.add(member.userId);
    const added = [...wanted].filter((userId) => !this.subscribed.has(userId));
    const gone = [...this.subscribed].filter((userId) => !wanted.has(userId));
    this.subscribed = wanted;
    const failed = (error) => console.warn('[tidings] presence', error.code, error.message);
    if (added.length) this.client.subscribePresence(added).catch(failed);
    if (gone.length) this.client.unsubscribePresence(gone).catch(failed);
  }

  setStatus(status) {
    this.store.myStatus = status;
    this.store.changed('presence');
    this.client.setPresence(status).catch((error) => this.showNotice(`Your status could not be set: ${error.message}`));
  }

  // --- reading -----------------------------------------------------------------------------

  /** The open chat is on screen, scrolled to its newest message: mark it read. */
  #maybeMarkRead() {
    const chatId = this.openChatId;
    if (!chatId || !this.pageVisible() || !this.chatView.atBottom()) return;
    const chat = this.store.chats.get(chatId);
    const latest = this.store.latestStored(chatId);
    if (!chat || !latest) return;
    if (latest.seq <= (chat.lastReadSeq ?? 0) && !chat.unreadCount && !chat.mentionCount) return;
    this.markRead(chatId, latest.messageId, latest.seq);
  }

  markRead(chatId, messageId, seq) {
    this.store.markedRead(chatId, seq);
    this.client.markRead(chatId, messageId).catch((error) => console.warn('[tidings] read.mark', error.code, error.message));
  }

  // --- writing -----------------------------------------------------------------------------

  /** Sends a message: shown at once (greyed) and kept in the outbox until stored. `attachments`
   * are clean uploads (`{attachmentId, name, size, contentType, status}`); the frame names their ids. */
  send(chatId, content, { replyTo = null, priority = 'normal', attachments = [] } = {}) {
    const id = uuid();
    const payload = {
      chatId,
      content,
      ...(replyTo ? { replyTo } : {}),
      ...(priority === 'urgent' ? { priority } : {}),
      ...(attachments.length ? { attachments } : {}),
    };
    this.store.addPending(id, payload);
    this.chatView.sentByMe();
    this.client.send(chatId, content, {
      id,
      replyTo: replyTo ?? undefined,
      priority: priority === 'urgent' ? 'urgent' : undefined,
      attachments: attachments.length ? attachments.map(({ attachmentId }) => ({ attachmentId })) : undefined,
    }).catch((error) => {
      this.store.failPending(id, error); // the outbox's 'failed' says the same; this covers a refusal before it
      this.showNotice(`Not sent: ${error.message}`);
    });
  }

  retry(message) {
    this.store.dropPending(message.frameId);
    this.send(message.chatId, message.content, { replyTo: message.replyTo, priority: message.priority, attachments: message.attachments ?? [] });
  }

  edit(message, content) {
    const before = this.store.patchMessage(message.chatId, message.messageId, { content, editedAt: new Date().toISOString() });
    this.client.edit(message.messageId, content).catch((error) => {
      if (before) this.store.patchMessage(message.chatId, message.messageId, before);
      this.showNotice(`Not edited: ${error.message}`);
    });
  }

  remove(message) {
    const before = this.store.patchMessage(message.chatId, message.messageId, { deleted: true });
    this.client.delete(message.messageId).catch((error) => {
      if (before) this.store.patchMessage(message.chatId, message.messageId, before);
      this.showNotice(`Not deleted: ${error.message}`);
    });
  }

  toggleReaction(message, emoji) {
    const me = this.store.me;
    const users = message.reactions?.[emoji] ?? [];
    const mine = users.includes(me);
    const reactions = { ...message.reactions, [emoji]: mine ? users.filter((user) => user !== me) : [...users, me] };
    if (!reactions[emoji].length) delete reactions[emoji];
    const before = this.store.patchMessage(message.chatId, message.messageId, { reactions });
    this.client
      .react(message.messageId, emoji, mine ? 'remove' : 'add')
      .then((result) => this.store.applyReaction(message.chatId, message.messageId, result.reactions))
      .catch((error) => {
        if (before) this.store.patchMessage(message.chatId, message.messageId, before);
        this.showNotice(`Reaction not saved: ${error.message}`);
      });
  }

  // --- preferences -------------------------------------------------------------------------

  async savePrefs(prefs) {
    const saved = await this.client.api('PUT', '/api/prefs', prefs);
    this.store.setPrefs(saved);
    this.refreshChats(); // muted and pinned come with the chat list
    return saved;
  }

  /** The toast's "Mute": the chat's notification level becomes `off`. */
  async mute(chatId) {
    const prefs = structuredClone(this.store.prefs ?? { global: {}, chatOverrides: {}, channelOverrides: {} });
    const chat = this.store.chats.get(chatId);
    // A channel's own override wins over its chat override, so that is the one to set.
    const overrides = chat?.type === 'channel' ? (prefs.channelOverrides ??= {}) : (prefs.chatOverrides ??= {});
    overrides[chatId] = { ...overrides[chatId], level: 'off' };
    try {
      await this.savePrefs(prefs);
      this.showNotice(`Muted ${chatTitle(chat, this.store.me)}: no more notifications from it.`);
    } catch (error) {
      this.showNotice(`Not muted: ${error.message}`);
    }
  }

  // --- keys and session ----------------------------------------------------------------------

  #shortcut(event) {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'e') {
      event.preventDefault();
      this.search.focus();
    } else if (event.key === 'Escape') {
      this.search.close();
      this.prefsPanel.close();
    }
  }

  async signOut() {
    this.client.close(); // first: no reconnect while the session is revoked
    try {
      await this.session.signOut();
    } catch (error) {
      console.warn('[tidings] sign-out', error);
    }
    this.signedOut('You signed out.');
  }

  /** Back to the sign-in page (signed out, or the session ended). */
  signedOut(message) {
    if (this.ended) return;
    this.ended = true;
    this.client.close();
    for (const timer of this.timers ?? []) clearInterval(timer);
    this.files?.clear();
    forgetSession();
    const url = new URL(window.location.href);
    url.searchParams.delete('as');
    url.searchParams.delete('token');
    window.history.replaceState(null, '', url);
    renderSignIn(this.root, this.config, message);
  }
}

let audio = null;
/** A short, quiet tone (browsers allow sound only after the user interacted with the page). */
function beep() {
  try {
    audio ??= new AudioContext();
    if (audio.state !== 'running') return;
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    gain.gain.value = 0.04;
    oscillator.frequency.value = 880;
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + 0.12);
  } catch {
    // no audio here
  }
}
