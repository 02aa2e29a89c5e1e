/**
 * Protocol version 2: a new message's `message.new` carries the recipient's `badge` and `toast`
 * (one WebSocket message per connection instead of three). The client hands them on as the
 * `notification.badge` and `notification.toast` events version 1 sends after the message, so an
 * application handles the same events either way.
 */

import { uuid } from './ids.js';

/** What a v2 `message.new` may carry, and the frame type version 1 sends it in. */
const CARRIED = [
  ['badge', 'notification.badge'],
  ['toast', 'notification.toast'],
];

/**
 * A v2 `message.new` as version 1 sends it: `[the frame without badge and toast, [those as
 * their own frames]]`. Any other frame comes back as it is, with no notices.
 * @param {{type: string, payload?: any, timestamp?: string}} frame
 */
export function splitNotices(frame) {
  const payload = frame.payload;
  if (frame.type !== 'message.new' || payload === null || typeof payload !== 'object') return [frame, []];
  if (!CARRIED.some(([name]) => name in payload)) return [frame, []];
  const rest = { ...payload };
  const notices = [];
  for (const [name, type] of CARRIED) {
    const carried = rest[name];
    delete rest[name];
    if (carried !== null && typeof carried === 'object') {
      notices.push({ type, id: uuid(), timestamp: frame.timestamp, payload: carried });
    }
  }
  return [{ ...frame, payload: rest }, notices];
}
