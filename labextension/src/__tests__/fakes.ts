/** Test doubles: a WebSocket under test control, manual timers, a transport, a model. */

import type { ConnectionStatus, ITimers, ITransport, IWebSocketLike } from '../client';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import Ajv2020 from 'ajv/dist/2020';

import { PROTOCOL_VERSION } from '../protocol';
import type { ClientFrame, RefusalCode, ServerEvent } from '../protocol';

/** The one protocol definition, as the Python side ships it. */
export const SCHEMA = JSON.parse(
  readFileSync(resolve(__dirname, '../../../jupyter_kchat/protocol/schema.json'), 'utf8')
) as { $id: string; version: number };

const ajv = new Ajv2020({ allErrors: true, strictTypes: false });
ajv.addKeyword('version');
ajv.addSchema(SCHEMA);

/** Problems of `value` against one of the schema's `$defs` (empty: it conforms). */
export function schemaProblems(definition: string, value: unknown): string[] {
  const validate = ajv.getSchema(`${SCHEMA.$id}#/$defs/${definition}`);
  if (!validate) {
    throw new Error(`the protocol schema defines no ${definition}`);
  }
  return validate(value)
    ? []
    : (validate.errors ?? []).map(e => `${e.instancePath || '(root)'} ${e.message ?? ''}`);
}

/** Every event a test builds is a protocol event: a fake that drifts fails where it is made. */
function conforming(event: ServerEvent): ServerEvent {
  const problems = schemaProblems('ServerEvent', event);
  if (problems.length > 0) {
    throw new Error(`not a protocol event: ${JSON.stringify(event)}: ${problems.join('; ')}`);
  }
  return event;
}

export class FakeSocket implements IWebSocketLike {
  static all: FakeSocket[] = [];

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }

  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onclose: ((event: unknown) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  sent: ClientFrame[] = [];
  closed = false;

  send(data: string): void {
    if (this.readyState !== 1) {
      throw new Error('send on a socket that is not open');
    }
    this.sent.push(JSON.parse(data) as ClientFrame);
  }

  close(): void {
    this.closed = true;
    this.readyState = 3;
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** The server or the network drops the connection. */
  drop(): void {
    this.readyState = 3;
    this.onclose?.({ code: 1006 });
  }

  receive(event: ServerEvent | string): void {
    this.onmessage?.({ data: typeof event === 'string' ? event : JSON.stringify(event) });
  }
}

export class ManualTimers implements ITimers {
  pending: { id: number; callback: () => void; ms: number }[] = [];
  private _next = 1;

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this._next++;
    this.pending.push({ id, callback, ms });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending = this.pending.filter(timer => timer.id !== handle);
  }

  /** Run the oldest timer; returns its delay. */
  runNext(): number {
    const timer = this.pending.shift();
    if (!timer) {
      throw new Error('no timer pending');
    }
    timer.callback();
    return timer.ms;
  }
}

export class FakeTransport implements ITransport {
  sent: ClientFrame[] = [];
  followed: [string, number][] = [];
  status: ConnectionStatus = 'online';
  private _events = new Set<(event: ServerEvent) => void>();
  private _statuses = new Set<(status: ConnectionStatus) => void>();

  send(frame: ClientFrame): void {
    this.sent.push(frame);
  }

  onEvent(listener: (event: ServerEvent) => void): () => void {
    this._events.add(listener);
    return () => this._events.delete(listener);
  }

  onStatus(listener: (status: ConnectionStatus) => void): () => void {
    this._statuses.add(listener);
    return () => this._statuses.delete(listener);
  }

  follow(conversationId: string, afterSeq: number): void {
    this.followed.push([conversationId, afterSeq]);
  }

  emit(event: ServerEvent): void {
    for (const listener of this._events) {
      listener(event);
    }
  }

  setStatus(status: ConnectionStatus): void {
    this.status = status;
    for (const listener of this._statuses) {
      listener(status);
    }
  }
}

/** Builds numbered events for one conversation. */
export class Script {
  seq = 0;
  constructor(readonly conversationId = 'conv-1') {}

  thinking(message = 'Thinking…', clientId?: string): ServerEvent {
    return this._event('thinking', { message, ...(clientId ? { client_id: clientId } : {}) });
  }
  text(text: string): ServerEvent {
    return this._event('text', { text });
  }
  reasoning(chunk: string): ServerEvent {
    return this._event('thinking', { message: 'Thinking…', reasoning: chunk });
  }
  toolStart(id: string, name: string, args: Record<string, unknown> = {}): ServerEvent {
    return this._event('tool_call_start', { tool_call_id: id, tool_name: name, arguments: args });
  }
  approval(
    id: string,
    name: string,
    reason: string,
    args: Record<string, unknown> = {}
  ): ServerEvent {
    return this._event('approval_required', {
      tool_call_id: id,
      tool_name: name,
      arguments: args,
      reason
    });
  }
  toolEnd(
    id: string,
    name: string,
    extra: Partial<{
      result: string;
      status: 'completed' | 'error' | 'denied' | 'cancelled';
      duration_ms: number;
      data: Record<string, unknown>[];
      truncated: boolean;
      arguments: Record<string, unknown>;
      rows_total: number;
    }> = {}
  ): ServerEvent {
    return this._event('tool_call_end', {
      tool_call_id: id,
      tool_name: name,
      arguments: extra.arguments ?? {},
      result: extra.result ?? 'ok',
      status: extra.status ?? 'completed',
      duration_ms: extra.duration_ms ?? 12,
      ...(extra.data ? { data: extra.data } : {}),
      ...(extra.truncated ? { truncated: true } : {}),
      ...(extra.rows_total !== undefined ? { rows_total: extra.rows_total } : {})
    });
  }
  error(message: string, code: string, retryable: boolean): ServerEvent {
    return this._event('error', { message, code, retryable });
  }
  complete(
    message = '',
    extra: {
      cancelled?: boolean;
      tool_calls?: unknown[];
      usage?: Record<string, number>;
      protocol_version?: number;
    } = {}
  ): ServerEvent {
    return this._event('complete', {
      message,
      tool_calls: extra.tool_calls ?? [],
      protocol_version: PROTOCOL_VERSION,
      ...extra
    });
  }

  private _event(type: string, data: Record<string, unknown>): ServerEvent {
    this.seq += 1;
    return conforming({
      type,
      data: { conversation_id: this.conversationId, ...data },
      seq: this.seq
    } as unknown as ServerEvent);
  }
}

export function refusal(
  code: RefusalCode,
  clientId?: string,
  conversationId: string | null = null
): ServerEvent {
  return conforming({
    type: 'error',
    seq: 0,
    data: {
      conversation_id: conversationId,
      message: `refused: ${code}`,
      code,
      retryable: false,
      ...(clientId ? { client_id: clientId } : {})
    }
  });
}
