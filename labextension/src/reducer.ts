/**
 * Events -> conversation view state. Pure: every action returns a new state and never mutates
 * the old one, so views can compare items by identity and redraw only what changed.
 */

import {
  DataRow,
  ICellContext,
  IToolCallEndData,
  IConversation,
  IStoredMessage,
  IUsage,
  PROTOCOL_VERSION,
  ServerEvent,
  StoredToolView,
  ToolCallSummary,
  ToolStatus
} from './protocol';

/** `running` and `awaiting_approval` are live; the others are the server's final statuses. */
export type ToolCallState = 'running' | 'awaiting_approval' | ToolStatus;

export interface IToolCallView {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
  state: ToolCallState;
  reason?: string;
  result?: string;
  durationMs?: number;
  data?: DataRow[] | null;
  truncated?: boolean;
  /** A saved answer (history, a widget's saved `events`) kept only the first rows of this
   * call's table: how many it had. */
  rowsTotal?: number;
  /** The user's answer to an approval, shown until the server's `tool_call_end` arrives. */
  decision?: 'approved' | 'denied';
}

export interface IUserItem {
  kind: 'user';
  id: string;
  text: string;
  cell?: ICellContext;
}

export interface ITextItem {
  kind: 'text';
  id: string;
  text: string;
  /** More chunks may follow; the renderer may still treat the last block as unfinished. */
  streaming: boolean;
}

/** The model's reasoning of one round, shown collapsed, never inside the answer. */
export interface IReasoningItem {
  kind: 'reasoning';
  id: string;
  text: string;
  streaming: boolean;
}

/** What a turn cost (`complete.data.usage`), shown as one line after the turn. */
export interface IUsageItem {
  kind: 'usage';
  id: string;
  usage: IUsage;
}

export interface IToolItem {
  kind: 'tool';
  id: string;
  call: IToolCallView;
}

export interface IErrorItem {
  kind: 'error';
  id: string;
  message: string;
  code: string;
  retryable: boolean;
  /** The question to send again when the error is retryable. */
  retry?: string;
}

export interface INoticeItem {
  kind: 'notice';
  id: string;
  text: string;
}

export type ChatItem =
  IUserItem | ITextItem | IReasoningItem | IToolItem | IErrorItem | INoticeItem | IUsageItem;

export interface IChatState {
  conversationId: string | null;
  title: string | null;
  items: readonly ChatItem[];
  /** A turn runs: the Stop button shows, the message box waits. */
  busy: boolean;
  /** `client_id` of the chat frame whose turn has not completed yet. */
  pendingClientId: string | null;
  /** Highest `seq` applied; events at or below it are duplicates from a resume. */
  lastSeq: number;
  /** The latest `thinking` message until text or a tool shows up. */
  thinking: string | null;
  /** Index in `items` where the running turn's answer starts. */
  turnStart: number;
  /** Source of new item ids, so ids stay unique across loads. */
  nextId: number;
}

export type ChatAction =
  | { type: 'event'; event: ServerEvent }
  | { type: 'send'; message: string; clientId: string; cell?: ICellContext }
  | { type: 'decide'; toolCallId: string; approved: boolean }
  /** The running turn's message got its `client_id` (a question the widget showed early). */
  | { type: 'claim'; clientId: string }
  | { type: 'load'; conversation: IConversation }
  | { type: 'reset' }
  | { type: 'local_error'; message: string; code: string; leaveBusy: boolean };

/** seq-0 refusals that mean nothing runs any more for this view. */
const ENDS_BUSY = new Set(['no_running_turn', 'not_resumable']);

export function initialState(): IChatState {
  return {
    conversationId: null,
    title: null,
    items: [],
    busy: false,
    pendingClientId: null,
    lastSeq: 0,
    thinking: null,
    turnStart: 0,
    nextId: 1
  };
}

export function reduce(state: IChatState, action: ChatAction): IChatState {
  switch (action.type) {
    case 'event':
      return applyEvent(state, action.event);
    case 'send':
      return sendMessage(state, action.message, action.clientId, action.cell);
    case 'decide':
      return updateTool(state, action.toolCallId, call => ({
        ...call,
        decision: action.approved ? 'approved' : 'denied'
      }));
    case 'claim':
      return state.busy ? { ...state, pendingClientId: action.clientId } : state;
    case 'load':
      return loadConversation(action.conversation);
    case 'reset':
      return initialState();
    case 'local_error': {
      const next = push(state, {
        kind: 'error',
        id: '',
        message: action.message,
        code: action.code,
        retryable: false
      });
      return action.leaveBusy ? leaveBusy(next) : next;
    }
  }
}

