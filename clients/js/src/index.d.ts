/**
 * The declarations of `@tidings/client` (src/index.js), written by hand over the generated
 * frame and REST bodies (types/frames.d.ts, types/rest.d.ts). test/unit/types.test.js fails when
 * a public member of the JavaScript has no declaration here, or `tsc` finds an error in these
 * files or in test/types-check.ts.
 */

import type {
  AttachmentRef,
  ChatFocusAck,
  MessageDeleteAck,
  MessageReactAck,
  PresenceUpdateAck,
  ReadMarkAck,
  SearchQueryPayload,
  SearchResultsPayload,
  SearchSuggestionsPayload,
  ServerFrame,
  WelcomePayload,
  WireMessage,
} from '../types/frames.js';
import type {
  ChannelsPage,
  ChatSummaryWire,
  ChatWithMembersWire,
  CreateGroup,
  MemberResponse,
  MessagePageResponse,
  UpdateChat,
} from '../types/rest.js';

export type { ClientFrame, ServerFrame, WireMessage } from '../types/frames.js';

/** A reply's payload as the SDK resolves it: without `refId` and `status`. */
type Answer<Ack> = Omit<Ack, 'refId' | 'status'>;

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export type PresenceStatus = PresenceUpdateAck['presence'];

export interface TokenContext {
  /** why a token is needed; `unauthorized` and `refresh` want a fresh one, not a cached one */
  reason: 'connect' | 'reconnect' | 'unauthorized' | 'rotate' | 'refresh' | 'rest';
  /** with `refresh`: when the connection's token expires */
  expiresAt?: string;
}

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  jitter?: 'full' | 'none';
  resetAfterMs?: number;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** What the outbox keeps, one per pending mutation. Plain JSON. */
export interface OutboxEntry {
  /** the frame id (the server's idempotency key) */
  id: string;
  /** who wrote it; null until the first `welcome` names the user */
  userId: string | null;
  /** `chat:<chatId>` or `message:<messageId>` */
  lane: string;
  order: number;
  frame: { type: string; id: string; timestamp: string; payload: Record<string, unknown>; traceId?: string };
  /** milliseconds since the epoch */
  createdAt: number;
}

/** Where the outbox keeps its entries; `put` must not resolve before the entry would survive a reload. */
export interface OutboxStorage {
  load(): Promise<OutboxEntry[]>;
  put(entry: OutboxEntry): Promise<void>;
  delete(id: string): Promise<void>;
}

export interface TidingsClientOptions {
  /** `ws://127.0.0.1:8080/ws` locally, `wss://…/stage` on AWS */
  url: string;
  /** an access token that is valid now */
  getToken: (context: TokenContext) => Promise<string> | string;
  /** the HTTP API's base URL (derived from a local `…/ws` url) */
  apiUrl?: string;
  storage?: OutboxStorage;
  /** a WebSocket constructor (in Node 20, the `ws` package's default export) */
  WebSocket?: new (url: string) => unknown;
  fetch?: typeof fetch;
  /** for upload progress (default `globalThis.XMLHttpRequest`); null uploads with `fetch` (one final 100%) */
  XMLHttpRequest?: (new () => XMLHttpRequest) | null;
  backoff?: BackoffOptions;
  /** chats to track from the start: `{chatId: lastKnownSeq}` */
  chats?: Record<string, number>;
  chatEventTypes?: string[];
  clientName?: string;
  ackTimeoutMs?: number;
  maxRateLimitWaitMs?: number;
  helloTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
  maxConnectionAgeMs?: number;
  gapTimeoutMs?: number;
  typingIntervalMs?: number;
  typingIdleMs?: number;
  readMarkIntervalMs?: number;
  presenceRenewMs?: number;
  suggestDebounceMs?: number;
  clock?: Clock;
  random?: () => number;
}

export interface MutationOptions {
  /** the frame id (a UUID); a second call with a pending id joins the first */
  id?: string;
}

export interface SendOptions extends MutationOptions {
  /** the messageId this message answers */
  replyTo?: string | null;
  attachments?: AttachmentRef[];
  priority?: 'normal' | 'urgent';
  /** the trace id (8 to 64 of `A-Z a-z 0-9 _ -`) the server logs the message under and puts on
   * its frames; anything else throws a TypeError */
  traceId?: string;
}

