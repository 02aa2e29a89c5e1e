/**
 * A real `tidings dev --demo` for the end-to-end tests, started the way a developer starts it
 * (the Python e2e tests do the same: tests/e2e/conftest.py), and the helpers the tests share.
 */
import { execFile, spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import WebSocket from 'ws';

import { TidingsClient } from '../../src/index.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
export const TIDINGS = process.env.TIDINGS_BIN ?? join(REPO, '.venv', 'bin', 'tidings');
const STARTUP_TIMEOUT_MS = 60_000;

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export class Runtime {
  constructor(port) {
    this.port = port;
    this.wsUrl = `ws://127.0.0.1:${port}/ws`;
    this.apiUrl = `http://127.0.0.1:${port}`;
    this.log = join(tmpdir(), `tidings-js-e2e-${port}.log`);
    this.process = null;
  }

  static async start(...args) {
    const runtime = new Runtime(await freePort());
    await runtime.start(...args);
    return runtime;
  }

  async start(...args) {
    const log = openSync(this.log, 'a');
    this.process = spawn(TIDINGS, ['dev', '--demo', '--host', '127.0.0.1', '--port', String(this.port), ...args], {
      stdio: ['ignore', log, log],
    });
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.exited = exited;
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (this.process.exitCode !== null) break;
      try {
        const response = await fetch(`${this.apiUrl}/healthz`);
        if (response.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
    this.process.kill('SIGKILL');
    throw new Error(`tidings dev did not become healthy; its log:\n${readFileSync(this.log, 'utf8').slice(-4000)}`);
  }

  /** Stops the runtime (SIGKILL: a crash, nothing saved; SIGTERM: a clean stop). */
  async stop(signal = 'SIGTERM') {
    if (!this.process || this.process.exitCode !== null) return;
    this.process.kill(signal);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** A token from `tidings token USER [--ttl SECONDS]`, the way a developer gets one. Tokens
   * of the default lifetime (15 minutes) are reused per user, as the Python e2e tests do. */
  token(userId, ttlSeconds) {
    if (ttlSeconds !== undefined) return this.#issue(userId, ttlSeconds);
    if (!this.#tokens.has(userId)) this.#tokens.set(userId, this.#issue(userId));
    return this.#tokens.get(userId);
  }

  #tokens = new Map();

  async #issue(userId, ttlSeconds) {
    const args = ['token', userId, ...(ttlSeconds === undefined ? [] : ['--ttl', String(ttlSeconds)])];
    const { stdout } = await promisify(execFile)(TIDINGS, args);
    return stdout.trim().split('\n').at(-1);
  }

  /** DeleteConnection, as API Gateway's management API does it. */
  async deleteConnection(connectionId) {
    const response = await fetch(`${this.apiUrl}/@connections/${encodeURIComponent(connectionId)}`, { method: 'DELETE' });
    if (response.status !== 204) throw new Error(`DELETE @connections answered ${response.status}`);
  }
}

/**
 * The `ws` WebSocket with a hand on the network: `offline` makes new connections fail (the
 * port refuses), `dropIncoming(frame)` loses chosen server frames, and every frame the client
 * sends is recorded.
 */
export function networkControl() {
  const control = { offline: false, dropIncoming: null, sockets: [], sent: [] };
  control.WebSocket = class ControlledWebSocket extends WebSocket {
    constructor(url) {
      super(control.offline ? 'ws://127.0.0.1:9/ws' : url); // the discard port: connection refused
      control.sockets.push(this);
    }

    send(data) {
      control.sent.push(JSON.parse(data));
      super.send(data);
    }

    set onmessage(handler) {
      super.onmessage = (event) => {
        if (control.dropIncoming?.(JSON.parse(String(event.data)))) return;
        handler(event);
      };
    }

    get onmessage() {
      return super.onmessage;
    }
  };
  return control;
}

/** A client for `userId` on `runtime`, with fast backoff, collecting what tests look at. */
export function clientFor(runtime, userId, options = {}) {
  const control = options.control ?? networkControl();
  const tokens = [];
  const client = new TidingsClient({
    url: runtime.wsUrl,
    apiUrl: runtime.apiUrl,
    WebSocket: control.WebSocket,
    backoff: { initialMs: 100, maxMs: 1000 },
    gapTimeoutMs: 300,
    getToken: async (context) => {
      tokens.push(context.reason);
      return options.getToken ? options.getToken(context) : runtime.token(userId);
    },
    ...options.client,
  });
  const seen = { messages: [], errors: [], states: [], resets: [] };
  client.on('message.new', (payload) => seen.messages.push(payload));
  client.on('error', (error) => seen.errors.push(error));
  client.on('state', (state) => seen.states.push(state.state));
  client.on('reset', (reset) => seen.resets.push(reset));
  return { client, control, tokens, seen };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `predicate()` is truthy (polling), or fails after `timeoutMs`. */
export async function waitFor(predicate, timeoutMs = 10_000, what = 'the condition') {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The contents of the messages of `chatId` a client received, in delivery order. */
export function contents(seen, chatId, prefix = '') {
  return seen.messages.filter((m) => m.chatId === chatId && m.message.content?.startsWith(prefix)).map((m) => m.message.content);
}

export function unique(label) {
  return `${label}-${Math.random().toString(36).slice(2, 8)}`;
}
