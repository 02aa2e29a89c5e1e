/**
 * Reconnect delays: exponential (1, 2, 4, 8, 16, 30 s, capped at 30 s) with full jitter, i.e.
 * a random delay between 0 and the exponential ceiling, so clients dropped together (a
 * deployment, a network blip) do not come back together.
 *
 * @typedef {object} BackoffOptions
 * @property {number} [initialMs=1000] the first ceiling
 * @property {number} [maxMs=30000] the cap
 * @property {number} [factor=2]
 * @property {'full' | 'none'} [jitter='full'] `none` waits the ceiling itself (for tests)
 * @property {number} [resetAfterMs=10000] a connection that stays up this long resets the sequence
 */

import { withDefaults } from './defaults.js';

export const DEFAULT_BACKOFF = Object.freeze({
  initialMs: 1000,
  maxMs: 30_000,
  factor: 2,
  jitter: 'full',
  resetAfterMs: 10_000,
});

/** The ceiling for attempt `n` (0-based): min(maxMs, initialMs * factor^n). */
export function backoffCeiling(attempt, options = DEFAULT_BACKOFF) {
  const { initialMs, maxMs, factor } = withDefaults(DEFAULT_BACKOFF, options);
  return Math.min(maxMs, initialMs * factor ** attempt);
}

/** The delay before retry `attempt` (0-based). `random` returns [0, 1). */
export function backoffDelay(attempt, options = DEFAULT_BACKOFF, random = Math.random) {
  const ceiling = backoffCeiling(attempt, options);
  return withDefaults(DEFAULT_BACKOFF, options).jitter === 'none' ? ceiling : Math.floor(random() * ceiling);
}
