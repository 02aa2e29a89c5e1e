/**
 * Search: the box in the top bar (Ctrl+E), suggestions while typing, and the results panel.
 *
 * - Suggestions (`search.suggest`, debounced by the SDK) from 2 characters on, after the
 *   matching recent searches (kept in localStorage); arrow keys and Enter pick one.
 * - Enter runs `search.query` with the query language (`from:`, `in:`, `mentions:me`,
 *   `has:attachment`, `before:`/`after:`, `during:`, `"phrases"`); results by type, highlights
 *   rendered as text and `<mark>` only (highlight.js).
 * - Offline, the messages this page has loaded are searched instead, and the results say so.
 */

import { h, replaceChildren } from './dom.js';
import { chatTitle, formatSize, formatTime, queryTerms } from './format.js';
import { highlightSegments, markTerms, segmentsFragment } from './highlight.js';

const RECENT_KEY = 'tidings.recentSearches';
const RECENT_MAX = 5;
const SUGGESTIONS_MAX = 5;
const SCOPES = [
  ['all', 'All'],
  ['messages', 'Messages'],
  ['people', 'People'],
  ['channels', 'Channels'],
  ['files', 'Files'],
];
const OPERATORS = ['from:', 'in:', 'mentions:me', 'has:attachment', 'before:YYYY-MM-DD', 'after:YYYY-MM-DD', 'during:this-week', '"exact phrase"'];

export class SearchBox {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
    this.suggestions = [];
    this.selected = -1;
    this.asked = 0; // the latest suggestion request; older answers are dropped
    this.searched = 0;
    this.chatId = null; // searching one chat
    this.scope = 'all';
    this.query = '';
    this.results = null; // {results, total, cursor, offline, error}

