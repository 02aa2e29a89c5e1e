/** The chat list: name, presence of a DM's partner, last message, unread and mention badges. */

import { h, replaceChildren } from './dom.js';
import { chatTitle, dmPartner, presenceLabel } from './format.js';

export class ChatList {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
    this.items = new Map();
    this.list = h('ul', { class: 'chat-items', role: 'list' });
    const newChat = h('button', { type: 'button', class: 'new-chat-button', testid: 'new-chat-button', title: 'Message someone, create a group or channel, join a channel', onclick: () => app.newChat.open() }, '＋ New');
    this.element = h('nav', { class: 'sidebar', testid: 'chat-list', 'aria-label': 'Chats' }, h('h2', { class: 'sidebar-title' }, 'Chats', newChat), this.list);
  }

  render() {
    const { store } = this.app;
    const me = store.me;
    const chats = store.chatList((chat) => chatTitle(chat, me));
    const keep = new Set(chats.map((chat) => chat.chatId));
    for (const [chatId, item] of this.items) {
      if (!keep.has(chatId)) {
        item.remove();
        this.items.delete(chatId);
      }
    }
    if (!chats.length && store.chatsLoaded) {
      replaceChildren(this.list, h('li', { class: 'muted empty' }, 'No chats yet.'));
      return;
    }
    this.list.querySelector('.empty')?.remove();
    chats.forEach((chat, index) => {
      let item = this.items.get(chat.chatId);
      if (!item) {
        item = h('li', { class: 'chat-item', testid: 'chat-item', dataset: { chatId: chat.chatId }, role: 'listitem' });
        item.addEventListener('click', () => this.app.openChat(chat.chatId));
        item.tabIndex = 0;
        item.addEventListener('keydown', (event) => {
          if (event.key === 'Enter') this.app.openChat(chat.chatId);
        });
        this.items.set(chat.chatId, item);
      }
      this.#fill(item, chat);
      if (this.list.children[index] !== item) this.list.insertBefore(item, this.list.children[index] ?? null);
    });
  }

  #fill(item, chat) {
    const { store } = this.app;
    const me = store.me;
    const partner = dmPartner(chat, me);
    const presence = partner ? store.presence.get(partner.userId) : null;
    const typing = store.typingNames(chat.chatId);
    const last = chat.lastMessage;
    const preview = typing.length
      ? h('span', { class: 'typing-preview' }, typing.length === 1 ? `${typing[0]} is typing…` : 'Several people are typing…')
      : last
        ? `${last.senderId === me ? 'You' : last.senderName || last.senderId}: ${last.deleted ? 'Message deleted' : (last.content ?? '')}`
        : '';
    const unread = chat.unreadCount ?? 0;
    const mentions = chat.mentionCount ?? 0;
    const summed = store.summaryOf(chat.chatId); // a busy big chat's messages on their way
    item.classList.toggle('active', chat.chatId === this.app.openChatId);
    item.classList.toggle('unread', unread > 0);
    item.setAttribute('aria-current', chat.chatId === this.app.openChatId ? 'true' : 'false');
    replaceChildren(
      item,
      partner
        ? presenceDot(partner.userId, presence)
        : h('span', { class: `chat-icon ${chat.type}`, 'aria-hidden': 'true' }, chat.type === 'channel' ? '#' : '👥'),
      h(
        'span',
        { class: 'chat-item-text' },
        h('span', { class: 'chat-name', testid: 'chat-name' }, chatTitle(chat, me), chat.muted ? h('span', { class: 'muted-icon', title: 'Muted', testid: 'muted-icon' }, ' 🔕') : null, chat.pinned ? h('span', { class: 'pin', title: 'Pinned' }, ' 📌') : null),
        h('span', { class: 'chat-preview' }, preview),
      ),
      mentions > 0 ? h('span', { class: 'badge mention', testid: 'mention-badge', title: `${mentions} mentioning you` }, `@${mentions}`) : null,
      unread > 0 ? h('span', { class: 'badge', testid: 'badge', title: `${unread} unread` }, String(unread)) : null,
      summed > 0 ? h('span', { class: 'badge summary', testid: 'summary-badge', title: `${summed} new messages on their way` }, `+${summed}`) : null,
    );
  }
}

/** A presence dot: green available, yellow away/brb, red dnd/meeting, grey offline. */
export function presenceDot(userId, presence) {
  const status = presence?.status ?? 'unknown';
  return h('span', {
    class: `presence-dot ${status}`,
    testid: 'presence-dot',
    dataset: { user: userId, status },
    title: presenceLabel(presence),
    role: 'img',
    'aria-label': presenceLabel(presence),
  });
}
