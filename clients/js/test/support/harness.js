/** A TidingsClient on a fake network and a fake clock, for the unit tests. */
import { TidingsClient } from '../../src/index.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { FakeClock, settle } from './fake-clock.js';
import { FakeNetwork } from './fake-websocket.js';

export function harness(options = {}) {
  const clock = options.clock ?? new FakeClock();
  const network = options.network ?? new FakeNetwork({ clock });
  const tokens = [];
  const errors = [];
  const states = [];
  const client = new TidingsClient({
    url: 'ws://127.0.0.1:8080/ws',
    getToken: async (context) => {
      tokens.push(context);
      return `token-${tokens.length}`;
    },
    WebSocket: network.WebSocket,
    clock,
    random: () => 0.5,
    storage: options.storage ?? new MemoryStorage(),
    fetch: options.fetch ?? (async () => {
      throw new Error('no fetch in this test');
    }),
    ...options.client,
  });
  client.on('error', (error) => errors.push(error));
  client.on('state', (state) => states.push(state));
  return { client, clock, network, server: network.server, tokens, errors, states, settle };
}

/** Collects the payloads of one frame type. */
export function collect(client, type) {
  const seen = [];
  client.on(type, (payload) => seen.push(payload));
  return seen;
}
