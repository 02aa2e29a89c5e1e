/**
 * Where the APIs are: `config.json` next to `index.html`. `tidings dev` serves one for itself;
 * a deployment generates one (`tidings_infra/web_client.py`):
 *
 *     {"webSocketUrl": "wss://…/prod", "apiUrl": "https://…",
 *      "localSignIn": {"sessionsUrl": "/_local/sessions", "users": [{"userId", "displayName"}]}}
 *
 * `localSignIn` is there only locally (the demo sign-in).
 */
export async function loadConfig(fetch = globalThis.fetch.bind(globalThis)) {
  const response = await fetch('config.json', { cache: 'no-cache' });
  if (!response.ok) throw new Error(`config.json answered ${response.status}`);
  const config = await response.json();
  if (typeof config?.webSocketUrl !== 'string' || typeof config?.apiUrl !== 'string') {
    throw new Error('config.json must name webSocketUrl and apiUrl');
  }
  return { ...config, apiUrl: config.apiUrl.replace(/\/+$/, '') };
}
