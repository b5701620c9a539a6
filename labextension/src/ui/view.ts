/**
 * The chat view, plain DOM: messages, tool cards, errors, the offline banner and the message
 * box. The panel and the notebook widget both use it; only the Markdown renderer differs
 * (JupyterLab's rendermime in the panel, marked + DOMPurify in the widget).
 */

import type { ConnectionStatus } from '../client';
import { BlockSplitter } from '../markdown';
import { ChatItem, IChatState, IErrorItem, IReasoningItem, ITextItem } from '../reducer';
import { button, formatUsage, h } from './dom';
import { IToolCardActions, renderToolCard } from './toolcard';

/** Renders Markdown into a host element, replacing what the host showed before. */
export interface IMarkdownRenderer {
  render(host: HTMLElement, markdown: string): Promise<void> | void;
}

export interface IChatActions extends IToolCardActions {
  /** False when the message was not taken (a turn still runs): the box keeps it. */
  send(text: string): boolean;
  cancel(): void;
  retry(text: string): void;
}

export interface IChatViewOptions {
  markdown: IMarkdownRenderer;
  actions: IChatActions;
  /** Asks for another frame when an asynchronous render finished with newer text waiting. */
  requestUpdate: () => void;
  sendOnEnter?: boolean;
  /** Extra controls shown above the message box (the panel's "Include active cell"). */
  composerExtras?: HTMLElement[];
  placeholder?: string;
  /** Intro shown while the conversation is empty. */
  emptyText?: string;
}

/** What to do about an error, by code (docs/protocol.md lists them). */
export function errorHint(code: string, retryable: boolean): string {
  switch (code) {
    case 'rate_limited':
      return 'The model endpoint is rate limiting requests. Wait a moment, then retry.';
    case 'model_unavailable':
    case 'model_unreachable':
    case 'model_timeout':
    case 'model_stream_interrupted':
    case 'model_error':
      return 'The model endpoint did not answer properly. Check that it is up, then retry.';
    case 'model_stalled':
      return 'The answer stopped arriving part way (what came is kept). Retry; a slow local model may need a longer c.KChat.stream_stall_timeout.';
    case 'context_exceeded':
      return "The conversation no longer fits the model's context window: start a new conversation, ask about less at once, or use a model with a larger window.";
    case 'model_auth':
    case 'model_forbidden':
      return 'The model endpoint refused the credentials: check c.KChat.api_key (OPENAI_API_KEY) and restart Jupyter.';
    case 'model_not_found':
      return 'The model name is unknown to the endpoint: change it in Settings > Kubernetes Chat, or c.KChat.model.';
    case 'model_bad_request':
      return 'The model endpoint rejected the request: the model may not support tool calls, or the conversation is too long. Start a new conversation or choose another model.';
    case 'internal_error':
      return 'Something went wrong inside kchat (the server log has details). Retry, or start a new conversation.';
    case 'model_not_configured':
      return 'No model is configured: set OPENAI_API_KEY or OPENAI_BASE_URL (or c.KChat.base_url) and restart Jupyter.';
    case 'message_too_large':
      return 'Send a shorter message, or only the relevant part of a log.';
    case 'turn_in_progress':
      return 'This conversation is still answering: wait for it or press Stop.';
    case 'unknown_conversation':
    case 'not_resumable':
      return 'This conversation is no longer running on the server: start a new one or reopen it from the history.';
    case 'connection_lost':
      return 'Open the conversation from the history list, or send the message again.';
    default:
      return retryable ? 'This may be temporary: retry.' : '';
  }
}

/** One assistant text segment, rendered block by block (see markdown.ts). */
class TextView {
  readonly node: HTMLElement;

  constructor(
    private readonly _markdown: IMarkdownRenderer,
    private readonly _actions: IChatActions,
    private readonly _requestUpdate: () => void,
    private readonly _afterRender: () => void
  ) {
    this.node = h('div', {
      className: 'jp-kchat-message jp-kchat-assistant',
      'data-rendered-length': '0'
    });
  }

  set(item: ITextItem): void {
    if (item !== this._item) {
      this._item = item;
      this._stale = true;
    }
  }