    this.input = h('input', {
      type: 'search',
      testid: 'search',
      placeholder: 'Search (Ctrl+E)',
      'aria-label': 'Search',
      autocomplete: 'off',
      role: 'combobox',
      'aria-expanded': 'false',
      'aria-controls': 'search-suggestions',
    });
    this.input.addEventListener('input', () => this.#typed());
    this.input.addEventListener('keydown', (event) => this.#key(event));
    this.input.addEventListener('focus', () => this.#renderSuggestions());
    this.input.addEventListener('blur', () => setTimeout(() => this.#hideSuggestions(), 150));
    this.scopeChip = h('button', { type: 'button', class: 'scope-chip', testid: 'search-scope-chat', hidden: true, title: 'Search every chat', onclick: () => this.#setChat(null) });
    this.list = h('ul', { class: 'suggestions', id: 'search-suggestions', testid: 'suggestions', role: 'listbox', hidden: true });
    this.element = h('div', { class: 'search' }, this.scopeChip, this.input, this.list);
    this.resultsElement = h('section', { class: 'search-results', testid: 'search-results', hidden: true, 'aria-label': 'Search results' });
  }

  /** Ctrl+E, or "Search in this chat". */
  focus({ chatId = null } = {}) {
    this.#setChat(chatId);
    this.input.focus();
    this.input.select();
  }

  close() {
    this.#hideSuggestions();
    this.resultsElement.hidden = true;
  }

  #setChat(chatId) {
    this.chatId = chatId;
    const chat = this.app.store.chats.get(chatId);
    this.scopeChip.hidden = !chat;
    this.scopeChip.textContent = chat ? `in ${chatTitle(chat, this.app.store.me)} ✕` : '';
  }

  // --- suggestions -----------------------------------------------------------------------

  #typed() {
    const query = this.input.value;
    this.selected = -1;
    const asked = ++this.asked;
    if (query.trim().length < 2 || this.app.offline()) {
      this.suggestions = [];
      this.#renderSuggestions();
      return;
    }
    this.app.client.suggest(query).then(
      (suggestions) => {
        if (asked !== this.asked) return; // the user typed on
        this.suggestions = suggestions ?? [];
        this.#renderSuggestions();
      },
      () => {
        if (asked === this.asked) this.suggestions = [];
      },
    );
  }

  #items() {
    const query = this.input.value.trim().toLowerCase();
    const recent = readRecent()
      .filter((text) => text.toLowerCase().startsWith(query) && text.toLowerCase() !== query)
      .slice(0, query.length < 2 ? RECENT_MAX : 2)
      .map((text) => ({ type: 'recent', text }));
    return [...recent, ...this.suggestions].slice(0, SUGGESTIONS_MAX);
  }

  #renderSuggestions() {
    if (document.activeElement !== this.input) return;
    const items = this.#items();
    this.list.hidden = items.length === 0;
    this.input.setAttribute('aria-expanded', String(items.length > 0));
    replaceChildren(
      this.list,
      items.map((item, index) =>
        h(
          'li',
          {
            class: `suggestion suggestion-${item.type}${index === this.selected ? ' selected' : ''}`,
            testid: 'suggestion',
            role: 'option',
            'aria-selected': String(index === this.selected),
            dataset: { type: item.type },
            onmousedown: (event) => event.preventDefault(), // keep the focus in the box
            onclick: () => this.#choose(item),
          },
          h('span', { class: 'suggestion-type' }, SUGGESTION_ICONS[item.type] ?? ''),
          h('span', { class: 'suggestion-text' }, item.highlight ? segmentsFragment(highlightSegments(item.highlight)) : item.text),
          item.type === 'message' && item.senderName ? h('span', { class: 'muted' }, ` — ${item.senderName}`) : null,
        ),
      ),
    );
  }

  #hideSuggestions() {
    this.list.hidden = true;
    this.input.setAttribute('aria-expanded', 'false');
  }

  #key(event) {
    const items = this.#items();
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (!items.length) return;
      // Positions -1 (the typed query) .. items.length - 1, round and round.
      const step = event.key === 'ArrowDown' ? 1 : -1;
      const positions = items.length + 1;
      this.selected = ((this.selected + 1 + step + positions) % positions) - 1;
      this.#renderSuggestions();
    } else if (event.key === 'Enter') {
      event.preventDefault();
      if (this.selected >= 0 && items[this.selected]) this.#choose(items[this.selected]);
      else this.run(this.input.value);
    } else if (event.key === 'Escape') {
      this.close();
      this.input.blur();
    }
  }

  #choose(item) {
    this.#hideSuggestions();
    this.selected = -1;
    const { app } = this;
    if (item.type === 'recent') {
      this.input.value = item.text;
      this.run(item.text);
    } else if (item.type === 'person') {
      const dm = app.store.dmWith(item.userId);
      if (dm) {
        this.input.blur();
        app.openChat(dm.chatId);
      } else {
        this.input.value = `from:${item.userId} `;
        this.input.focus();
      }
    } else if (item.type === 'channel' || item.type === 'chat') {
      this.input.blur();
      app.openChat(item.chatId);
    } else if (item.type === 'message') {
      this.input.blur();
      app.jumpTo(item.chatId, item.messageId);
    } else {
      this.run(item.text ?? this.input.value);
    }
  }

  // --- results ---------------------------------------------------------------------------

  /** Runs a query (a new one, or the next page with `more`). */
  async run(query, { more = false } = {}) {
    const text = String(query ?? '').trim();
    if (!text) return;
    this.#hideSuggestions();
    remember(text);
    const { app } = this;
    const searched = ++this.searched;
    const previous = more ? this.results : null;
    this.query = text;
    this.resultsElement.hidden = false;
    if (!more) {
      this.results = { results: [], total: 0, cursor: null, loading: true };
      this.#renderResults();
    }
    let results;
    if (app.offline()) {
      results = { ...this.#localResults(text), offline: true };
    } else {
      try {
        const answer = await app.client.search(text, { scope: this.scope, chatId: this.chatId ?? undefined, cursor: previous?.cursor ?? undefined, limit: 20 });
        results = { results: [...(previous?.results ?? []), ...(answer.results ?? [])], total: answer.total ?? 0, cursor: answer.cursor ?? null };
      } catch (error) {
        results = { results: previous?.results ?? [], total: previous?.total ?? 0, cursor: null, error: error.code === 'UNAVAILABLE' ? 'Search temporarily unavailable: try again in a moment.' : error.message };
      }
    }
    if (searched !== this.searched) return; // a newer search replaced this one
    this.results = results;
    this.#renderResults();
  }

  /** Offline: the loaded messages that hold every word of the query. */
  #localResults(query) {
    const terms = queryTerms(query).map((term) => term.toLowerCase());
    const results = [];
    if (!terms.length) return { results, total: 0, cursor: null };
    for (const [chatId, messages] of this.app.store.messages) {
      if (this.chatId && chatId !== this.chatId) continue;
      for (const message of messages.values()) {
        const content = (message.content ?? '').toLowerCase();
        if (message.deleted || !message.messageId || !terms.every((term) => content.includes(term))) continue;
        results.push({ type: 'message', local: true, message: { ...message, timestamp: message.createdAt } });
      }
    }
    results.sort((a, b) => (b.message.createdAt ?? '').localeCompare(a.message.createdAt ?? ''));
    return { results, total: results.length, cursor: null };
  }

  #renderResults() {
    const { results, total, cursor, offline, error, loading } = this.results ?? {};
    const { app } = this;
    const chat = app.store.chats.get(this.chatId);
    replaceChildren(
      this.resultsElement,
      h(
        'header',
        { class: 'results-header' },
        h('h2', null, `Results for “${this.query}”`, chat ? ` in ${chatTitle(chat, app.store.me)}` : ''),
        h('button', { type: 'button', class: 'link', testid: 'search-close', onclick: () => this.close() }, 'Close'),
      ),
      h(
        'div',
        { class: 'scopes', role: 'tablist' },
        SCOPES.map(([scope, label]) =>
          h(
            'button',
            {
              type: 'button',
              role: 'tab',
              testid: `scope-${scope}`,
              class: scope === this.scope ? 'active' : '',
              'aria-selected': String(scope === this.scope),
              onclick: () => {
                this.scope = scope;
                this.run(this.query);
              },
            },
            label,
          ),
        ),
      ),
      h(
        'p',
        { class: 'operators muted' },
        'Narrow it down: ',
        OPERATORS.map((operator) =>
          h('button', { type: 'button', class: 'chip', onclick: () => this.#addOperator(operator) }, operator),
        ),
      ),
      offline ? h('p', { class: 'banner offline', testid: 'offline-results' }, "You're offline: these are only the messages loaded on this device.") : null,
      error ? h('p', { class: 'banner error', testid: 'search-error', role: 'alert' }, error) : null,
      loading ? h('p', { class: 'muted' }, 'Searching…') : h('p', { class: 'muted', testid: 'search-total' }, `${total} result${total === 1 ? '' : 's'}`),
      h('ol', { class: 'result-list' }, (results ?? []).map((result) => this.#resultElement(result, offline))),
      cursor ? h('button', { type: 'button', testid: 'search-more', onclick: () => this.run(this.query, { more: true }) }, 'More results') : null,
    );
  }

  #addOperator(operator) {
    const placeholder = operator.match(/YYYY-MM-DD|exact phrase/);
    this.input.value = `${this.input.value.trim()} ${operator}`.trim();
    this.input.focus();
    if (placeholder) {
      const end = this.input.value.length - (operator.endsWith('"') ? 1 : 0);
      this.input.setSelectionRange(end - placeholder[0].length, end);
    }
  }

  #resultElement(result, offline) {
    const { app } = this;
    const store = app.store;
    const highlighted = (field, plain) => {
      const fragment = result.highlight?.[field]?.[0];
      if (fragment) return segmentsFragment(highlightSegments(fragment));
      if (offline) return segmentsFragment(markTerms(plain ?? '', queryTerms(this.query)));
      return plain ?? '';
    };
    const item = (type, onclick, ...children) =>
      h('li', { class: `search-result result-${type}`, testid: 'search-result', dataset: { type }, tabindex: '0', onclick, onkeydown: (event) => event.key === 'Enter' && onclick() }, ...children);
    const done = () => this.close();
    if (result.type === 'message' && result.message) {
      const message = result.message;
      const chat = store.chats.get(message.chatId);
      return item(
        'message',
        () => {
          done();
          app.jumpTo(message.chatId, message.messageId);
        },
        h('div', { class: 'meta' }, h('span', { class: 'sender' }, message.senderName || message.senderId), ` in ${chatTitle(chat, store.me) || message.chatId} · `, formatTime(message.timestamp ?? message.createdAt)),
        h('div', { class: 'fragment', testid: 'search-fragment' }, highlighted('content', message.content)),
      );
    }
    if (result.type === 'person' && result.person) {
      const person = result.person;
      return item(
        'person',
        () => {
          const dm = store.dmWith(person.userId);
          if (dm) {
            done();
            app.openChat(dm.chatId);
          } else {
            this.input.value = `from:${person.userId}`;
            this.run(this.input.value);
          }
        },
        '👤 ',
        h('span', null, highlighted('displayName', person.displayName)),
        h('span', { class: 'muted' }, ` ${person.userId}`),
      );
    }
    if (result.type === 'channel' && result.channel) {
      const channel = result.channel;
      return item(
        'channel',
        () => {
          done();
          app.openChat(channel.channelId);
        },
        channel.type === 'channel' ? '# ' : '👥 ',
        h('span', null, highlighted('name', channel.name)),
        channel.description ? h('span', { class: 'muted' }, ` ${channel.description}`) : null,
      );
    }
    if (result.type === 'file' && result.file) {
      const file = result.file;
      return item(
        'file',
        () => {
          done();
          app.jumpTo(file.chatId, file.messageId);
        },
        '📎 ',
        h('span', null, highlighted('name', file.name)),
        h('span', { class: 'muted' }, ` ${formatSize(file.size)} in ${chatTitle(store.chats.get(file.chatId), store.me) || file.chatId}`),
      );
    }
    return item(result.type ?? 'other', () => {}, h('span', { class: 'muted' }, `A ${result.type ?? 'result'} this client cannot show`));
  }
}

const SUGGESTION_ICONS = { recent: '🕘', person: '👤', channel: '#', chat: '💬', message: '💬' };

function readRecent() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) ?? '[]');
    return Array.isArray(list) ? list.filter((entry) => typeof entry === 'string') : [];
  } catch {
    return [];
  }
}

function remember(query) {
  try {
    const list = [query, ...readRecent().filter((entry) => entry !== query)].slice(0, RECENT_MAX);
    localStorage.setItem(RECENT_KEY, JSON.stringify(list));
  } catch {
    // no storage: no recent searches
  }
}
