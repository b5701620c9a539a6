/**
 * One chat: the reducer's state, a transport (the socket client or a widget model) and a view.
 * Events are reduced as they arrive and drawn at most once per animation frame, so a burst of
 * thousands of chunks costs one render per frame, not one per chunk.
 */

import type { ITransport } from './client';
import { DataRow, ICellContext, IChatFrame, IConversation, newClientId } from './protocol';
import { ChatAction, IChatState, initialState, reduce } from './reducer';
import { ChatView, IMarkdownRenderer } from './ui/view';

/** Optional fields of a chat frame taken from settings and the notebook at send time. */
export type FrameExtras = Partial<Pick<IChatFrame, 'model' | 'namespace' | 'context'>> & {
  cell?: ICellContext | null;
};

export interface IChatSessionOptions {
  transport: ITransport;
  markdown: IMarkdownRenderer;
  requestFrame?: (callback: () => void) => void;
  extras?: () => FrameExtras;
  insertCell?: (kind: 'code' | 'markdown', source: string) => void;
  openTable?: (title: string, rows: DataRow[]) => void;
  composerExtras?: HTMLElement[];
  sendOnEnter?: boolean;
  emptyText?: string;
  /** After every state change (persisting the conversation id, refreshing the history). */
  onChange?: (state: IChatState, previous: IChatState) => void;
}

export class ChatSession {
  readonly view: ChatView;

  constructor(options: IChatSessionOptions) {
    this._transport = options.transport;
    this._extras = options.extras ?? (() => ({}));
    this._onChange = options.onChange;
    this._requestFrame =
      options.requestFrame ??
      ((callback: () => void) => {
        if (typeof requestAnimationFrame === 'function') {
          requestAnimationFrame(() => callback());
        } else {
          setTimeout(callback, 16);
        }
      });
    this.view = new ChatView({
      markdown: options.markdown,
      sendOnEnter: options.sendOnEnter,
      composerExtras: options.composerExtras,
      emptyText: options.emptyText,
      requestUpdate: () => this._schedule(),
      actions: {
        send: text => this.send(text),
        cancel: () => this.cancel(),
        retry: text => void this.send(text),
        approve: (id, approved) => this.approve(id, approved),
        insertCell: options.insertCell,
        openTable: options.openTable
      }
    });
    this._disposers.push(
      this._transport.onEvent(event => this.dispatch({ type: 'event', event })),
      this._transport.onStatus(() => this._schedule())
    );
    this._schedule();
  }

  get state(): IChatState {
    return this._state;
  }

  dispatch(action: ChatAction): void {
    const previous = this._state;
    this._state = reduce(previous, action);
    if (this._state === previous) {
      return;
    }
    if (this._cancelWanted && this._state.conversationId && this._state.busy) {
      this._cancelWanted = false;
      this._transport.send({ type: 'cancel', conversation_id: this._state.conversationId });
    }
    this.view.setBusy(this._state.busy);
    this._onChange?.(this._state, previous);
    this._schedule();
  }

  /** `overrides` replace the settings' extras for this message (a chosen cell). */
  send(message: string, overrides: FrameExtras = {}): boolean {
    if (!message.trim() || this._state.busy) {
      return false;
    }
    const clientId = newClientId();
    const { cell, ...extras } = { ...this._extras(), ...overrides };
    const frame: IChatFrame = {
      type: 'chat',
      message,
      conversation_id: this._state.conversationId,
      client_id: clientId
    };
    for (const [key, value] of Object.entries(extras) as [
      keyof FrameExtras,
      string | undefined
    ][]) {
      if (value) {
        (frame as unknown as Record<string, string>)[key] = value;
      }
    }
    if (cell && cell.source.trim()) {
      frame.cell = cell;
    }
    this.dispatch({ type: 'send', message, clientId, cell: frame.cell ?? undefined });
    this._transport.send(frame);
    return true;
  }

  /** Stop the running turn; a turn whose id is not known yet is stopped as soon as it is. */
  cancel(): void {
    if (!this._state.busy) {
      return;
    }
    if (this._state.conversationId) {
      this._transport.send({ type: 'cancel', conversation_id: this._state.conversationId });
    } else {
      this._cancelWanted = true;
    }
  }

  approve(toolCallId: string, approved: boolean): void {
    this.dispatch({ type: 'decide', toolCallId, approved });
    this._transport.send({ type: 'approve', tool_call_id: toolCallId, approved });
  }

  /** Show a stored conversation; a turn still running is replayed from `last_seq`. */
  load(conversation: IConversation): void {
    this._cancelWanted = false;
    this.dispatch({ type: 'load', conversation });
    if (conversation.running) {
      this._transport.follow(conversation.id, conversation.last_seq ?? 0);
    }
  }

  reset(): void {
    this._cancelWanted = false;
    this.dispatch({ type: 'reset' });
  }

  /** Draw now instead of at the next frame (tests). */
  flush(): void {
    this._scheduled = false;
    this.view.update(this._state, this._transport.status);
  }

  dispose(): void {
    this._disposed = true;
    for (const dispose of this._disposers) {
      dispose();
    }
    this._disposers.length = 0;
  }

  private _schedule(): void {
    if (this._scheduled || this._disposed) {
      return;
    }
    this._scheduled = true;
    this._requestFrame(() => {
      if (!this._disposed && this._scheduled) {
        this.flush();
      }
    });
  }

  private readonly _transport: ITransport;
  private readonly _extras: () => FrameExtras;
  private readonly _onChange?: (state: IChatState, previous: IChatState) => void;
  private readonly _requestFrame: (callback: () => void) => void;
  private readonly _disposers: (() => void)[] = [];
  private _state: IChatState = initialState();
  private _scheduled = false;
  private _disposed = false;
  private _cancelWanted = false;
}