  /** Render what changed since the last call, unless a render is still in flight. */
  flush(): void {
    if (!this._stale) {
      return;
    }
    if (this._pending) {
      this._dirty = true;
      return;
    }
    const item = this._item;
    if (!item) {
      return;
    }
    this._stale = false;
    const { done, tail } = this._splitter.update(item.text);
    const work: (Promise<void> | null)[] = [];
    for (let i = this._hosts.length; i < done.length; i++) {
      let host = this._tailHost;
      this._tailHost = null;
      if (!host) {
        host = this._newHost();
      }
      this._hosts.push(host);
      if (this._tailText !== done[i]) {
        work.push(this._render(host, done[i], true));
      } else {
        this._decorate(host, true);
      }
      this._tailText = '';
    }
    const final = !item.streaming;
    if (this._tailHost && tail === this._tailText && final && !this._tailFinal) {
      this._tailFinal = true;
      this._decorate(this._tailHost, true);
    } else if (tail.trim() && (tail !== this._tailText || final !== this._tailFinal)) {
      if (!this._tailHost) {
        this._tailHost = this._newHost();
      }
      this._tailText = tail;
      this._tailFinal = final;
      work.push(this._render(this._tailHost, tail, final));
    }
    const length = item.text.length;
    const waiting = work.filter((promise): promise is Promise<void> => promise !== null);
    if (waiting.length === 0) {
      this._rendered(length);
      return;
    }
    this._pending = Promise.all(waiting).then(
      () => this._settle(length),
      () => this._settle(length)
    );
  }

  private _settle(length: number): void {
    this._pending = null;
    this._rendered(length);
    this._afterRender();
    if (this._dirty) {
      this._dirty = false;
      this._stale = true;
      this._requestUpdate();
    }
  }

  /** Tests and benchmarks read how much of the text is on screen. */
  private _rendered(length: number): void {
    const value = String(length);
    if (this.node.getAttribute('data-rendered-length') !== value) {
      this.node.setAttribute('data-rendered-length', value);
    }
    this.node.classList.toggle('jp-mod-streaming', Boolean(this._item?.streaming));
  }

  private _newHost(): HTMLElement {
    const host = h('div', { className: 'jp-kchat-block' });
    this.node.appendChild(host);
    return host;
  }

  /** Synchronous renderers (the widget's) finish at once; rendermime's return a promise. */
  private _render(host: HTMLElement, markdown: string, final: boolean): Promise<void> | null {
    const done = this._markdown.render(host, markdown);
    if (done instanceof Promise) {
      return done.then(() => this._decorate(host, final));
    }
    this._decorate(host, final);
    return null;
  }

  /** "Insert into notebook" on finished code blocks and tables (JupyterLab only). */
  private _decorate(host: HTMLElement, final: boolean): void {
    const insert = this._actions.insertCell;
    if (!insert || !final || host.dataset.decorated === 'true') {
      return;
    }
    host.dataset.decorated = 'true';
    for (const pre of Array.from(host.querySelectorAll('pre'))) {
      const code = pre.querySelector('code') ?? pre;
      const source = (code.textContent ?? '').replace(/\n$/, '');
      pre.insertAdjacentElement(
        'afterend',
        button('Insert into notebook', () => insert('code', source), {
          className: 'jp-kchat-insert',
          ariaLabel: 'Insert this code into the notebook as a code cell'
        })
      );
    }
    for (const table of Array.from(host.querySelectorAll('table'))) {
      table.insertAdjacentElement(
        'afterend',
        button('Insert into notebook', () => insert('markdown', tableToMarkdown(table)), {
          className: 'jp-kchat-insert',
          ariaLabel: 'Insert this table into the notebook as a Markdown cell'
        })
      );
    }
  }

  private _item: ITextItem | null = null;
  /** The item changed since the last render. */
  private _stale = false;
  private readonly _splitter = new BlockSplitter();
  private readonly _hosts: HTMLElement[] = [];
  private _tailHost: HTMLElement | null = null;
  private _tailText = '';
  private _tailFinal = false;
  private _pending: Promise<void> | null = null;
  private _dirty = false;
}

/** A rendered HTML table back to Markdown (cells as shown). */
export function tableToMarkdown(table: HTMLTableElement): string {
  const rows = Array.from(table.rows).map(row =>
    Array.from(row.cells).map(cell =>
      (cell.textContent ?? '')
        .trim()
        .replace(/\|/g, '\\|')
        .replace(/\s*\n\s*/g, ' ')
    )
  );
  if (rows.length === 0) {
    return '';
  }
  const width = Math.max(...rows.map(row => row.length));
  const line = (cells: string[]): string =>
    `| ${Array.from({ length: width }, (_, i) => cells[i] ?? '').join(' | ')} |`;
  return [line(rows[0]), line(rows[0].map(() => '---')), ...rows.slice(1).map(line)].join('\n');
}

/** Reasoning is plain text (never Markdown, never in the answer), collapsed by default. */
function updateReasoning(node: HTMLElement, item: IReasoningItem): void {
  node.classList.toggle('jp-mod-streaming', item.streaming);
  (node.firstChild as HTMLElement).textContent = item.streaming ? 'Reasoning…' : 'Reasoning';
  (node.lastChild as HTMLElement).textContent = item.text;
}

interface IRendered {
  item: ChatItem;
  node: HTMLElement;
  text?: TextView;
}

