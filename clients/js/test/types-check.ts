// The SDK used as an app's author would, type-checked by `tsc --noEmit` (tsconfig.json; run by
// test/unit/types.test.js), never executed. Each `@ts-expect-error` line is a mistake the
// declarations must refuse: tsc fails if one of them stops being an error.
import { InfectedError, MemoryStorage, PROTOCOL_VERSIONS, TidingsClient, TidingsError, UploadRefusedError, type OutboxEntry, type WireMessage } from '@tidings/client';
import { FileStorage } from '@tidings/client/file-storage';
import type { ServerFrame } from '@tidings/client/frames';

const client = new TidingsClient({
  url: 'ws://127.0.0.1:8080/ws',
  getToken: async ({ reason }) => (reason === 'refresh' ? 'fresh-token' : 'token'),
  storage: new MemoryStorage(),
});
new TidingsClient({ url: 'ws://127.0.0.1:8080/ws', getToken: () => 'token', storage: new FileStorage('outbox.json') });

export async function author(): Promise<void> {
  const welcome = await client.connect();
  const me: string = welcome.userId;
  const version: number = client.protocolVersion; // 2, or 1 after a version 1 server's UPGRADE_REQUIRED
  console.log(version === welcome.protocolVersion, PROTOCOL_VERSIONS.includes(version));
  // @ts-expect-error the versions the SDK speaks are read-only
  PROTOCOL_VERSIONS.push(3);

  client.on('message.new', ({ chatId, message }, frame) => {
    const seq: number = frame.payload.seq;
    const text: string | null = message.content;
    console.log(chatId, seq, text, frame.traceId ?? 'untraced');
  });
  client.on('typing.indicator', (payload) => console.log(payload.userId));
  client.on('state', ({ state }) => console.log(state === 'reconnecting'));
  client.on('error', (error) => console.log(error.code, error.retryAfterMs));
  client.on('outbox', ({ action, entry }) => console.log(action, entry.frame.id));
  // API Gateway's own error message has no type
  client.on('*', (_payload, frame: ServerFrame) => console.log('type' in frame ? frame.type : frame.message));
  client.on('feature.from.the.future', (payload) => console.log(payload));
  const off = client.once('reset', ({ chatId, reason }) => console.log(chatId, reason));
  off();

  const sent: WireMessage = await client.send('general', `hello from ${me}`, { replyTo: null, priority: 'urgent', traceId: 'req-4711-abcd' });
  const edited = await client.edit(sent.messageId, 'hello again');
  const { reactions } = await client.react(edited.messageId, '👍');
  await client.react(edited.messageId, '👍', 'remove', { id: crypto.randomUUID() });
  const { seq } = await client.delete(sent.messageId);
  const pending: OutboxEntry[] = await client.pendingMutations();
  console.log(reactions, seq, pending.length);

  client.typing('general');
  const read = await client.markRead('general', sent.messageId);
  console.log(read?.seq);
  await client.setPresence('dnd');
  await client.subscribePresence(['bob', 'carol']);
  const { results, cursor } = await client.search('plan', { scope: 'messages', limit: 10 });
  const suggestions = await client.suggest('pl');
  console.log(results.length, cursor, suggestions[0]?.type);

  const chats = await client.listChats();
  const page = await client.history(chats[0].chatId, { limit: 20 });
  const channel = await client.createChat({ type: 'channel', name: 'launch', visibility: 'public' });
  await client.addMember(channel.chatId, 'bob', { role: 'admin' });
  const { channels, nextCursor } = await client.channels('launch');
  console.log(page.nextBefore, channels.length, nextCursor, client.lastKnownSeq(channel.chatId));

  const file = new Blob(['%PDF-1.7'], { type: 'application/pdf' });
  try {
    const uploaded = await client.upload('general', file, { name: 'plan.pdf', onProgress: ({ loaded, total }) => console.log(loaded / total) });
    await client.send('general', 'the plan', { attachments: [{ attachmentId: uploaded.attachmentId }] });
    const pending = await client.upload('general', new Uint8Array([1, 2]), { name: 'a.bin', waitScanned: false });
    console.log(pending.status === 'pending', uploaded.size);
  } catch (error) {
    if (error instanceof InfectedError) console.log(error.extra.attachmentId);
    else if (error instanceof UploadRefusedError) console.log(error.code, error.status);
  }
  try {
    await client.send('general', 'x');
  } catch (error) {
    if (error instanceof TidingsError && error.code === 'RATE_LIMITED') console.log(error.retryAfterMs);
  }
  await client.close();
}

export async function mistakes(): Promise<void> {
  // @ts-expect-error a url is required
  new TidingsClient({ getToken: () => 'token' });
  // @ts-expect-error the content is a string
  await client.send('general', 42);
  // @ts-expect-error no such send option
  await client.send('general', 'hi', { replyto: 'm-1' });
  // @ts-expect-error a trace id is a string
  await client.send('general', 'hi', { traceId: 4711 });
  // @ts-expect-error priority is normal or urgent
  await client.send('general', 'hi', { priority: 'high' });
  // @ts-expect-error a file is data, not a path
  await client.upload('general', 'plan.pdf');
  // @ts-expect-error no such upload option
  await client.upload('general', new Blob([]), { progress: () => {} });
  // @ts-expect-error a reaction is added or removed
  await client.react('m-1', '👍', 'toggle');
  // @ts-expect-error no such presence status
  await client.setPresence('sleeping');
  // @ts-expect-error message.new's payload has no userId
  client.on('message.new', (payload) => console.log(payload.userId));
  // @ts-expect-error an error event is a TidingsError, not a frame payload
  client.on('error', (error) => console.log(error.payload));
  // @ts-expect-error a created chat is a group or a channel (openDm makes DMs)
  await client.createChat({ type: 'dm', name: 'x' });
  // @ts-expect-error the message's text is content, not text
  console.log((await client.history('general')).messages[0].text);
}
