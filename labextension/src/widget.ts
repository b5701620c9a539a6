/**
 * The notebook chat widget's front end (anywidget ESM, bundled into jupyter_kchat/static/widget.js).
 * Events come from the kernel as custom messages shaped like socket events; frames go back with
 * `model.send`. Same reducer, view and tool cards as the panel; Markdown through marked and the
 * panel's sanitizer because there is no rendermime outside JupyterLab (VS Code, Colab).
 */

import { marked } from 'marked';

import type { ConnectionStatus, EventListener, ITransport, StatusListener } from './client';
import { ClientFrame, ServerEvent, isServerEvent } from './protocol';
import { SafeHtml } from './safehtml';
import { ChatSession } from './session';
import { IMarkdownRenderer } from './ui/view';

import css from '../style/base.css';

/** The part of anywidget's model the widget uses. */
export interface IWidgetModel {
  get(name: string): unknown;
  send(content: unknown): void;
  on(name: string, callback: (...args: unknown[]) => void): void;
  off(name: string, callback: (...args: unknown[]) => void): void;
}

const STYLE_ID = 'jp-kchat-widget-style';

/** marked, then the shared sanitizer (safehtml.ts) before anything reaches the page. */
export class MarkedMarkdown implements IMarkdownRenderer {
  render(host: HTMLElement, markdown: string): void {
    const html = marked.parse(markdown, { async: false, gfm: true }) as string;
    host.innerHTML = this._safe.sanitize(html);
  }

  private readonly _safe = new SafeHtml({ server: serverBaseUrl(), base: document.baseURI });
}

/**
 * Resources under the Jupyter server's base URL may load: JupyterLab and Notebook name it in
 * their page config; elsewhere (VS Code, Colab) the page's own origin stands in.
 */
function serverBaseUrl(): string {
  try {
    const config = document.getElementById('jupyter-config-data')?.textContent;
    const baseUrl = config ? (JSON.parse(config) as { baseUrl?: unknown }).baseUrl : undefined;
    if (typeof baseUrl === 'string' && baseUrl) {
      return new URL(baseUrl, location.href).href;
    }
  } catch {
    // No readable page config: fall back to the origin.
  }
  return `${location.origin}/`;
}

/**
 * The question of a turn the view did not send itself (asked from Python), as the kernel side
 * puts it before that turn's events: `{"type": "user", "data": {"message", "client_id"?}}`.
 */
export interface IUserEntry {
  type: 'user';
  data: { message: string; client_id?: string };
}

export type WidgetEntry = ServerEvent | IUserEntry;

function isUserEntry(value: unknown): value is IUserEntry {
  const entry = value as { type?: unknown; data?: { message?: unknown } } | null;
  return entry?.type === 'user' && typeof entry.data?.message === 'string';
}

/** A kernel message (or the `events` trait) may carry one entry or a batch of them, in order. */
export function entriesOf(message: unknown): WidgetEntry[] {
  const keep = (items: unknown[]): WidgetEntry[] =>
    items.filter((item): item is WidgetEntry => isServerEvent(item) || isUserEntry(item));
  if (Array.isArray(message)) {
    return keep(message);
  }
  if (isServerEvent(message) || isUserEntry(message)) {
    return [message];
  }
  const batch = (message as { events?: unknown } | null)?.events;
  return Array.isArray(batch) ? keep(batch) : [];
}

/** Protocol events only (tests, and callers that do not show questions). */
export function eventsOf(message: unknown): ServerEvent[] {
  return entriesOf(message).filter(isServerEvent);
}

export type UserListener = (entry: IUserEntry) => void;

/** The kernel side as a transport: one model listener, so entries keep their order. */
export class ModelTransport implements ITransport {
  constructor(private readonly _model: IWidgetModel) {
    this._model.on('msg:custom', this._handler);
  }

  readonly status: ConnectionStatus = 'online';

