/**
 * The open chat: its messages (edit, delete, reactions, replies, receipts, attachments), who is
 * typing, the "↓ New messages" indicator, and the composer (with its uploads).
 *
 * Scrolling follows the usual chat rule: at the bottom (within 50 px), new messages scroll into
 * view; scrolled up, they do not, and a floating "↓ New messages" button counts them until the
 * user scrolls down or clicks it. Sending always scrolls down.
 */

import { isInline } from './attachments.js';
import { presenceDot } from './chatlist.js';
import { h, replaceChildren } from './dom.js';
import { chatTitle, dmPartner, formatSize, formatTime, presenceLabel, receiptFor, summedText, typingText } from './format.js';

const BOTTOM_THRESHOLD_PX = 50;
const REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢'];
const MENTION_OR_LINK = /(@[A-Za-z0-9_.@:-]+|https?:\/\/[^\s<>"']+)/g;

export class ChatView {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
    this.chatId = null;
    this.rendered = new Map(); // key → {element, signature}
    this.stick = true; // scrolled to the bottom: new messages scroll into view
    this.arrivals = 0; // messages from others that came in since the last render
    this.newCount = 0;
    this.scrollToEnd = false;
    this.editing = null; // messageId whose content is being edited
    this.confirming = null; // messageId whose delete waits for confirmation
    this.picking = null; // messageId whose reaction picker is open
    this.replyTo = null; // {chatId, messageId}
    this.urgent = false;
    this.drafts = new Map();

    this.title = h('h2', { class: 'chat-title', testid: 'chat-title' });
    this.members = h('div', { class: 'chat-members', testid: 'chat-members' });
    this.searchHere = h('button', { type: 'button', class: 'link', testid: 'search-in-chat', onclick: () => app.search.focus({ chatId: this.chatId }) }, '🔍 Search in this chat');
    this.olderButton = h('button', { type: 'button', class: 'link older', testid: 'load-older', hidden: true, onclick: () => this.#loadOlder() }, 'Load earlier messages');
    this.list = h('div', { class: 'message-list' });
    this.scroller = h('div', { class: 'messages', testid: 'messages', tabindex: '0' }, this.olderButton, this.list);
    this.scroller.addEventListener('scroll', () => this.#scrolled());
    this.newMessages = h('button', { type: 'button', class: 'new-messages', testid: 'new-messages', hidden: true, onclick: () => this.#jumpToEnd() });
    this.typing = h('div', { class: 'typing', testid: 'typing', 'aria-live': 'polite' });
    this.summary = h('div', { class: 'summary-banner', testid: 'summary-banner', role: 'status', hidden: true });
    this.replyBar = h('div', { class: 'reply-bar', testid: 'reply-bar', hidden: true });
    this.composer = h('textarea', {
      testid: 'composer',
      rows: '1',
      placeholder: 'Type a message',
      'aria-label': 'Message',
      maxlength: '16000',
    });
    this.composer.addEventListener('input', () => this.#typed());
    this.composer.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.#submit();
      } else if (event.key === 'Escape' && this.replyTo) {
        this.replyTo = null;
        this.app.schedule();
      }
    });
    this.urgentToggle = h('button', {
      type: 'button',
      class: 'urgent-toggle',
      testid: 'urgent-toggle',
      title: 'Urgent: notifies even in do not disturb (3 an hour)',
      'aria-pressed': 'false',
      onclick: () => {
        this.urgent = !this.urgent;
        this.app.schedule();
      },
    }, '❗');
    this.fileInput = h('input', {
      type: 'file',
      multiple: true,
      hidden: true,
      testid: 'attach-input',
      onchange: () => {
        for (const file of this.fileInput.files ?? []) if (this.chatId) this.app.uploads.add(this.chatId, file);
        this.fileInput.value = ''; // the same file may be chosen again
      },
    });
    this.attachButton = h('button', { type: 'button', class: 'attach', testid: 'attach-button', title: 'Attach files', onclick: () => this.fileInput.click() }, '📎');
    this.sendButton = h('button', { type: 'submit', testid: 'send' }, 'Send');
    this.uploadTray = h('ul', { class: 'uploads', testid: 'uploads', hidden: true });
    this.form = h(
      'form',
      { class: 'composer', testid: 'composer-form', onsubmit: (event) => { event.preventDefault(); this.#submit(); } },
      this.urgentToggle,
      this.attachButton,
      this.fileInput,
      this.composer,
      this.sendButton,
    );
    this.empty = h('div', { class: 'chat-empty muted', testid: 'no-chat' }, 'Pick a chat on the left.');
    this.body = h(
      'section',
      { class: 'chat', testid: 'chat', hidden: true },
      h('header', { class: 'chat-header' }, h('div', null, this.title, this.members), this.searchHere),
      this.summary,
      h('div', { class: 'messages-wrap' }, this.scroller, this.newMessages),
      this.typing,
      this.replyBar,
      this.uploadTray,
      this.form,
    );
    this.element = h('div', { class: 'chat-pane' }, this.empty, this.body);
  }

  /** Switches to a chat (null: none). */
  show(chatId) {
    if (chatId === this.chatId) return;
    if (this.chatId) this.drafts.set(this.chatId, this.composer.value);
    this.chatId = chatId;
    this.rendered.clear();
    this.list.replaceChildren();
    this.stick = true;
    this.arrivals = 0;
    this.newCount = 0;
    this.editing = this.confirming = this.picking = null;
    if (this.replyTo?.chatId !== chatId) this.replyTo = null;
    this.composer.value = this.drafts.get(chatId) ?? '';
    this.body.dataset.chatId = chatId ?? '';
  }

  /** A message came in (live or from a sync): counted for the indicator if it is not mine. */
  arrived(message) {
    if (message.chatId === this.chatId && message.senderId !== this.app.store.me) this.arrivals += 1;
  }

  /** I sent a message: show the newest. */
  sentByMe() {
    this.scrollToEnd = true;
  }

  focusComposer() {
    this.composer.focus();
  }

  /** Replying to a message (a toast's "Reply", or the message's own button). */
  startReply(chatId, messageId) {
    this.replyTo = messageId ? { chatId, messageId } : null;
    this.app.schedule();
    queueMicrotask(() => this.composer.focus());
  }

  atBottom() {
    const { scrollHeight, scrollTop, clientHeight } = this.scroller;
    return scrollHeight - scrollTop - clientHeight <= BOTTOM_THRESHOLD_PX;
  }

  /** Scrolls a message into view and flashes it; false if it is not loaded. */
  reveal(messageId) {
    const entry = [...this.rendered.values()].find(({ element }) => element.dataset.messageId === messageId);
    if (!entry) return false;
    this.stick = false;
    entry.element.scrollIntoView({ block: 'center' });
    entry.element.classList.add('flash');
    setTimeout(() => entry.element.classList.remove('flash'), 2000);
    return true;
  }

  render() {
    const { store } = this.app;
    const chat = store.chats.get(this.chatId);
    this.empty.hidden = Boolean(chat);
    this.body.hidden = !chat;
    if (!chat) {
      this.empty.textContent = this.chatId && store.chatsLoaded ? 'That chat is not in your list.' : 'Pick a chat on the left.';
      return;
    }
    this.#renderHeader(chat);
    const heightBefore = this.scroller.scrollHeight;
    const firstBefore = this.list.firstElementChild;
    this.#renderMessages(chat);
    this.olderButton.hidden = !store.history.get(chat.chatId)?.nextBefore;

    if (this.scrollToEnd || this.stick) {
      this.#toBottom();
      if (this.scrollToEnd) this.newCount = 0; // sending shows the newest: nothing is new any more
    } else {
      if (this.arrivals) this.newCount += this.arrivals;
      // Older messages added above: keep the ones on screen where they were.
      if (firstBefore && this.list.firstElementChild !== firstBefore) this.scroller.scrollTop += this.scroller.scrollHeight - heightBefore;
    }
    this.arrivals = 0;
    this.scrollToEnd = false;
    this.newMessages.hidden = this.newCount === 0;
    this.newMessages.textContent = `↓ New messages (${this.newCount})`;

    const summed = store.summaryOf(chat.chatId);
    this.summary.hidden = summed === 0;
    this.summary.textContent = summedText(summed);
    this.typing.textContent = typingText(store.typingNames(chat.chatId));
    this.#renderReplyBar();
    this.#renderUploads();
    this.urgentToggle.setAttribute('aria-pressed', String(this.urgent));
    this.urgentToggle.classList.toggle('on', this.urgent);
  }

  #renderHeader(chat) {
    const { store } = this.app;
    this.title.textContent = chatTitle(chat, store.me);
    const partner = dmPartner(chat, store.me);
    if (partner) {
      const presence = store.presence.get(partner.userId);
      replaceChildren(this.members, presenceDot(partner.userId, presence), h('span', { class: 'muted', testid: 'partner-status' }, ` ${presenceLabel(presence)}`));
    } else {
      const members = chat.members ?? [];
      replaceChildren(
        this.members,
        h('span', { class: 'muted' }, `${members.length} members: `),
        members.map((member) => h('span', { class: 'member' }, presenceDot(member.userId, store.presence.get(member.userId)), ` ${member.displayName || member.userId}`)),
      );
    }
  }

  #renderMessages(chat) {
    const { store } = this.app;
    const messages = store.sortedMessages(chat.chatId);
    const watermarks = store.watermarksOf(chat.chatId);
    const keep = new Set();
    messages.forEach((message, index) => {
      keep.add(message.key);
      const mine = message.senderId === store.me;
      const receipt = mine && !message.deleted ? receiptFor(chat, message, watermarks, store.me) : null;
      const quoted = message.replyTo ? store.message(chat.chatId, message.replyTo) : null;
      const signature = [
        message.version,
        this.#filesSignature(message),
        receipt?.text,
        receipt?.title,
        quoted?.version,
        this.#is('editing', message),
        this.#is('confirming', message),
        this.#is('picking', message),
      ].join('|');
      let entry = this.rendered.get(message.key);
      if (!entry || entry.signature !== signature) {
        const element = this.#messageElement(chat, message, receipt, quoted);
        if (entry) entry.element.replaceWith(element);
        entry = { element, signature };
        this.rendered.set(message.key, entry);
      }
      if (this.list.children[index] !== entry.element) this.list.insertBefore(entry.element, this.list.children[index] ?? null);
    });
    for (const [key, entry] of this.rendered) {
      if (!keep.has(key)) {
        entry.element.remove();
        this.rendered.delete(key);
      }
    }
  }

  #messageElement(chat, message, receipt, quoted) {
    const { store } = this.app;
    const mine = message.senderId === store.me;
    const admin = chat.members?.some((member) => member.userId === store.me && member.role === 'admin');
    const stored = message.status === 'sent' && !message.deleted;
    const classes = ['message', mine ? 'mine' : 'theirs', message.status, message.deleted ? 'deleted' : '', message.priority === 'urgent' ? 'urgent' : ''];
    if ((message.mentions ?? []).includes(store.me)) classes.push('mentions-me');
    const element = h('article', {
      class: classes.filter(Boolean).join(' '),
      testid: 'message',
      dataset: { messageId: message.messageId ?? '', seq: Number.isFinite(message.seq) ? message.seq : '', sender: message.senderId, status: message.status },
    });
    const meta = h(
      'div',
      { class: 'meta' },
      h('span', { class: 'sender', testid: 'sender' }, message.senderName || store.displayName(message.senderId)),
      ' ',
      h('time', { datetime: message.createdAt, title: message.createdAt }, formatTime(message.createdAt)),
      message.editedAt && !message.deleted ? h('span', { class: 'edited', testid: 'edited' }, ' (edited)') : null,
      message.priority === 'urgent' ? h('span', { class: 'urgent-flag' }, ' URGENT') : null,
    );
    const parts = [meta];
    if (message.replyTo) {
      const quote = quoted
        ? `${quoted.senderName || quoted.senderId}: ${quoted.deleted ? 'Message deleted' : truncate(quoted.content ?? '', 120)}`
        : 'An earlier message';
      parts.push(
        h('blockquote', { class: 'reply-quote', testid: 'reply-quote', title: 'Show the message', onclick: () => this.app.jumpTo(chat.chatId, message.replyTo) }, `↪ ${quote}`),
      );
    }
    if (message.deleted) {
      parts.push(h('div', { class: 'content deleted', testid: 'message-content' }, 'This message was deleted.'));
    } else if (this.#is('editing', message)) {
      parts.push(this.#editor(message));
    } else {
      parts.push(h('div', { class: 'content', testid: 'message-content' }, contentNodes(message, store.me)));
    }
    if (!message.deleted && message.attachments?.length) {
      parts.push(h('ul', { class: 'attachments' }, message.attachments.map((attachment) => this.#attachmentElement(attachment))));
    }
    const reactions = Object.entries(message.reactions ?? {}).filter(([, users]) => users.length);
    if (reactions.length) {
      parts.push(
        h(
          'div',
          { class: 'reactions' },
          reactions.map(([emoji, users]) =>
            h(
              'button',
              {
                type: 'button',
                class: `reaction${users.includes(store.me) ? ' mine' : ''}`,
                testid: 'reaction',
                dataset: { emoji },
                title: users.map((user) => store.displayName(user)).join(', '),
                disabled: !stored,
                onclick: () => this.app.toggleReaction(message, emoji),
              },
              `${emoji} ${users.length}`,
            ),
          ),
        ),
      );
    }
    if (receipt) parts.push(h('div', { class: `receipt ${receipt.state}`, testid: 'receipt', dataset: { state: receipt.state }, title: receipt.title }, receipt.text));
    if (this.#is('confirming', message)) {
      parts.push(
        h(
          'div',
          { class: 'confirm', testid: 'confirm-delete' },
          'Delete this message for everyone? ',
          h('button', { type: 'button', class: 'danger', testid: 'confirm-delete-yes', onclick: () => this.#confirmDelete(message) }, 'Delete'),
          h('button', { type: 'button', onclick: () => this.#setState('confirming', null) }, 'Cancel'),
        ),
      );
    }
    if (this.#is('picking', message)) {
      parts.push(
        h(
          'div',
          { class: 'emoji-picker', testid: 'emoji-picker' },
          REACTIONS.map((emoji) =>
            h('button', { type: 'button', testid: 'emoji', dataset: { emoji }, onclick: () => { this.picking = null; this.app.toggleReaction(message, emoji); } }, emoji),
          ),
        ),
      );
    }
    const actions = [];
    if (message.status === 'failed') {
      actions.push(
        h('span', { class: 'error', testid: 'send-error' }, `Not sent: ${message.error ?? ''} `),
        h('button', { type: 'button', testid: 'retry', onclick: () => this.app.retry(message) }, 'Retry'),
        h('button', { type: 'button', testid: 'discard', onclick: () => this.app.store.dropPending(message.frameId) }, 'Discard'),
      );
    } else if (stored) {
      actions.push(
        h('button', { type: 'button', testid: 'reply-button', title: 'Reply', onclick: () => this.startReply(chat.chatId, message.messageId) }, '↩'),
        h('button', { type: 'button', testid: 'react-button', title: 'React', onclick: () => this.#setState('picking', this.picking === message.messageId ? null : message.messageId) }, '☺'),
      );
      if (mine) actions.push(h('button', { type: 'button', testid: 'edit-button', title: 'Edit', onclick: () => this.#setState('editing', message.messageId) }, '✎'));
      if (mine || admin) actions.push(h('button', { type: 'button', testid: 'delete-button', title: 'Delete', onclick: () => this.#setState('confirming', message.messageId) }, '🗑'));
    }
    if (actions.length) parts.push(h('div', { class: 'actions' }, actions));
    element.append(...parts);
    return element;
  }

  /** A scanned image inline (its bytes fetched with the token, as a blob URL), any other file as
   * a download link; one not clean (still scanning, infected) says so and offers nothing. */
  #attachmentElement(attachment) {
    const name = attachment.name ?? attachment.attachmentId;
    const status = attachment.status ?? 'clean';
    const size = Number.isFinite(attachment.size) ? h('span', { class: 'muted' }, ` ${formatSize(attachment.size)}`) : null;
    const item = (...children) => h('li', { class: `attachment ${status}`, testid: 'attachment', dataset: { attachmentId: attachment.attachmentId, status } }, ...children);
    if (status !== 'clean') {
      const why = status === 'infected' ? 'infected: removed' : 'being scanned…';
      return item('📎 ', h('span', { class: 'file-name' }, name), size, h('span', { class: 'attachment-state', testid: 'attachment-state' }, ` (${why})`));
    }
    if (isInline(attachment)) {
      const file = this.app.files.get(attachment.attachmentId);
      if (!file) this.app.files.load(attachment.attachmentId);
      const shown =
        file?.state === 'ready'
          ? h('img', { class: 'attachment-image', testid: 'attachment-image', src: file.url, alt: name, title: name, onclick: () => this.app.download(attachment) })
          : h('span', { class: 'attachment-state muted', testid: 'attachment-state' }, file?.state === 'error' ? `🖼 ${name}: ${file.error}` : `🖼 Loading ${name}…`);
      return item(shown);
    }
    return item(
      '📎 ',
      h('a', { href: '#', class: 'file-name', testid: 'attachment-link', title: `Download ${name}`, onclick: (event) => { event.preventDefault(); this.app.download(attachment); } }, name),
      size,
    );
  }

  /** What of a message's attachments has changed since it was drawn: its images' fetches. */
  #filesSignature(message) {
    return (message.attachments ?? []).map((attachment) => (isInline(attachment) ? (this.app.files.get(attachment.attachmentId)?.state ?? '-') : '')).join(',');
  }

  /** The composer's uploads: progress while the bytes go out, then the scan, then ready (or why not). */
  #renderUploads() {
    const items = this.chatId ? this.app.uploads.of(this.chatId) : [];
    this.uploadTray.hidden = items.length === 0;
    const busy = this.chatId ? this.app.uploads.busy(this.chatId) : false;
    this.sendButton.disabled = busy;
    this.sendButton.title = busy ? 'Waiting for the uploads' : '';
    replaceChildren(
      this.uploadTray,
      items.map((upload) => {
        const percent = upload.total ? Math.min(100, Math.round((upload.loaded / upload.total) * 100)) : 0;
        const label = { uploading: `Uploading ${percent}%`, scanning: 'Scanning…', clean: 'Ready', infected: upload.error, failed: upload.error }[upload.state];
        return h(
          'li',
          { class: `upload ${upload.state}`, testid: 'upload', dataset: { state: upload.state, name: upload.name } },
          h('span', { class: 'file-name' }, `📎 ${upload.name}`),
          h('span', { class: 'muted' }, ` ${formatSize(upload.size)} `),
          upload.state === 'uploading' ? h('progress', { testid: 'upload-progress', max: '100', value: String(percent) }) : null,
          h('span', { class: 'upload-state', testid: 'upload-state', role: upload.state === 'infected' || upload.state === 'failed' ? 'alert' : null }, ` ${label} `),
          h('button', { type: 'button', class: 'link', testid: 'upload-remove', title: 'Remove', onclick: () => this.app.uploads.remove(upload.id) }, '✕'),
        );
      }),
    );
  }

  #editor(message) {
    const input = h('textarea', { class: 'edit-input', testid: 'edit-input', value: message.content ?? '', maxlength: '16000', 'aria-label': 'Edit message' });
    const save = () => {
      const content = input.value.trim();
      this.editing = null;
      if (content && content !== message.content) this.app.edit(message, content);
      this.app.schedule();
    };
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey) {
        event.preventDefault();
        save();
      } else if (event.key === 'Escape') {
        event.stopPropagation();
        this.#setState('editing', null);
      }
    });
    queueMicrotask(() => {
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    });
    return h(
      'div',
      { class: 'editor' },
      input,
      h('button', { type: 'button', testid: 'edit-save', onclick: save }, 'Save'),
      h('button', { type: 'button', onclick: () => this.#setState('editing', null) }, 'Cancel'),
    );
  }

  /** Whether a stored message is the one being edited / confirmed / reacted to (a pending
   * message has no id yet, and is none of them). */
  #is(state, message) {
    return message.messageId != null && this[state] === message.messageId;
  }

  #setState(name, value) {
    this[name] = value;
    this.app.schedule();
  }

  #confirmDelete(message) {
    this.confirming = null;
    this.app.remove(message);
    this.app.schedule();
  }

  #renderReplyBar() {
    const target = this.replyTo && this.replyTo.chatId === this.chatId ? this.app.store.message(this.chatId, this.replyTo.messageId) : null;
    this.replyBar.hidden = !target;
    if (!target) return;
    replaceChildren(
      this.replyBar,
      h('span', null, `Replying to ${target.senderName || target.senderId}: ${truncate(target.content ?? '', 80)}`),
      h('button', { type: 'button', class: 'link', testid: 'reply-cancel', title: 'Cancel the reply', onclick: () => this.#setState('replyTo', null) }, '✕'),
    );
  }

  #typed() {
    if (!this.chatId) return;
    if (this.composer.value.trim()) this.app.client.typing(this.chatId);
    else this.app.client.stopTyping(this.chatId);
  }

  #submit() {
    if (!this.chatId || this.app.uploads.busy(this.chatId)) return; // Send waits for the uploads
    const text = this.composer.value.trim();
    if (!text && !this.app.uploads.of(this.chatId).some((upload) => upload.state === 'clean')) return;
    const attachments = this.app.uploads.take(this.chatId);
    // A message needs text: files sent alone are named in it.
    const content = text || attachments.map((attachment) => attachment.name).join(', ');
    this.app.send(this.chatId, content, {
      replyTo: this.replyTo?.chatId === this.chatId ? this.replyTo.messageId : null,
      priority: this.urgent ? 'urgent' : 'normal',
      attachments,
    });
    this.composer.value = '';
    this.drafts.delete(this.chatId);
    this.replyTo = null;
    this.urgent = false;
    this.app.schedule();
  }

  #scrolled() {
    this.stick = this.atBottom();
    if (this.stick && this.newCount) {
      this.newCount = 0;
      this.app.schedule(); // hides the indicator, and marks the chat read
    } else if (this.stick) {
      this.app.schedule();
    }
    if (this.scroller.scrollTop < 20) this.#loadOlder();
  }

  #loadOlder() {
    if (this.chatId) this.app.loadHistory(this.chatId, { older: true });
  }

  #jumpToEnd() {
    this.newCount = 0;
    this.#toBottom();
    this.app.schedule();
  }

  #toBottom() {
    this.stick = true;
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}

/** A message's text with @mentions and links picked out; text nodes only, never HTML. */
function contentNodes(message, me) {
  const mentions = new Set([...(message.mentions ?? []), 'channel', 'here']);
  return String(message.content ?? '')
    .split(MENTION_OR_LINK)
    .filter(Boolean)
    .map((piece) => {
      if (piece.startsWith('@') && mentions.has(piece.slice(1))) {
        return h('span', { class: `mention${piece.slice(1) === me ? ' me' : ''}` }, piece);
      }
      if (/^https?:\/\//.test(piece)) return h('a', { href: piece, target: '_blank', rel: 'noopener noreferrer' }, piece);
      return piece;
    });
}

function truncate(text, length) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}
