/** Starts the web client: config, sign-in, then the app. */

import { App } from './app.js';
import { loadConfig } from './config.js';
import { Session } from './session.js';
import { renderFatal, renderSignIn } from './signin.js';

async function main() {
  const root = document.getElementById('root');
  let config;
  try {
    config = await loadConfig();
  } catch (error) {
    renderFatal(root, `Tidings could not load its configuration: ${error.message}`);
    return;
  }
  let session;
  try {
    session = await Session.fromLocation(config, window.location);
  } catch (error) {
    renderSignIn(root, config, error.message);
    return;
  }
  if (!session) {
    renderSignIn(root, config);
    return;
  }
  await new App(root, config, session).start();
}

main();
