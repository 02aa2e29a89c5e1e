/**
 * Starting a conversation: a DM with someone (the pair's one DM, whoever opens it), a new group
 * or channel with its first members, or a public channel found in the directory and joined.
 *
 * Everything goes through the REST calls the SDK wraps (`openDm`, `createChat`, `channels`,
 * `addMember`); the chat then joins the list at once and opens. The other members learn of it
 * from their `chat.added` frame.
 */

import { h, replaceChildren } from './dom.js';

/** The user ids typed into a members field: split on commas and spaces, `@` dropped, once each,
 * without the caller (who is in the chat anyway). */
export function parseMembers(text, me) {
  const ids = [];
  for (const word of String(text ?? '').split(/[\s,;]+/)) {
    const id = word.replace(/^@/, '');
    if (id && id !== me && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

export class NewChatPanel {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
    this.error = h('p', { class: 'error', testid: 'new-chat-error', role: 'alert', hidden: true });
    this.channelList = h('ul', { class: 'channel-list', testid: 'channel-list' });
    this.fields = {
      dmUser: h('input', { type: 'text', testid: 'new-dm-user', placeholder: 'user id', required: true, 'aria-label': 'User id' }),
      name: h('input', { type: 'text', testid: 'new-chat-name', placeholder: 'name', required: true, maxlength: 100, 'aria-label': 'Name' }),
      type: h(
        'select',
        { testid: 'new-chat-type', 'aria-label': 'Kind', onchange: () => this.#syncVisibility() },
        h('option', { value: 'group' }, 'Group'),
        h('option', { value: 'channel' }, 'Channel'),
      ),
      visibility: h(
        'select',
        { testid: 'new-chat-visibility', 'aria-label': 'Visibility', disabled: true },
        h('option', { value: 'public' }, 'Public (in the directory)'),
        h('option', { value: 'private' }, 'Private'),
      ),
      members: h('input', { type: 'text', testid: 'new-chat-members', placeholder: 'members: bob, carol', 'aria-label': 'Members' }),
      channelQuery: h('input', {
        type: 'search',
        testid: 'channel-query',
        placeholder: 'find a channel',
        'aria-label': 'Find a channel',
        oninput: () => this.#findChannels(),
      }),
    };
    const f = this.fields;
    const form = (testid, onsubmit, ...children) =>
      h('form', { testid, onsubmit: (event) => { event.preventDefault(); this.#run(onsubmit); } }, ...children);
    this.element = h(
      'div',
      { class: 'overlay', hidden: true, onclick: (event) => event.target === this.element && this.close() },
      h(
        'section',
        { class: 'prefs new-chat', testid: 'new-chat', role: 'dialog', 'aria-label': 'New chat' },
        h('h2', {}, 'New chat'),
        this.error,
        h('fieldset', {}, h('legend', {}, 'Message someone'), form('new-dm-form', () => this.#openDm(), f.dmUser, h('button', { type: 'submit', testid: 'new-dm-submit' }, 'Open DM'))),
        h(
          'fieldset',
          {},
          h('legend', {}, 'New group or channel'),
          form('new-chat-form', () => this.#create(), f.type, f.name, f.visibility, f.members, h('button', { type: 'submit', testid: 'new-chat-submit' }, 'Create')),
        ),
        h('fieldset', {}, h('legend', {}, 'Browse channels'), f.channelQuery, this.channelList),
        h('div', { class: 'prefs-buttons' }, h('button', { type: 'button', testid: 'new-chat-close', onclick: () => this.close() }, 'Close')),
      ),
    );
    this.element.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.close();
    });
  }

  /** Opens empty: what was typed for the last chat is not carried into the next one. */
  open() {
    for (const field of [this.fields.dmUser, this.fields.name, this.fields.members, this.fields.channelQuery]) field.value = '';
    this.fields.type.value = 'group';
    this.#syncVisibility();
    this.#showError(null);
    this.element.hidden = false;
    this.fields.dmUser.focus();
    this.#findChannels();
  }

  close() {
    this.element.hidden = true;
  }

  async #openDm() {
    const other = parseMembers(this.fields.dmUser.value, null)[0];
    if (!other) throw new Error('Type the user id of the person to message.');
    if (other === this.app.store.me) throw new Error('That is you: pick someone else.');
    this.#opened(await this.app.client.openDm(other));
  }

  async #create() {
    const f = this.fields;
    const type = f.type.value;
    const chat = { type, name: f.name.value.trim(), members: parseMembers(f.members.value, this.app.store.me) };
    if (!chat.name) throw new Error('A group or channel needs a name.');
    if (type === 'channel') chat.visibility = f.visibility.value;
    this.#opened(await this.app.client.createChat(chat));
  }

  async #join(chatId) {
    await this.app.client.addMember(chatId, this.app.store.me);
    this.#opened(null, chatId);
  }

  #opened(chat, chatId = chat?.chatId) {
    if (chat) this.app.store.addChat(chat);
    this.app.refreshChats(); // the list's own fields (badges, the last read) from the server
    this.close();
    this.app.openChat(chatId);
  }

  async #findChannels() {
    const query = this.fields.channelQuery.value.trim();
    let page;
    try {
      page = await this.app.client.channels(query);
    } catch (error) {
      replaceChildren(this.channelList, h('li', { class: 'muted' }, `The directory could not be loaded: ${error.message}`));
      return;
    }
    if (query !== this.fields.channelQuery.value.trim()) return; // a later search answers
    const mine = this.app.store.chats;
    const items = page.channels.map((channel) =>
      h(
        'li',
        { class: 'channel-item', testid: 'channel-item', dataset: { chatId: channel.chatId } },
        h('span', { class: 'chat-name' }, `# ${channel.name ?? channel.chatId}`),
        channel.description ? h('span', { class: 'muted' }, ` ${channel.description}`) : null,
        mine.has(channel.chatId)
          ? h('button', { type: 'button', testid: 'channel-open', onclick: () => this.#opened(null, channel.chatId) }, 'Open')
          : h('button', { type: 'button', testid: 'channel-join', onclick: () => this.#run(() => this.#join(channel.chatId)) }, 'Join'),
      ),
    );
    replaceChildren(this.channelList, items.length ? items : h('li', { class: 'muted' }, query ? 'No channel matches.' : 'No public channels yet.'));
  }

  #syncVisibility() {
    this.fields.visibility.disabled = this.fields.type.value !== 'channel';
  }

  async #run(action) {
    this.#showError(null);
    try {
      await action();
    } catch (error) {
      this.#showError(error.message);
    }
  }

  #showError(text) {
    this.error.hidden = !text;
    this.error.textContent = text ?? '';
  }
}