function applyEvent(state: IChatState, event: ServerEvent): IChatState {
  if (event.seq === 0) {
    return applyRefusal(state, event);
  }
  const conversationId = event.data.conversation_id;
  if (state.conversationId !== null && conversationId && conversationId !== state.conversationId) {
    return state;
  }
  if (event.seq <= state.lastSeq) {
    return state;
  }
  let next: IChatState = {
    ...state,
    conversationId: state.conversationId ?? conversationId ?? null,
    lastSeq: event.seq
  };
  if (!next.busy && event.type !== 'complete') {
    // A turn we did not start here: another tab, a notebook, or a resume after a reload.
    next = { ...next, busy: true, turnStart: next.items.length };
  }
  switch (event.type) {
    case 'thinking': {
      const thinking = { ...next, thinking: event.data.message || next.thinking || 'Thinking…' };
      return event.data.reasoning ? appendReasoning(thinking, event.data.reasoning) : thinking;
    }
    case 'text':
      return appendText(next, event.data.text);
    case 'tool_call_start':
      return upsertTool(finishText(next), event.data.tool_call_id, {
        id: event.data.tool_call_id,
        name: event.data.tool_name,
        arguments: event.data.arguments ?? {},
        state: 'running'
      });
    case 'approval_required':
      return upsertTool(finishText(next), event.data.tool_call_id, {
        id: event.data.tool_call_id,
        name: event.data.tool_name,
        arguments: event.data.arguments ?? {},
        state: 'awaiting_approval',
        reason: event.data.reason
      });
    case 'tool_call_end':
      return upsertTool(finishText(next), event.data.tool_call_id, endedCall(event.data));
    case 'error':
      return push(finishText(next), {
        kind: 'error',
        id: '',
        message: event.data.message,
        code: event.data.code,
        retryable: Boolean(event.data.retryable),
        retry: event.data.retryable ? lastQuestion(next) : undefined
      });
    case 'complete':
      return completeTurn(next, event.data);
  }
}

/** A refused frame (`seq` 0): shown, and ends the busy state when it was our message. */
function applyRefusal(state: IChatState, event: ServerEvent): IChatState {
  if (event.type !== 'error') {
    return state;
  }
  const data = event.data;
  const ours = data.client_id !== undefined && data.client_id === state.pendingClientId;
  const foreign =
    !ours &&
    data.conversation_id &&
    state.conversationId &&
    data.conversation_id !== state.conversationId;
  if (foreign) {
    return state;
  }
  const next = push(state, {
    kind: 'error',
    id: '',
    message: data.message,
    code: data.code,
    retryable: Boolean(data.retryable)
  });
  return ours || ENDS_BUSY.has(data.code) ? leaveBusy(next) : next;
}

function sendMessage(
  state: IChatState,
  message: string,
  clientId: string,
  cell: ICellContext | undefined
): IChatState {
  const next = push(state, {
    kind: 'user',
    id: '',
    text: message,
    ...(cell ? { cell } : {})
  });
  return {
    ...next,
    busy: true,
    pendingClientId: clientId,
    thinking: 'Thinking…',
    turnStart: next.items.length,
    title: state.title ?? message.slice(0, 80)
  };
}

function appendText(state: IChatState, chunk: string): IChatState {
  const items = state.items;
  const last = items[items.length - 1];
  if (last && last.kind === 'text' && last.streaming) {
    const copy = items.slice();
    copy[copy.length - 1] = { ...last, text: last.text + chunk };
    return { ...state, items: copy, thinking: null };
  }
  return {
    ...push(finishText(state), { kind: 'text', id: '', text: chunk, streaming: true }),
    thinking: null
  };
}

