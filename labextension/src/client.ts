/**
 * The protocol client: one WebSocket to `{base_url}ws/chat` that reconnects by itself with
 * backoff, resumes running turns from the last seq it saw, drops duplicate events, and queues
 * frames while offline. No JupyterLab imports, so the notebook widget and tests can use it too.
 */

import { ClientFrame, ServerEvent, parseEvent } from './protocol';

/** The subset of the browser WebSocket this client uses (tests pass a fake). */
export interface IWebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string) => IWebSocketLike;

/** `connecting`: first attempt; `offline`: lost or refused, a retry is scheduled. */
export type ConnectionStatus = 'connecting' | 'online' | 'offline' | 'closed';

export type EventListener = (event: ServerEvent) => void;
export type StatusListener = (status: ConnectionStatus) => void;

/** What a chat view needs from its link to the server: the socket client or a widget model. */
export interface ITransport {
  send(frame: ClientFrame): void;
  onEvent(listener: EventListener): () => void;
  onStatus(listener: StatusListener): () => void;
  readonly status: ConnectionStatus;
  /** Replay a conversation's running turn from `afterSeq` and keep following it. */
  follow(conversationId: string, afterSeq: number): void;
}

export interface ITimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface IChatClientOptions {
  /** Computed at every attempt, so a refreshed token or base URL is picked up. */
  url: () => string;
  createSocket?: WebSocketFactory;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Fraction of each delay taken off at random, so many tabs do not reconnect in step. */
  jitter?: number;
  random?: () => number;
  timers?: ITimers;
  /** Frames kept while offline; beyond it the oldest are dropped. */
  maxQueue?: number;
}

const OPEN = 1;

interface IFollowed {
  lastSeq: number;
  running: boolean;
}