export interface UploadOptions {
  /** the file name (default: the File's; required for other data) */
  name?: string;
  /** default: the Blob's type, else `application/octet-stream` */
  contentType?: string;
  /** bytes of the POST's body sent so far (with fetch alone: once, at the end) */
  onProgress?: (progress: { loaded: number; total: number }) => void;
  /** resolve only once `attachment.scanned` says clean (default true) */
  waitScanned?: boolean;
  /** how long to wait for the verdict (default 60000): then `TIMEOUT` */
  scanTimeoutMs?: number;
}

/** An upload, ready to be sent as `attachments: [{attachmentId}]` once `clean`. */
export interface UploadedAttachment {
  attachmentId: string;
  name: string;
  size: number;
  contentType: string;
  /** `pending` with `waitScanned: false` (a send of it is refused with CONFLICT until clean) */
  status: 'clean' | 'pending';
  /** when the upload form expired (an upload never sent is deleted after a day) */
  expiresAt: string;
}

/** The SDK's own events, beside the server's frames. */
export interface SdkEvents {
  state: { state: ConnectionState; [detail: string]: unknown };
  error: TidingsError;
  outbox: { action: 'queued' | 'acked' | 'failed'; entry: OutboxEntry; reply?: Record<string, unknown>; error?: TidingsError };
  reset: { chatId: string; reason: 'headSeqBehind' | 'tooLarge' | 'forbidden'; headSeq?: number; messages?: WireMessage[]; error?: TidingsError };
  /** In a big chat, `readWatermarks` lists only you and the readers furthest ahead; `readSummary` counts the rest. */
  synced: {
    chatId: string;
    headSeq: number;
    readWatermarks: Record<string, number>;
    readSummary?: { members: number; readToHead: number };
  };
}

/** The server frame of type `T` (`error` frames reach `*` only: `error` is the SDK's event). */
export type FrameOf<T extends string> = Extract<ServerFrame, { type: T }>;
type ServerFrameType = Exclude<Extract<ServerFrame, { type: string }>['type'], 'error'>;
type KnownEvent = ServerFrameType | keyof SdkEvents | '*';
type FrameHandler<T extends ServerFrameType> = (payload: FrameOf<T>['payload'], frame: FrameOf<T>) => void;

export class TidingsClient {
  static version: string;
  constructor(options: TidingsClientOptions);

  get state(): ConnectionState;
  /** the connected user (from `welcome`), null before the first connection */
  get userId(): string | null;
  get connectionId(): string | null;
  /** the protocol version `hello` says: 2, or the one a server listed when it refused 2 with
   * `UPGRADE_REQUIRED` (1 for a version-1 server), kept for every later connection */
  get protocolVersion(): number;
  /** `{chatId: lastKnownSeq}` of every tracked chat */
  get chats(): Record<string, number>;

  connect(): Promise<WelcomePayload>;
  close(): Promise<void>;

  on<T extends ServerFrameType>(type: T, handler: FrameHandler<T>): () => void;
  on<K extends keyof SdkEvents>(type: K, handler: (event: SdkEvents[K]) => void): () => void;
  on(type: '*', handler: (payload: unknown, frame: ServerFrame) => void): () => void;
  /** A frame type newer than these declarations. */
  on<T extends string>(type: T extends KnownEvent ? never : T, handler: (payload: any, frame: { type: T; id: string; timestamp: string; payload: any }) => void): () => void;
  once<T extends ServerFrameType>(type: T, handler: FrameHandler<T>): () => void;
  once<K extends keyof SdkEvents>(type: K, handler: (event: SdkEvents[K]) => void): () => void;
  once(type: '*', handler: (payload: unknown, frame: ServerFrame) => void): () => void;
  once<T extends string>(type: T extends KnownEvent ? never : T, handler: (payload: any, frame: { type: T; id: string; timestamp: string; payload: any }) => void): () => void;

  send(chatId: string, content: string, options?: SendOptions): Promise<WireMessage>;
  edit(messageId: string, content: string, options?: MutationOptions): Promise<WireMessage>;
  delete(messageId: string, options?: MutationOptions): Promise<Answer<MessageDeleteAck>>;
  react(messageId: string, emoji: string, action?: 'add' | 'remove', options?: MutationOptions): Promise<Answer<MessageReactAck>>;
  pendingMutations(): Promise<OutboxEntry[]>;

  typing(chatId: string): void;
  stopTyping(chatId: string): void;
  /** resolves with the read.mark ack (null when a higher mark was already sent) */
  markRead(chatId: string, messageId: string): Promise<ReadMarkAck | null>;
  focus(chatId: string | null): Promise<Answer<ChatFocusAck>>;
  subscribePresence(userIds: string | string[]): Promise<void>;
  unsubscribePresence(userIds: string | string[]): Promise<void>;
  setPresence(status: PresenceStatus): Promise<Answer<PresenceUpdateAck>>;