/** Reasoning chunks grow their own item; the thinking indicator stays until the answer. */
function appendReasoning(state: IChatState, chunk: string): IChatState {
  const items = state.items;
  const last = items[items.length - 1];
  if (last && last.kind === 'reasoning' && last.streaming) {
    const copy = items.slice();
    copy[copy.length - 1] = { ...last, text: last.text + chunk };
    return { ...state, items: copy };
  }
  const thinking = state.thinking;
  return {
    ...push(finishText(state), { kind: 'reasoning', id: '', text: chunk, streaming: true }),
    thinking
  };
}

/** The running text or reasoning segment ends when anything else comes. */
function finishText(state: IChatState): IChatState {
  const items = state.items;
  const last = items[items.length - 1];
  if (last && (last.kind === 'text' || last.kind === 'reasoning') && last.streaming) {
    const copy = items.slice();
    copy[copy.length - 1] = { ...last, streaming: false };
    return { ...state, items: copy, thinking: null };
  }
  return { ...state, thinking: null };
}

function completeTurn(
  state: IChatState,
  data: {
    message: string;
    tool_calls: ToolCallSummary[];
    usage?: IUsage | null;
    cancelled?: boolean;
    protocol_version?: number;
  }
): IChatState {
  let next = finishText(state);
  for (const call of data.tool_calls ?? []) {
    // Only cards the stream left unfinished: a finished card keeps its identity (and its
    // table's sort and expansion on screen).
    const known = next.items.find(item => item.kind === 'tool' && item.id === call.tool_call_id);
    if (!known || isLive((known as IToolItem).call.state)) {
      next = upsertTool(next, call.tool_call_id, endedCall(call));
    }
  }
  const turnItems = next.items.slice(next.turnStart);
  if (data.message && !turnItems.some(item => item.kind === 'text')) {
    // A client that missed the stream (joined late, merged log) still shows the answer.
    next = push(next, {
      kind: 'text',
      id: '',
      text: data.message,
      streaming: false
    });
  }
  if (data.cancelled) {
    next = stopLiveTools(next);
    next = push(next, { kind: 'notice', id: '', text: 'Stopped.' });
  }
  if (data.protocol_version !== undefined && data.protocol_version !== PROTOCOL_VERSION) {
    next = push(next, {
      kind: 'notice',
      id: '',
      text:
        `The server speaks kchat protocol v${data.protocol_version}; this page was built for ` +
        `v${PROTOCOL_VERSION}. Reload the page.`
    });
  }
  if (data.usage && typeof data.usage === 'object' && Object.keys(data.usage).length > 0) {
    next = push(next, { kind: 'usage', id: '', usage: data.usage });
  }
  return leaveBusy(next);
}

function isLive(state: ToolCallState): boolean {
  return state === 'running' || state === 'awaiting_approval';
}

function stopLiveTools(state: IChatState): IChatState {
  let changed = false;
  const items = state.items.map(item => {
    if (item.kind === 'tool' && isLive(item.call.state)) {
      changed = true;
      return { ...item, call: { ...item.call, state: 'cancelled' as const } };
    }
    return item;
  });
  return changed ? { ...state, items } : state;
}

function leaveBusy(state: IChatState): IChatState {
  return {
    ...finishText(state),
    busy: false,
    pendingClientId: null,
    thinking: null,
    turnStart: state.items.length
  };
}

/** A card from `tool_call_end` (with its rows, and `rows_total` when a widget's saved events
 * kept only the first ones) or from a `complete` entry (rows stay unknown: a card the stream
 * finished keeps the rows it has). */
function endedCall(data: IToolCallEndData | ToolCallSummary): IToolCallView {
  return {
    id: data.tool_call_id,
    name: data.tool_name,
    arguments: data.arguments ?? {},
    state: data.status,
    result: data.result,
    durationMs: data.duration_ms ?? undefined,
    data: data.data ?? null,
    truncated: Boolean(data.truncated),
    rowsTotal: 'rows_total' in data ? data.rows_total : undefined
  };
}

/** Insert or update a tool card; a later event keeps what an earlier one knew (the reason). */
function upsertTool(state: IChatState, toolCallId: string, call: IToolCallView): IChatState {
  const index = state.items.findIndex(item => item.kind === 'tool' && item.id === toolCallId);
  if (index < 0) {
    return push(state, { kind: 'tool', id: toolCallId, call });
  }
  const old = state.items[index] as IToolItem;
  const merged: IToolCallView = {
    ...old.call,
    ...call,
    reason: call.reason ?? old.call.reason,
    decision: old.call.decision
  };
  const items = state.items.slice();
  items[index] = { ...old, call: merged };
  return { ...state, items };
}