export class ChatClient implements ITransport {
  constructor(options: IChatClientOptions) {
    this._url = options.url;
    this._createSocket =
      options.createSocket ?? ((url: string) => new WebSocket(url) as IWebSocketLike);
    this._initialDelay = options.initialDelayMs ?? 500;
    this._maxDelay = options.maxDelayMs ?? 10_000;
    this._jitter = options.jitter ?? 0.3;
    this._random = options.random ?? Math.random;
    this._timers = options.timers ?? {
      setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
      clearTimeout: handle => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>)
    };
    this._maxQueue = options.maxQueue ?? 200;
  }

  get status(): ConnectionStatus {
    return this._status;
  }

  /** Reconnect attempts since the last successful open. */
  get attempts(): number {
    return this._attempt;
  }

  /** Frames waiting for the socket. */
  get queued(): readonly ClientFrame[] {
    return this._queue;
  }

  /** Open the socket unless it is open, opening, or waiting for its next retry. */
  connect(): void {
    if (this._status === 'closed' || this._socket || this._retry !== null) {
      return;
    }
    this._open();
  }

  send(frame: ClientFrame): void {
    if (this._status === 'closed') {
      return;
    }
    this._track(frame);
    if (this._socket && this._socket.readyState === OPEN && this._status === 'online') {
      this._write(frame);
      return;
    }
    this._queue.push(frame);
    if (this._queue.length > this._maxQueue) {
      this._queue.shift();
    }
    this.connect();
  }

  follow(conversationId: string, afterSeq: number): void {
    this._followed.set(conversationId, { lastSeq: afterSeq, running: true });
    if (this._status === 'online') {
      this._write({ type: 'resume', conversation_id: conversationId, after_seq: afterSeq });
    } else {
      this.connect();
    }
  }

  /** Last seq seen for a conversation (0 when none). */
  lastSeq(conversationId: string): number {
    return this._followed.get(conversationId)?.lastSeq ?? 0;
  }

  onEvent(listener: EventListener): () => void {
    this._eventListeners.add(listener);
    return () => this._eventListeners.delete(listener);
  }

  onStatus(listener: StatusListener): () => void {
    this._statusListeners.add(listener);
    return () => this._statusListeners.delete(listener);
  }

  /** Drop the socket as a network failure would (tests, benchmarks, the browser's `online`). */
  reconnectNow(): void {
    if (this._status === 'closed') {
      return;
    }
    this._clearRetry();
    this._attempt = 0;
    if (this._socket) {
      this._socket.close();
      this._lost();
    }
    this._open();
  }

  dispose(): void {
    this._clearRetry();
    this._setStatus('closed');
    const socket = this._socket;
    this._socket = null;
    if (socket) {
      this._detach(socket);
      socket.close(1000, 'disposed');
    }
    this._eventListeners.clear();
    this._statusListeners.clear();
  }

  private _open(): void {
    this._clearRetry();
    let socket: IWebSocketLike;
    try {
      socket = this._createSocket(this._url());
    } catch {
      this._scheduleRetry();
      return;
    }
    this._socket = socket;
    socket.onopen = () => this._onOpen(socket);
    socket.onmessage = message => this._onMessage(socket, message.data);
    socket.onclose = () => {
      if (this._socket === socket) {
        this._lost();
        this._scheduleRetry();
      }
    };
    socket.onerror = () => undefined;
  }

  private _onOpen(socket: IWebSocketLike): void {
    if (this._socket !== socket) {
      return;
    }
    this._attempt = 0;
    this._setStatus('online');
    // Resumes first: a queued cancel or approve must reach a turn this socket follows.
    for (const [conversationId, followed] of this._followed) {
      if (followed.running) {
        this._write({
          type: 'resume',
          conversation_id: conversationId,
          after_seq: followed.lastSeq
        });
      }
    }
    const queue = this._queue;
    this._queue = [];
    for (const frame of queue) {
      this._write(frame);
    }
  }

  private _onMessage(socket: IWebSocketLike, data: unknown): void {
    if (this._socket !== socket || typeof data !== 'string') {
      return;
    }
    const event = parseEvent(data);
    if (!event || !this._accept(event)) {
      return;
    }
    for (const listener of this._eventListeners) {
      listener(event);
    }
  }

  /** Dedupe by seq and keep what a resume needs; false for an event already delivered. */
  private _accept(event: ServerEvent): boolean {
    const conversationId = event.data.conversation_id;
    if (event.seq === 0) {
      if (event.type === 'error' && conversationId && event.data.code === 'not_resumable') {
        const followed = this._followed.get(conversationId);
        if (followed) {
          followed.running = false;
        }
      }
      if (event.data.client_id) {
        this._unconfirmed.delete(event.data.client_id);
      }
      return true;
    }
    if (!conversationId) {
      return true;
    }
    if (event.data.client_id) {
      this._unconfirmed.delete(event.data.client_id);
    }
    const followed = this._followed.get(conversationId);
    if (followed && event.seq <= followed.lastSeq) {
      return false;
    }
    this._followed.set(conversationId, {
      lastSeq: event.seq,
      running: event.type !== 'complete'
    });
    return true;
  }

  /** Chat frames are followed from the moment they are sent, so a drop can resume them. */
  private _track(frame: ClientFrame): void {
    if (frame.type !== 'chat') {
      return;
    }
    if (frame.conversation_id) {
      const followed = this._followed.get(frame.conversation_id);
      this._followed.set(frame.conversation_id, {
        lastSeq: followed?.lastSeq ?? 0,
        running: true
      });
    }
  }

  private _write(frame: ClientFrame): void {
    if (frame.type === 'chat' && !frame.conversation_id && frame.client_id) {
      this._unconfirmed.add(frame.client_id);
    }
    this._socket?.send(JSON.stringify(frame));
  }

  /**
   * The socket is gone. A new conversation whose first event never came back has no id to
   * resume with: its view gets an error for that message instead of waiting forever.
   */
  private _lost(): void {
    const socket = this._socket;
    this._socket = null;
    if (socket) {
      this._detach(socket);
    }
    if (this._status !== 'closed') {
      this._setStatus('offline');
    }
    const lost = [...this._unconfirmed];
    this._unconfirmed.clear();
    for (const clientId of lost) {
      const event: ServerEvent = {
        type: 'error',
        seq: 0,
        data: {
          conversation_id: null,
          client_id: clientId,
          code: 'connection_lost',
          retryable: true,
          message:
            'The connection dropped before the server confirmed this message. It may still ' +
            'be answering: open it from the history list, or send it again.'
        }
      };
      for (const listener of this._eventListeners) {
        listener(event);
      }
    }
  }

  private _detach(socket: IWebSocketLike): void {
    socket.onopen = null;
    socket.onclose = null;
    socket.onmessage = null;
    socket.onerror = null;
  }

  /** 0.5 s doubling up to 10 s, each shortened by up to `jitter` at random. */
  nextDelay(): number {
    const base = Math.min(this._maxDelay, this._initialDelay * 2 ** this._attempt);
    return Math.round(base * (1 - this._jitter * this._random()));
  }

  private _scheduleRetry(): void {
    if (this._status === 'closed') {
      return;
    }
    this._setStatus('offline');
    const delay = this.nextDelay();
    this._attempt += 1;
    this._retry = this._timers.setTimeout(() => {
      this._retry = null;
      this._open();
    }, delay);
  }

  private _clearRetry(): void {
    if (this._retry !== null) {
      this._timers.clearTimeout(this._retry);
      this._retry = null;
    }
  }

  private _setStatus(status: ConnectionStatus): void {
    if (this._status === status) {
      return;
    }
    this._status = status;
    for (const listener of this._statusListeners) {
      listener(status);
    }
  }

  private readonly _url: () => string;
  private readonly _createSocket: WebSocketFactory;
  private readonly _initialDelay: number;
  private readonly _maxDelay: number;
  private readonly _jitter: number;
  private readonly _random: () => number;
  private readonly _timers: ITimers;
  private readonly _maxQueue: number;
  private _socket: IWebSocketLike | null = null;
  private _status: ConnectionStatus = 'connecting';
  private _attempt = 0;
  private _retry: unknown = null;
  private _queue: ClientFrame[] = [];
  private readonly _followed = new Map<string, IFollowed>();
  private readonly _unconfirmed = new Set<string>();
  private readonly _eventListeners = new Set<EventListener>();
  private readonly _statusListeners = new Set<StatusListener>();
}
