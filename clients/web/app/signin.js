/** The sign-in page: the local users (on `tidings dev`), or a token to paste. */

import { h, replaceChildren } from './dom.js';

/**
 * @param {HTMLElement} root
 * @param {object | null} config
 * @param {string} [message] why the page is shown (a session that ended, a bad token)
 */
export function renderSignIn(root, config, message) {
  const users = config?.localSignIn?.users ?? [];
  const tokenInput = h('input', {
    type: 'password',
    testid: 'token-input',
    placeholder: 'Paste an access token (JWT)',
    autocomplete: 'off',
    'aria-label': 'Access token',
  });
  const signInWithToken = (event) => {
    event.preventDefault();
    const token = tokenInput.value.trim();
    if (token) window.location.assign(`${window.location.pathname}?token=${encodeURIComponent(token)}${window.location.hash}`);
  };
  replaceChildren(
    root,
    h(
      'main',
      { class: 'signin', testid: 'signin' },
      h('h1', null, 'Tidings'),
      message ? h('p', { class: 'signin-message', testid: 'signin-message', role: 'alert' }, message) : null,
      config?.localSignIn
        ? h(
            'section',
            null,
            h('h2', null, 'Sign in as'),
            users.length
              ? h(
                  'ul',
                  { class: 'signin-users' },
                  users.map((user) =>
                    h(
                      'li',
                      null,
                      h('a', { href: `?as=${encodeURIComponent(user.userId)}${window.location.hash}`, testid: 'signin-user', dataset: { user: user.userId } }, user.displayName, h('span', { class: 'muted' }, ` ${user.userId}`)),
                    ),
                  ),
                )
              : h('p', { class: 'muted' }, 'No users yet: start tidings dev with --demo, or open ?as=USER.'),
            h('p', { class: 'muted' }, 'Local sign-in: tidings dev issues the session. Two tabs can be two users.'),
          )
        : null,
      h(
        'form',
        { class: 'signin-token', onsubmit: signInWithToken },
        h('h2', null, config?.localSignIn ? 'Or with a token' : 'Sign in with a token'),
        tokenInput,
        h('button', { type: 'submit', testid: 'token-submit' }, 'Sign in'),
      ),
    ),
  );
}

export function renderFatal(root, message) {
  replaceChildren(root, h('main', { class: 'signin', testid: 'fatal' }, h('h1', null, 'Tidings'), h('p', { role: 'alert' }, message)));
}