export class ChatView {
  readonly node: HTMLElement;
  readonly input: HTMLTextAreaElement;

  constructor(options: IChatViewOptions) {
    this._options = options;
    this._sendOnEnter = options.sendOnEnter ?? true;
    this._banner = h(
      'div',
      { className: 'jp-kchat-banner', role: 'status', 'aria-live': 'polite', hidden: true },
      'Offline, reconnecting…'
    );
    this._empty = h('div', { className: 'jp-kchat-empty' }, options.emptyText ?? '');
    this._items = h('div', { className: 'jp-kchat-items' });
    this._thinking = h(
      'div',
      { className: 'jp-kchat-thinking', 'aria-live': 'polite', hidden: true },
      h('span', { className: 'jp-kchat-spinner', 'aria-hidden': 'true' }),
      h('span', { className: 'jp-kchat-thinking-text' })
    );
    this._messages = h(
      'div',
      {
        className: 'jp-kchat-messages',
        role: 'log',
        'aria-label': 'Conversation',
        'aria-live': 'polite',
        tabindex: 0
      },
      this._empty,
      this._items,
      this._thinking
    );
    this.input = h('textarea', {
      className: 'jp-kchat-input',
      'aria-label': 'Message',
      rows: 3,
      placeholder: options.placeholder ?? 'Ask about your cluster…'
    });
    this.input.addEventListener('keydown', event => this._onKeyDown(event));
    this.input.addEventListener('input', () => this._syncButtons());
    this._send = button('Send', () => this.submit(), {
      className: 'jp-kchat-send jp-mod-accept',
      ariaLabel: 'Send message'
    });
    this._stop = button('Stop', () => this._options.actions.cancel(), {
      className: 'jp-kchat-stop',
      ariaLabel: 'Stop the answer'
    });
    this._stop.hidden = true;
    this._refused = h(
      'div',
      { className: 'jp-kchat-refused', role: 'status', 'aria-live': 'polite', hidden: true },
      'Still answering the last message: yours is kept here. Wait for the answer, or press Stop.'
    );
    const composer = h(
      'div',
      { className: 'jp-kchat-composer' },
      options.composerExtras?.length
        ? h('div', { className: 'jp-kchat-composer-extras' }, ...options.composerExtras)
        : null,
      this.input,
      this._refused,
      h('div', { className: 'jp-kchat-composer-buttons' }, this._stop, this._send)
    );
    this.node = h('div', { className: 'jp-kchat-view' }, this._banner, this._messages, composer);
    this._messages.addEventListener('scroll', () => this._onScroll());
    this._syncButtons();
  }

  set sendOnEnter(value: boolean) {
    this._sendOnEnter = value;
  }

  /**
   * Send what the box holds; the box empties only when the message really went out, and a
   * refused message says why (a turn still runs) instead of doing nothing.
   */
  submit(): void {
    const text = this.input.value;
    if (!text.trim()) {
      return;
    }
    if (!this._options.actions.send(text)) {
      this._refused.hidden = false;
      return;
    }
    this._refused.hidden = true;
    this.input.value = '';
    this._stick = true;
    this._syncButtons();
  }

  /**
   * Follow a busy change at once, not at the next frame: Send and Enter never look ready while
   * a turn runs (the session calls this on every state change).
   */
  setBusy(busy: boolean): void {
    if (busy === this._busy) {
      return;
    }
    this._busy = busy;
    if (!busy) {
      this._refused.hidden = true;
    }
    this._syncButtons();
  }

  /** Bring the DOM in line with the state; items are compared by identity. */
  update(state: IChatState, status: ConnectionStatus): void {
    this._banner.hidden = status !== 'offline';
    this.setBusy(state.busy);
    this._empty.hidden = state.items.length > 0;
    this._syncItems(state.items);
    for (const rendered of this._rendered) {
      rendered.text?.flush();
    }
    this._thinking.hidden = !(state.busy && state.thinking);
    (this._thinking.lastChild as HTMLElement).textContent = state.thinking ?? '';
    this._syncButtons();
    this._keepScrolled();
  }

  focus(): void {
    this.input.focus();
  }

  private _syncItems(items: readonly ChatItem[]): void {
    let index = 0;
    for (; index < items.length; index++) {
      const item = items[index];
      const current = this._rendered[index];
      if (current && current.item === item) {
        continue;
      }
      if (current && current.item.id === item.id && current.item.kind === item.kind) {
        this._refresh(current, item);
        continue;
      }
      // A different item at this position (a load or a reset): rebuild from here on.
      for (const stale of this._rendered.splice(index)) {
        stale.node.remove();
      }
      const created = this._create(item);
      this._rendered.push(created);
      this._items.appendChild(created.node);
    }
    for (const stale of this._rendered.splice(index)) {
      stale.node.remove();
    }
  }

