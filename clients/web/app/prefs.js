/**
 * Notification preferences (`GET/PUT /api/prefs`): desktop and sound, the default level, the
 * do-not-disturb schedule, and per chat a level, sound and pin.
 *
 * A channel's level and sound go in `channelOverrides` (a channel's own entry wins over its
 * chat entry); a pin, and every other chat's settings, in `chatOverrides`. "Default" removes
 * the override, so the chat follows the default level.
 */

import { h, replaceChildren } from './dom.js';
import { chatTitle } from './format.js';

const LEVELS = [
  ['all', 'All messages'],
  ['mentions_only', 'Mentions only'],
  ['off', 'Off (muted)'],
];

export class PrefsPanel {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
    this.form = h('form', { class: 'prefs-form', onsubmit: (event) => { event.preventDefault(); this.#save(); } });
    this.element = h(
      'div',
      { class: 'overlay', hidden: true, onclick: (event) => event.target === this.element && this.close() },
      h('section', { class: 'prefs', testid: 'prefs', role: 'dialog', 'aria-label': 'Notification preferences' }, this.form),
    );
  }

  /** Builds the form from the preferences now (it is not redrawn while open, so nothing typed
   * is lost). */
  open() {
    this.#build();
    this.element.hidden = false;
    this.form.querySelector('select, input')?.focus();
  }

  close() {
    this.element.hidden = true;
  }

  #build() {
    const { store } = this.app;
    const prefs = store.prefs ?? { global: {}, chatOverrides: {}, channelOverrides: {} };
    const global = prefs.global ?? {};
    const schedule = global.dndSchedule ?? null;
    const zone = schedule?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC';
    const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
    this.fields = {
      desktop: h('input', { type: 'checkbox', testid: 'prefs-desktop', checked: global.desktop !== false }),
      sound: h('input', { type: 'checkbox', testid: 'prefs-sound', checked: global.sound !== false }),
      level: levelSelect('prefs-level', global.level ?? 'all'),
      dndEnabled: h('input', { type: 'checkbox', testid: 'prefs-dnd-enabled', checked: Boolean(schedule?.enabled) }),
      dndStart: h('input', { type: 'time', testid: 'prefs-dnd-start', value: schedule?.startTime ?? '22:00', required: true }),
      dndEnd: h('input', { type: 'time', testid: 'prefs-dnd-end', value: schedule?.endTime ?? '08:00', required: true }),
      dndZone: h('input', { type: 'text', testid: 'prefs-dnd-timezone', value: zone, list: 'prefs-zones', 'aria-label': 'Time zone' }),
    };
    const f = this.fields;
    const chats = store.chatList((chat) => chatTitle(chat, store.me));
    this.rows = chats.map((chat) => {
      const own = chat.type === 'channel' ? prefs.channelOverrides?.[chat.chatId] : null;
      const entry = prefs.chatOverrides?.[chat.chatId];
      const level = own?.level ?? entry?.level ?? 'default';
      return {
        chat,
        level: levelSelect('prefs-chat-level', level, true),
        sound: h('input', { type: 'checkbox', testid: 'prefs-chat-sound', checked: (own ?? entry)?.sound !== false, 'aria-label': 'Sound' }),
        pinned: h('input', { type: 'checkbox', testid: 'prefs-chat-pinned', checked: Boolean(entry?.pinned), 'aria-label': 'Pinned' }),
      };
    });
    this.error = h('p', { class: 'error', testid: 'prefs-error', role: 'alert', hidden: true });
    const permission = globalThis.Notification?.permission;
    replaceChildren(
      this.form,
      h('h2', null, 'Notifications'),
      h('fieldset', null,
        h('legend', null, 'Everywhere'),
        h('label', null, f.desktop, ' Desktop and push notifications'),
        permission === 'default'
          ? h('button', { type: 'button', class: 'link', onclick: () => Notification.requestPermission().then(() => this.#build()) }, 'Allow this browser to show them')
          : null,
        h('label', null, f.sound, ' Sound'),
        h('label', null, 'Notify me about ', f.level),
      ),
      h('fieldset', null,
        h('legend', null, 'Do not disturb, every day'),
        h('label', null, f.dndEnabled, ' On a schedule'),
        h('label', null, 'From ', f.dndStart, ' to ', f.dndEnd),
        h('label', null, 'Time zone ', f.dndZone),
        h('datalist', { id: 'prefs-zones' }, zones.map((name) => h('option', { value: name }))),
        h('p', { class: 'muted' }, 'Urgent messages still reach you.'),
      ),
      h('fieldset', null,
        h('legend', null, 'Chats'),
        h('table', { class: 'prefs-chats' },
          h('thead', null, h('tr', null, h('th', null, 'Chat'), h('th', null, 'Notify'), h('th', null, 'Sound'), h('th', null, 'Pinned'))),
          h('tbody', null, this.rows.map((row) => h('tr', { testid: 'prefs-chat', dataset: { chatId: row.chat.chatId } }, h('td', null, chatTitle(row.chat, store.me)), h('td', null, row.level), h('td', null, row.sound), h('td', null, row.pinned)))),
        ),
      ),
      this.error,
      h('div', { class: 'prefs-buttons' },
        h('button', { type: 'submit', testid: 'prefs-save' }, 'Save'),
        h('button', { type: 'button', testid: 'prefs-cancel', onclick: () => this.close() }, 'Cancel'),
      ),
    );
  }

  /** The form as the preferences document (other fields kept as they were). */
  #collect() {
    const original = this.app.store.prefs ?? {};
    const f = this.fields;
    const prefs = {
      ...structuredClone(original),
      global: {
        ...original.global,
        desktop: f.desktop.checked,
        sound: f.sound.checked,
        level: f.level.value,
        dndSchedule:
          f.dndEnabled.checked || original.global?.dndSchedule
            ? { enabled: f.dndEnabled.checked, startTime: f.dndStart.value, endTime: f.dndEnd.value, timezone: f.dndZone.value.trim() || 'UTC' }
            : null,
      },
      chatOverrides: { ...original.chatOverrides },
      channelOverrides: { ...original.channelOverrides },
    };
    for (const row of this.rows) {
      const chatId = row.chat.chatId;
      const level = row.level.value;
      const sound = row.sound.checked;
      const pinned = row.pinned.checked;
      const chosen = level !== 'default' || !sound;
      const effectiveLevel = level === 'default' ? prefs.global.level : level;
      if (row.chat.type === 'channel') {
        if (chosen) prefs.channelOverrides[chatId] = { level: effectiveLevel, sound };
        else delete prefs.channelOverrides[chatId];
        if (pinned) prefs.chatOverrides[chatId] = { level: effectiveLevel, sound, pinned };
        else delete prefs.chatOverrides[chatId];
      } else if (chosen || pinned) {
        prefs.chatOverrides[chatId] = { level: effectiveLevel, sound, pinned };
      } else {
        delete prefs.chatOverrides[chatId];
      }
    }
    return prefs;
  }

  async #save() {
    this.error.hidden = true;
    try {
      await this.app.savePrefs(this.#collect());
      this.close();
      this.app.showNotice('Preferences saved.');
    } catch (error) {
      this.error.textContent = `Not saved: ${error.message}`;
      this.error.hidden = false;
    }
  }
}

function levelSelect(testid, value, withDefault = false) {
  const options = [...(withDefault ? [['default', 'Default']] : []), ...LEVELS];
  const select = h('select', { testid, 'aria-label': 'Notification level' }, options.map(([level, label]) => h('option', { value: level }, label)));
  select.value = options.some(([level]) => level === value) ? value : options[0][0];
  return select;
}