  search(query: string, options?: Omit<SearchQueryPayload, 'query'>): Promise<Answer<SearchResultsPayload>>;
  suggest(query: string): Promise<SearchSuggestionsPayload['suggestions']>;

  sync(chatId?: string): Promise<void>;
  track(chatId: string, lastKnownSeq?: number): void;
  untrack(chatId: string): void;
  lastKnownSeq(chatId: string): number | undefined;

  listChats(): Promise<ChatSummaryWire[]>;
  history(chatId: string, page?: { before?: number; limit?: number }): Promise<MessagePageResponse>;
  createChat(chat: CreateGroup): Promise<ChatWithMembersWire>;
  openDm(userId: string): Promise<ChatWithMembersWire>;
  updateChat(chatId: string, changes: UpdateChat): Promise<ChatWithMembersWire>;
  addMember(chatId: string, userId: string, options?: { role?: 'member' | 'admin' }): Promise<MemberResponse>;
  removeMember(chatId: string, userId: string): Promise<void>;
  channels(query?: string, page?: { cursor?: string }): Promise<ChannelsPage>;
  /** uploads a file to a chat: the upload form, the POST to S3, the scan's verdict */
  upload(chatId: string, file: Blob | ArrayBuffer | ArrayBufferView, options?: UploadOptions): Promise<UploadedAttachment>;
  /** any REST call with the client's token */
  api(method: string, path: string, body?: unknown): Promise<any>;
  /** any request frame (for server features newer than this SDK); resolves with the reply's payload */
  request(type: string, payload?: Record<string, unknown>): Promise<any>;
}

/** The chat event an ack stands for (null for a frame that makes none). */
export function eventFromAck(
  frame: { type: string; id: string; timestamp: string },
  reply: Record<string, unknown> | null | undefined,
): { type: string; id: string; timestamp: string; payload: Record<string, unknown> } | null;

export class TidingsError extends Error {
  constructor(
    code: string,
    message: string,
    details?: { retryAfterMs?: number; refId?: string; status?: number; frame?: object; extra?: object; cause?: unknown },
  );
  /** the protocol's error code, or one of SDK_ERROR_CODES */
  code: string;
  retryAfterMs: number | undefined;
  refId: string | undefined;
  /** the HTTP status, for REST errors */
  status: number | undefined;
  frame: object | undefined;
  extra: Record<string, unknown>;
}

/** S3 refused the upload's POST; `code` is S3's (`EntityTooLarge`, `EntityTooSmall`, `AccessDenied`, ...). */
export class UploadRefusedError extends TidingsError {}

/** The scan found the upload infected (code `INFECTED`); `extra.attachmentId` names it. */
export class InfectedError extends TidingsError {
  constructor(message: string, details?: { frame?: object; extra?: object });
}

export const SDK_ERROR_CODES: Readonly<{
  TIMEOUT: 'TIMEOUT';
  CLOSED: 'CLOSED';
  DISCONNECTED: 'DISCONNECTED';
  NETWORK: 'NETWORK';
  TOKEN: 'TOKEN';
  STORAGE: 'STORAGE';
  HANDLER: 'HANDLER';
}>;

export class MemoryStorage implements OutboxStorage {
  load(): Promise<OutboxEntry[]>;
  put(entry: OutboxEntry): Promise<void>;
  delete(id: string): Promise<void>;
}

export class IndexedDBStorage implements OutboxStorage {
  constructor(options?: { name?: string; indexedDB?: IDBFactory });
  load(): Promise<OutboxEntry[]>;
  put(entry: OutboxEntry): Promise<void>;
  delete(id: string): Promise<void>;
  close(): Promise<void>;
}

export const CHAT_EVENT_TYPES: readonly string[];
export const DEFAULT_BACKOFF: Readonly<Required<BackoffOptions>>;
export function backoffCeiling(attempt: number, options?: BackoffOptions): number;
export function backoffDelay(attempt: number, options?: BackoffOptions, random?: () => number): number;
export const VERSION: string;
/** the protocol version `hello` says first (2) */
export const PROTOCOL_VERSION: number;
/** every protocol version the SDK speaks ([1, 2]) */
export const PROTOCOL_VERSIONS: readonly number[];