function updateTool(
  state: IChatState,
  toolCallId: string,
  update: (call: IToolCallView) => IToolCallView
): IChatState {
  const index = state.items.findIndex(item => item.kind === 'tool' && item.id === toolCallId);
  if (index < 0) {
    return state;
  }
  const old = state.items[index] as IToolItem;
  const items = state.items.slice();
  items[index] = { ...old, call: update(old.call) };
  return { ...state, items };
}

/** Append an item; items without an id (`''`) get a fresh one. */
function push(state: IChatState, item: ChatItem): IChatState {
  const id = item.id || `i${state.nextId}`;
  return {
    ...state,
    items: [...state.items, { ...item, id } as ChatItem],
    nextId: state.nextId + 1
  };
}

function lastQuestion(state: IChatState): string | undefined {
  for (let i = state.items.length - 1; i >= 0; i--) {
    const item = state.items[i];
    if (item.kind === 'user') {
      return item.text;
    }
  }
  return undefined;
}

/** Stored history -> items; a running turn is then rebuilt by `resume` from `last_seq`. */
function loadConversation(conversation: IConversation): IChatState {
  let state: IChatState = {
    ...initialState(),
    conversationId: conversation.id,
    title: conversation.title || null
  };
  const calls = new Map<string, { name: string; arguments: Record<string, unknown> }>();
  for (const message of conversation.messages ?? []) {
    state = loadMessage(state, message, calls);
  }
  state = {
    ...state,
    lastSeq: conversation.last_seq ?? 0,
    turnStart: state.items.length
  };
  if (conversation.running) {
    state = { ...state, busy: true, thinking: 'Reconnecting to the answer…' };
  }
  return state;
}

function loadMessage(
  state: IChatState,
  message: IStoredMessage,
  calls: Map<string, { name: string; arguments: Record<string, unknown> }>
): IChatState {
  const content = typeof message.content === 'string' ? message.content : '';
  switch (message.role) {
    case 'user':
      return push(state, { kind: 'user', id: '', text: content });
    case 'assistant':
      for (const call of message.tool_calls ?? []) {
        const parsed = openAiCall(call);
        if (parsed) {
          calls.set(parsed.id, parsed);
        }
      }
      return content
        ? push(state, { kind: 'text', id: '', text: content, streaming: false })
        : state;
    case 'tool': {
      const tool: Partial<StoredToolView> = message.tool ?? {};
      const id = tool.tool_call_id ?? message.tool_call_id ?? `tool-${state.nextId}`;
      const known = calls.get(id);
      return upsertTool(state, id, {
        id,
        name: tool.tool_name ?? known?.name ?? 'tool',
        arguments: tool.arguments ?? known?.arguments ?? {},
        state: tool.status ?? 'completed',
        result: tool.result ?? content,
        durationMs: tool.duration_ms ?? undefined,
        data: tool.data ?? null,
        truncated: Boolean(tool.truncated),
        rowsTotal: tool.rows_total
      });
    }
    default:
      return state;
  }
}

/** An OpenAI-style `tool_calls` entry of a stored assistant message. */
function openAiCall(
  call: unknown
): { id: string; name: string; arguments: Record<string, unknown> } | null {
  if (typeof call !== 'object' || call === null) {
    return null;
  }
  const raw = call as {
    id?: unknown;
    function?: { name?: unknown; arguments?: unknown };
  };
  if (typeof raw.id !== 'string') {
    return null;
  }
  let args: Record<string, unknown> = {};
  const rawArgs = raw.function?.arguments;
  if (typeof rawArgs === 'string') {
    try {
      const parsed: unknown = JSON.parse(rawArgs);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        args = parsed as Record<string, unknown>;
      }
    } catch {
      args = {};
    }
  } else if (rawArgs && typeof rawArgs === 'object') {
    args = rawArgs as Record<string, unknown>;
  }
  const name = typeof raw.function?.name === 'string' ? raw.function.name : 'tool';
  return { id: raw.id, name, arguments: args };
}
