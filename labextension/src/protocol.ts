/**
 * The kchat wire protocol (v1), TypeScript side: the only module that knows the JSON shapes.
 * The types are generated from the one definition, jupyter_kchat/protocol/schema.json
 * (`jlpm build:schema`, run by every build and by `jlpm test`); the prose is docs/protocol.md.
 */

import type * as Schema from './protocol.schema';

export type {
  ClientErrorCode,
  ClientFrame,
  CompleteData,
  DataRow,
  RefusalCode,
  ServerEvent,
  StoredToolView,
  ToolCallSummary,
  ToolStatus,
  TurnErrorCode,
  UserEntry,
  WidgetBatch,
  WidgetEntry,
  WidgetMessage
} from './protocol.schema';

/** The version this client was built for; the server sends its own in every `complete`. */
export const PROTOCOL_VERSION: Schema.CompleteData['protocol_version'] = 1;

export type ICellContext = Schema.CellContext;
export type IChatFrame = Schema.ChatFrame;
export type ICancelFrame = Schema.CancelFrame;
export type IApproveFrame = Schema.ApproveFrame;
export type IResumeFrame = Schema.ResumeFrame;
export type IThinkingData = Schema.ThinkingData;
export type ITextData = Schema.TextData;
export type IToolCallStartData = Schema.ToolCallStartData;
export type IApprovalRequiredData = Schema.ApprovalRequiredData;
/** `duration_ms` is null for a call that never finished; only this event carries `data`. */
export type IToolCallEndData = Schema.ToolCallEndData;
export type IErrorData = Schema.ErrorData;
/** `complete.data.usage`: what the turn cost, each field when the server knows it. */
export type IUsage = Schema.Usage;
export type ICompleteData = Schema.CompleteData;
export type EventType = Schema.ServerEvent['type'];
/** Conversation list entry of `GET api/kchat/conversations`. */
export type IConversationSummary = Schema.ConversationSummary;
export type IConversationList = Schema.ConversationList;
/** A stored message of `GET api/kchat/conversations/{id}`; `tool` keeps at most 1,000 rows. */
export type IStoredMessage = Schema.StoredMessage;
export type IConversation = Schema.Conversation;

export const EVENT_TYPES: ReadonlySet<string> = new Set<EventType>([
  'thinking',
  'text',
  'tool_call_start',
  'approval_required',
  'tool_call_end',
  'error',
  'complete'
]);

/** Structural check of a decoded frame; anything else is dropped, never thrown on. */
export function isServerEvent(value: unknown): value is Schema.ServerEvent {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const event = value as { type?: unknown; data?: unknown; seq?: unknown };
  return (
    typeof event.type === 'string' &&
    EVENT_TYPES.has(event.type) &&
    typeof event.data === 'object' &&
    event.data !== null &&
    typeof event.seq === 'number'
  );
}

/** Parse one socket text frame; `null` for anything that is not a protocol event. */
export function parseEvent(raw: string): Schema.ServerEvent | null {
  try {
    const value: unknown = JSON.parse(raw);
    return isServerEvent(value) ? value : null;
  } catch {
    return null;
  }
}

/** A fresh id for `client_id`, unique enough to match our own refusals. */
export function newClientId(): string {
  const cryptoApi = (globalThis as { crypto?: Crypto }).crypto;
  if (cryptoApi && typeof cryptoApi.randomUUID === 'function') {
    return cryptoApi.randomUUID();
  }
  return `c-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}