  private _create(item: ChatItem): IRendered {
    if (item.kind === 'text') {
      const text = new TextView(
        this._options.markdown,
        this._options.actions,
        this._options.requestUpdate,
        () => this._keepScrolled()
      );
      text.set(item);
      return { item, node: text.node, text };
    }
    return { item, node: this._renderItem(item) };
  }

  private _refresh(rendered: IRendered, item: ChatItem): void {
    rendered.item = item;
    if (rendered.text && item.kind === 'text') {
      rendered.text.set(item);
      return;
    }
    if (item.kind === 'reasoning') {
      // In place: a reader who opened it keeps it open while it grows.
      updateReasoning(rendered.node, item);
      return;
    }
    const node = this._renderItem(item);
    rendered.node.replaceWith(node);
    rendered.node = node;
  }

  private _renderItem(item: ChatItem): HTMLElement {
    switch (item.kind) {
      case 'user':
        return h(
          'div',
          { className: 'jp-kchat-message jp-kchat-user' },
          h('div', { className: 'jp-kchat-user-text' }, item.text),
          item.cell
            ? h(
                'div',
                { className: 'jp-kchat-cell-context', title: item.cell.source },
                `With the active ${item.cell.language || 'notebook'} cell (${item.cell.source.split('\n').length} lines)`
              )
            : null
        );
      case 'tool':
        return renderToolCard(item.call, this._options.actions);
      case 'error':
        return this._renderError(item);
      case 'notice':
        return h('div', { className: 'jp-kchat-notice' }, item.text);
      case 'reasoning': {
        const node = h(
          'details',
          { className: 'jp-kchat-reasoning' },
          h('summary', {}, ''),
          h('div', { className: 'jp-kchat-reasoning-text' })
        );
        updateReasoning(node, item);
        return node;
      }
      case 'usage':
        return h('div', { className: 'jp-kchat-usage' }, formatUsage(item.usage));
      case 'text':
        return h('div');
    }
  }

  private _renderError(item: IErrorItem): HTMLElement {
    const hint = errorHint(item.code, item.retryable);
    const retry = item.retry;
    return h(
      'div',
      { className: 'jp-kchat-error', role: 'alert', 'data-code': item.code },
      h('div', { className: 'jp-kchat-error-message' }, item.message),
      hint ? h('div', { className: 'jp-kchat-error-hint' }, hint) : null,
      h(
        'div',
        { className: 'jp-kchat-error-footer' },
        item.code ? h('code', { className: 'jp-kchat-error-code' }, item.code) : null,
        item.retryable && retry
          ? button('Retry', () => this._options.actions.retry(retry), {
              className: 'jp-kchat-retry',
              ariaLabel: 'Send the question again'
            })
          : null
      )
    );
  }

  private _onKeyDown(event: KeyboardEvent): void {
    if (event.key === 'Escape' && this._busy) {
      event.preventDefault();
      this._options.actions.cancel();
      return;
    }
    if (event.key !== 'Enter' || event.isComposing) {
      return;
    }
    const force = event.ctrlKey || event.metaKey;
    if (event.shiftKey || (!this._sendOnEnter && !force)) {
      return;
    }
    event.preventDefault();
    this.submit();
  }

  private _syncButtons(): void {
    this._stop.hidden = !this._busy;
    this._send.disabled = this._busy || !this.input.value.trim();
    this.node.classList.toggle('jp-mod-busy', this._busy);
  }

  /**
   * Follow the answer while the user is at the bottom. Content also grows after asynchronous
   * renders, which fire no scroll event, so "at the bottom" is remembered, not measured.
   */
  private _keepScrolled(): void {
    if (!this._stick) {
      return;
    }
    const messages = this._messages;
    const top = messages.scrollHeight - messages.clientHeight;
    if (top > 0 && Math.abs(messages.scrollTop - top) > 1) {
      messages.scrollTop = top;
      this._scrolledTo = messages.scrollTop;
    }
  }

  /** Only the user's own scrolling changes whether the view follows the answer. */
  private _onScroll(): void {
    const messages = this._messages;
    if (Math.abs(messages.scrollTop - this._scrolledTo) <= 1) {
      return;
    }
    this._scrolledTo = -1;
    this._stick = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 48;
  }

  private readonly _options: IChatViewOptions;
  private _sendOnEnter: boolean;
  private _busy = false;
  private _stick = true;
  private _scrolledTo = -1;
  private readonly _banner: HTMLElement;
  private readonly _empty: HTMLElement;
  private readonly _items: HTMLElement;
  private readonly _thinking: HTMLElement;
  private readonly _messages: HTMLElement;
  private readonly _send: HTMLButtonElement;
  private readonly _refused: HTMLElement;
  private readonly _stop: HTMLButtonElement;
  private readonly _rendered: IRendered[] = [];
}
