/** The toast stack on screen: {@link ToastQueue}'s visible toasts, with their actions. */

import { h } from './dom.js';

const ACTION_LABELS = { reply: 'Reply', markRead: 'Mark as read', mute: 'Mute' };
const ACTION_TESTIDS = { reply: 'toast-reply', markRead: 'toast-mark-read', mute: 'toast-mute' };

export class ToastView {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
    this.element = h('div', { class: 'toasts', testid: 'toasts', 'aria-live': 'polite' });
    this.rendered = new Map();
  }

  render() {
    const { toasts } = this.app;
    const visible = toasts.visible;
    const keep = new Set(visible.map((toast) => toast.id));
    for (const [id, entry] of this.rendered) {
      if (!keep.has(id)) {
        entry.element.remove();
        this.rendered.delete(id);
      }
    }
    visible.forEach((toast, index) => {
      let entry = this.rendered.get(toast.id);
      if (!entry || entry.toast !== toast) {
        const element = this.#toastElement(toast);
        if (entry) entry.element.replaceWith(element);
        entry = { element, toast };
        this.rendered.set(toast.id, entry);
      }
      if (this.element.children[index] !== entry.element) this.element.insertBefore(entry.element, this.element.children[index] ?? null);
    });
    this.element.dataset.queued = String(toasts.queued.length);
  }

  #toastElement(toast) {
    const { app } = this;
    const dismiss = () => app.toasts.dismiss(toast.id);
    const run = (action) => (event) => {
      event.stopPropagation();
      dismiss();
      if (action === 'reply') {
        app.openChat(toast.chatId);
        app.chatView.startReply(toast.chatId, app.store.message(toast.chatId, toast.messageId) ? toast.messageId : null);
      } else if (action === 'markRead') {
        app.markRead(toast.chatId, toast.messageId);
      } else if (action === 'mute') {
        app.mute(toast.chatId);
      }
    };
    const urgent = toast.priority === 'urgent';
    const element = h(
      'div',
      {
        class: `toast${urgent ? ' urgent' : ''}`,
        testid: 'toast',
        role: urgent ? 'alert' : 'status',
        dataset: { toastId: toast.id, chatId: toast.chatId ?? '', priority: toast.priority ?? 'normal', count: toast.count ?? 1 },
        title: 'Open the message',
        onclick: () => {
          dismiss();
          app.jumpTo(toast.chatId, toast.messageId);
        },
        onmouseenter: () => app.toasts.hold(toast.id),
        onmouseleave: () => app.toasts.release(toast.id),
      },
      h('button', { type: 'button', class: 'toast-close', testid: 'toast-close', title: 'Dismiss', 'aria-label': 'Dismiss', onclick: (event) => { event.stopPropagation(); dismiss(); } }, '✕'),
      h('div', { class: 'toast-title', testid: 'toast-title' }, urgent ? '❗ ' : '', toast.title ?? ''),
      h('div', { class: 'toast-body', testid: 'toast-body' }, toast.body ?? ''),
      h(
        'div',
        { class: 'toast-actions' },
        (toast.actions ?? ['reply', 'markRead', 'mute'])
          .filter((action) => ACTION_LABELS[action])
          .map((action) => h('button', { type: 'button', testid: ACTION_TESTIDS[action], onclick: run(action) }, ACTION_LABELS[action])),
      ),
    );
    return element;
  }
}
