/** What the client shows, as plain functions of plain data (unit-tested in Node). */

/** "Alice is typing…", "Alice and Bob are typing…", "Several people are typing…". */
export function typingText(names) {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return 'Several people are typing…';
}

/** A chat's name as a user knows it: the other person in a DM, `#name` for a channel. */
export function chatTitle(chat, meId) {
  if (!chat) return '';
  if (chat.type === 'dm') {
    const others = (chat.members ?? []).filter((member) => member.userId !== meId);
    return others.map((member) => member.displayName || member.userId).join(', ') || 'Only you';
  }
  const name = chat.name || chat.chatId;
  return chat.type === 'channel' ? `#${name}` : name;
}

/** The other member of a DM (for its presence dot), or null. */
export function dmPartner(chat, meId) {
  if (chat?.type !== 'dm') return null;
  return (chat.members ?? []).find((member) => member.userId !== meId) ?? null;
}

/**
 * The receipt under one of my messages.
 * - sending (in the outbox), not sent (refused): from the message's status;
 * - DM: ✓ delivered (stored), ✓✓ read (the other member's read watermark reached it);
 * - group or channel: "Seen by N" (members other than me whose watermark reached it), else ✓.
 * @param {object} chat `{type, members: [{userId, displayName}]}`
 * @param {object} message `{seq, status}`
 * @param {Map<string, number>} watermarks userId → last read seq
 * @param {string} meId
 * @returns {{state: string, text: string, title: string}}
 */
export function receiptFor(chat, message, watermarks, meId) {
  if (message.status === 'pending') return { state: 'sending', text: 'Sending…', title: 'Waiting to be sent' };
  if (message.status === 'failed') return { state: 'failed', text: 'Not sent', title: message.error ?? 'Not sent' };
  const readers = (chat?.members ?? []).filter(
    (member) => member.userId !== meId && (watermarks?.get(member.userId) ?? 0) >= message.seq,
  );
  if (chat?.type === 'dm') {
    return readers.length
      ? { state: 'read', text: '✓✓', title: 'Read' }
      : { state: 'delivered', text: '✓', title: 'Delivered' };
  }
  if (!readers.length) return { state: 'delivered', text: '✓', title: 'Delivered' };
  const names = readers.map((member) => member.displayName || member.userId);
  return { state: 'seen', text: `Seen by ${readers.length}`, title: `Seen by ${names.join(', ')}` };
}

export const PRESENCE_LABELS = Object.freeze({
  available: 'Available',
  away: 'Away',
  dnd: 'Do not disturb',
  brb: 'Be right back',
  in_a_meeting: 'In a meeting',
  offline: 'Offline',
});

/** "Available", "Offline (last seen 09:12)". */
export function presenceLabel(presence) {
  if (!presence) return 'Status unknown';
  const label = PRESENCE_LABELS[presence.status] ?? presence.status;
  return presence.status === 'offline' && presence.lastSeen ? `${label} (last seen ${formatTime(presence.lastSeen)})` : label;
}

/** "09:41" today, "3 Nov 09:41" before. */
export function formatTime(iso, now = new Date()) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (date.toDateString() === now.toDateString()) return time;
  return `${date.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${time}`;
}

/** The banner of a busy big chat whose messages came as a number (`chat.summary`). */
export function summedText(count) {
  if (!count) return '';
  return `${count} new ${count === 1 ? 'message' : 'messages'}: catching up…`;
}

export function formatSize(bytes) {
  if (!Number.isFinite(bytes)) return '';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** The clock time "HH:MM" at `date` in the IANA `timeZone`. */
export function clockIn(date, timeZone) {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
    .formatToParts(date)
    .reduce((acc, part) => ({ ...acc, [part.type]: part.value }), {});
  return `${parts.hour}:${parts.minute}`;
}

/**
 * Whether the scheduled do-not-disturb window `{enabled, startTime, endTime, timezone}` covers
 * `now` (the server's rule: a start after the end crosses midnight, equal times are empty).
 */
export function dndScheduled(schedule, now = new Date()) {
  if (!schedule?.enabled) return false;
  let local;
  try {
    local = clockIn(now, schedule.timezone || 'UTC');
  } catch {
    return false; // an unknown time zone: the server refuses those anyway
  }
  const { startTime: start, endTime: end } = schedule;
  if (start <= end) return start <= local && local < end;
  return local >= start || local < end;
}

/** The words of a query that a local search matches on (operators and quotes left out). */
export function queryTerms(query) {
  return String(query)
    .replace(/"/g, ' ')
    .split(/\s+/)
    .filter((word) => word && !/^[a-z]+:/i.test(word));
}
