/**
 * The kchat wire protocol (v1), TypeScript side: the only module that knows the JSON shapes.
 * The contract is docs/protocol.md; jupyter_kchat/protocol.py is the Python twin.
 */

export const PROTOCOL_VERSION = 1;

/** `cell` of a chat frame: the active notebook cell, given to the model as context. */
export interface ICellContext {
  source: string;
  language: string;
}

/** A user message; `type` may be left out ("chat" is the default). */
export interface IChatFrame {
  type: 'chat';
  message: string;
  conversation_id: string | null;
  client_id?: string;
  model?: string;
  context?: string;
  namespace?: string;
  cell?: ICellContext;
}

export interface ICancelFrame {
  type: 'cancel';
  conversation_id: string;
}

export interface IApproveFrame {
  type: 'approve';
  tool_call_id: string;
  approved: boolean;
}

export interface IResumeFrame {
  type: 'resume';
  conversation_id: string;
  after_seq: number;
}

export type ClientFrame =
  | IChatFrame
  | ICancelFrame
  | IApproveFrame
  | IResumeFrame;

export type ToolStatus = 'completed' | 'error' | 'denied' | 'cancelled';

/** Structured rows of a tool result: one object per row. */
export type DataRow = Record<string, unknown>;

interface IEventBase {
  conversation_id: string | null;
  /** Echoed from the chat frame on `thinking`, `error` and `complete`. */
  client_id?: string;
}

export interface IThinkingData extends IEventBase {
  message: string;
  /** A chunk of the model's reasoning, to append; never part of the answer. */
  reasoning?: string;
}

export interface ITextData extends IEventBase {
  text: string;
}

export interface IToolCallStartData extends IEventBase {
  tool_call_id: string;
  tool_name: string;
  arguments: Record<string, unknown>;
}

export interface IApprovalRequiredData extends IToolCallStartData {
  reason: string;
}

export interface IToolCallEndData extends IToolCallStartData {
  result: string;
  status: ToolStatus;
  duration_ms: number;
  data?: DataRow[] | null;
  truncated?: boolean;
}

export interface IErrorData extends IEventBase {
  message: string;
  code: string;
  retryable: boolean;
}

/** `complete.data.usage`: what the turn cost, each field when the server knows it. */
export interface IUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  context_window?: number;
  /** Share of the context window the conversation fills, 0..1. */
  context_used?: number;
  cost_usd?: number;
  /** The server sent no usage: kchat counted the tokens itself. */
  estimated?: boolean;
}

export interface ICompleteData extends IEventBase {
  message: string;
  tool_calls: IToolCallEndData[];
  usage?: IUsage | null;
  cancelled?: boolean;
}

export interface IEventDataMap {
  thinking: IThinkingData;
  text: ITextData;
  tool_call_start: IToolCallStartData;
  approval_required: IApprovalRequiredData;
  tool_call_end: IToolCallEndData;
  error: IErrorData;
  complete: ICompleteData;
}

export type EventType = keyof IEventDataMap;

/** `{type, data, seq}`; `seq` is 0 for refused frames, outside any conversation's sequence. */
export type ServerEvent = {
  [K in EventType]: { type: K; data: IEventDataMap[K]; seq: number };
}[EventType];

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
export function isServerEvent(value: unknown): value is ServerEvent {
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
export function parseEvent(raw: string): ServerEvent | null {
  try {
    const value: unknown = JSON.parse(raw);
    return isServerEvent(value) ? value : null;
  } catch {
    return null;
  }
}

/** Conversation list entry of `GET api/kchat/conversations`. */
export interface IConversationSummary {
  id: string;
  title: string;
  created: string | number;
  updated: string | number;
  model?: string | null;
  running?: boolean;
}

export interface IConversationList {
  conversations: IConversationSummary[];
}

/** A stored message of `GET api/kchat/conversations/{id}`. */
export interface IStoredMessage {
  role: 'user' | 'assistant' | 'tool' | 'system';
  content: string | null;
  tool_calls?: unknown[];
  tool_call_id?: string;
  /** The `tool_call_end` data of a tool message. */
  tool?: Partial<IToolCallEndData> | null;
}

export interface IConversation {
  id: string;
  title: string;
  created?: string | number;
  updated?: string | number;
  model?: string | null;
  messages: IStoredMessage[];
  running: boolean;
  /** While running: the seq just before the running turn, to `resume` from. */
  last_seq?: number | null;
}

/** A fresh id for `client_id`, unique enough to match our own refusals. */
export function newClientId(): string {
  const cryptoApi = (globalThis as { crypto?: Crypto }).crypto;
  if (cryptoApi && typeof cryptoApi.randomUUID === 'function') {
    return cryptoApi.randomUUID();
  }
  return `c-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}