  send(frame: ClientFrame): void {
    this._model.send(frame);
  }

  /** Apply entries (from a message or the `events` trait) in order. */
  deliver(message: unknown): void {
    for (const entry of entriesOf(message)) {
      if (isUserEntry(entry)) {
        this._users.forEach(listener => listener(entry));
      } else {
        this._events.forEach(listener => listener(entry));
      }
    }
  }

  onEvent(listener: EventListener): () => void {
    this._events.add(listener);
    return () => this._events.delete(listener);
  }

  onUser(listener: UserListener): () => void {
    this._users.add(listener);
    return () => this._users.delete(listener);
  }

  dispose(): void {
    this._model.off('msg:custom', this._handler);
    this._events.clear();
    this._users.clear();
  }

  private readonly _handler = (message: unknown): void => this.deliver(message);
  private readonly _events = new Set<EventListener>();
  private readonly _users = new Set<UserListener>();

  onStatus(_listener: StatusListener): () => void {
    return () => undefined;
  }

  follow(conversationId: string, afterSeq: number): void {
    this._model.send({ type: 'resume', conversation_id: conversationId, after_seq: afterSeq });
  }
}

function injectStyle(): void {
  if (typeof document === 'undefined' || document.getElementById(STYLE_ID)) {
    return;
  }
  const style = document.createElement('style');
  style.id = STYLE_ID;
  style.textContent = css;
  document.head.appendChild(style);
}

/**
 * The kernel also puts the chat as static HTML (for a saved notebook) in an output of its own,
 * marked with the class in `_saved_copy_class`: while a view shows the live chat, that copy and
 * its output row are hidden, so the chat shows once. Returns the undo.
 */
export function hideSavedCopy(model: IWidgetModel): () => void {
  const marker = model.get('_saved_copy_class');
  const valid = typeof marker === 'string' && /^kchat-saved-copy-[0-9a-f]+$/.test(marker);
  if (typeof document === 'undefined' || !valid) {
    return () => undefined;
  }
  const style = document.createElement('style');
  const selector = `.${marker}, .jp-OutputArea-child:has(.${marker})`;
  style.textContent = `${selector} { display: none !important; }`;
  document.head.appendChild(style);
  return () => style.remove();
}

/**
 * Optional model traits: `message` (the question the kernel asked; shown first) and `events`
 * (events already received, so a re-rendered output shows the whole answer).
 */
export function render({ model, el }: { model: IWidgetModel; el: HTMLElement }): () => void {
  injectStyle();
  const transport = new ModelTransport(model);
  const session = new ChatSession({
    transport,
    markdown: new MarkedMarkdown(),
    emptyText: 'Ask about your cluster.'
  });
  transport.onUser(entry => {
    const state = session.state;
    const last = state.items[state.items.length - 1];
    // The first question may already show from the `message` trait.
    if (state.busy && last?.kind === 'user' && last.text === entry.data.message) {
      if (entry.data.client_id) {
        session.dispatch({ type: 'claim', clientId: entry.data.client_id });
      }
      return;
    }
    session.dispatch({
      type: 'send',
      message: entry.data.message,
      clientId: entry.data.client_id ?? ''
    });
  });
  const message = model.get('message');
  if (typeof message === 'string' && message.trim()) {
    session.dispatch({ type: 'send', message, clientId: '' });
  }
  transport.deliver(model.get('events'));
  // A view rendered while a turn runs catches up from the last event it has (deduped by seq).
  const conversationId = model.get('conversation_id');
  if (model.get('busy') === true && typeof conversationId === 'string' && conversationId) {
    transport.follow(conversationId, session.state.lastSeq);
  }
  el.classList.add('jp-kchat-widget');
  el.appendChild(session.view.node);
  const showSavedCopy = hideSavedCopy(model);
  return () => {
    showSavedCopy();
    session.dispose();
    transport.dispose();
    session.view.node.remove();
  };
}

export default { render };
