/** The JupyterLab side panel: a chat session over the socket, history, notebook context. */

import { Notification } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ServerConnection } from '@jupyterlab/services';
import { IStateDB } from '@jupyterlab/statedb';
import { LabIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { chatSocketUrl, deleteConversation, getConversation, listConversations } from './api';
import { errorQuestion } from './cellerror';
import { ChatClient } from './client';
import { RenderMimeMarkdown } from './labmarkdown';
import { DataRow, ICellContext, IConversationSummary } from './protocol';
import { IChatState } from './reducer';
import { ChatSession } from './session';
import { button, h } from './ui/dom';

import kubernetesSvg from '../style/icons/kubernetes.svg';

export const PANEL_ID = 'jp-kchat-panel';
const STATE_KEY = 'jupyter-kchat:current-conversation';

export const kubernetesIcon = new LabIcon({
  name: 'jupyter-kchat:kubernetes',
  svgstr: kubernetesSvg
});

/** The user settings of `schema/plugin.json`. */
export interface IKChatSettings {
  model: string;
  namespace: string;
  sendOnEnter: boolean;
  includeActiveCell: boolean;
}

export const DEFAULT_SETTINGS: IKChatSettings = {
  model: '',
  namespace: '',
  sendOnEnter: true,
  includeActiveCell: false
};

export interface IKChatPanelOptions {
  serverSettings: ServerConnection.ISettings;
  rendermime: IRenderMimeRegistry;
  tracker: INotebookTracker | null;
  state: IStateDB | null;
  settings: IKChatSettings;
  /** Opens a tool's table at full width in the main area. */
  openTable?: (title: string, rows: DataRow[]) => void;
}

export class KChatPanel extends Widget {
  constructor(options: IKChatPanelOptions) {
    super();
    this.id = PANEL_ID;
    this.addClass('jp-kchat-panel');
    this.title.icon = kubernetesIcon;
    this.title.caption = 'Kubernetes Chat';
    this._serverSettings = options.serverSettings;
    this._tracker = options.tracker;
    this._stateDB = options.state;
    this._settings = options.settings;

    this.client = new ChatClient({ url: () => chatSocketUrl(this._serverSettings) });
    this._includeCell = h('input', {
      type: 'checkbox',
      className: 'jp-kchat-include-cell',
      'aria-label': 'Include active cell'
    });
    this._includeCell.checked = options.settings.includeActiveCell;
    this._includeCell.disabled = !this._tracker;
    const includeLabel = h(
      'label',
      {
        className: 'jp-kchat-toggle',
        title: "Send the active notebook cell's source with your message, as context"
      },
      this._includeCell,
      'Include active cell'
    );

    this.session = new ChatSession({
      transport: this.client,
      markdown: new RenderMimeMarkdown(
        options.rendermime,
        new URL(this._serverSettings.baseUrl, location.href).href
      ),
      sendOnEnter: options.settings.sendOnEnter,
      composerExtras: [includeLabel],
      emptyText:
        'Ask about your cluster: "list all pods", "why is payments-api crashlooping?", ' +
        '"which nodes are under memory pressure?"',
      extras: () => ({
        model: this._settings.model || undefined,
        namespace: this._settings.namespace || undefined,
        cell: this._includeCell.checked ? this._activeCell() : null
      }),
      insertCell: (kind, source) => this.insertCell(kind, source),
      openTable: options.openTable,
      onChange: (state, previous) => this._onChange(state, previous)
    });

    this._historyButton = button('History', () => this.toggleHistory(), {
      className: 'jp-kchat-history-toggle',
      ariaLabel: 'Show past conversations'
    });
    this._historyButton.setAttribute('aria-expanded', 'false');
    this._history = h('div', {
      className: 'jp-kchat-history',
      role: 'region',
      'aria-label': 'Past conversations',
      hidden: true
    });
    const header = h(
      'div',
      { className: 'jp-kchat-header' },
      h('h2', { className: 'jp-kchat-title' }, 'Kubernetes Chat'),
      h(
        'div',
        { className: 'jp-kchat-header-buttons' },
        this._historyButton,
        button('New conversation', () => this.newConversation(), {
          className: 'jp-kchat-new',
          ariaLabel: 'New conversation'
        })
      )
    );
    this.node.append(header, this._history, this.session.view.node);
    this.client.connect();
    void this._restore();
  }

  readonly client: ChatClient;
  readonly session: ChatSession;

  set settings(settings: IKChatSettings) {
    this._settings = settings;
    this.session.view.sendOnEnter = settings.sendOnEnter;
  }

  newConversation(): void {
    this.session.reset();
    this.session.view.focus();
  }

  async toggleHistory(show?: boolean): Promise<void> {
    const visible = show ?? this._history.hidden;
    this._history.hidden = !visible;
    this._historyButton.setAttribute('aria-expanded', String(visible));
    if (visible) {
      await this.refreshHistory();
    }
  }

  async refreshHistory(): Promise<void> {
    let conversations: IConversationSummary[];
    try {
      conversations = (await listConversations(this._serverSettings)).conversations;
    } catch (error) {
      this._history.replaceChildren(
        h(
          'div',
          { className: 'jp-kchat-error', role: 'alert' },
          `Could not load the history: ${describe(error)}`
        )
      );
      return;
    }
    if (conversations.length === 0) {
      this._history.replaceChildren(
        h('div', { className: 'jp-kchat-history-empty' }, 'No past conversations.')
      );
      return;
    }
    const list = h('ul', { className: 'jp-kchat-history-list' });
    for (const conversation of conversations) {
      const title = conversation.title || 'Untitled conversation';
      const current = conversation.id === this.session.state.conversationId;
      list.appendChild(
        h(
          'li',
          {
            className: `jp-kchat-history-item${current ? ' jp-mod-current' : ''}`,
            'data-conversation-id': conversation.id
          },
          button(title, () => void this.open(conversation.id), {
            className: 'jp-kchat-history-open',
            title: `Open "${title}"`
          }),
          h(
            'span',
            { className: 'jp-kchat-history-date' },
            conversation.running ? 'running' : formatDate(conversation.updated)
          ),
          button('✕', () => void this.remove(conversation.id, title), {
            className: 'jp-kchat-history-delete',
            ariaLabel: `Delete conversation "${title}"`,
            title: 'Delete'
          })
        )
      );
    }
    this._history.replaceChildren(list);
  }

  /** Show a stored conversation; a running turn is resumed over the socket. */
  async open(id: string): Promise<boolean> {
    let conversation;
    try {
      conversation = await getConversation(this._serverSettings, id);
    } catch (error) {
      Notification.error(`Could not open the conversation: ${describe(error)}`);
      return false;
    }
    if (!conversation) {
      return false;
    }
    this.session.load(conversation);
    this.session.view.focus();
    return true;
  }

  async remove(id: string, title: string): Promise<void> {
    try {
      await deleteConversation(this._serverSettings, id);
    } catch (error) {
      Notification.error(`Could not delete "${title}": ${describe(error)}`);
      return;
    }
    if (this.session.state.conversationId === id) {
      this.session.reset();
    }
    await this.refreshHistory();
  }

  /**
   * Ask about a failed cell: the error text in the message, the cell's source as its context.
   * False when a turn still runs (the user is told).
   */
  askAboutError(cell: ICellContext, error: string): boolean {
    if (!this.session.send(errorQuestion(error), { cell })) {
      Notification.warning('Kubernetes Chat is still answering: wait for it or press Stop.');
      return false;
    }
    return true;
  }

  /** Add a cell below the active one: code blocks as code cells, tables as Markdown. */
  insertCell(kind: 'code' | 'markdown', source: string): void {
    const notebook = this._tracker?.currentWidget;
    if (!notebook) {
      Notification.warning('Open a notebook first: the cell is added below its active cell.');
      return;
    }
    const content = notebook.content;
    NotebookActions.insertBelow(content);
    if (kind === 'markdown') {
      NotebookActions.changeCellType(content, 'markdown');
    }
    const cell = content.activeCell;
    if (!cell) {
      return;
    }
    cell.model.sharedModel.setSource(source);
    if (kind === 'markdown' && 'rendered' in cell) {
      (cell as unknown as { rendered: boolean }).rendered = true;
    }
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this.session.view.focus();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.session.dispose();
    this.client.dispose();
    super.dispose();
  }

  private _activeCell(): ICellContext | null {
    const cell = this._tracker?.activeCell;
    return cell ? cellContext(cell, this._tracker?.currentWidget ?? null) : null;
  }

  private _onChange(state: IChatState, previous: IChatState): void {
    if (state.conversationId !== previous.conversationId) {
      void this._remember(state.conversationId);
    }
    const added =
      state.items.length > previous.items.length ? state.items[state.items.length - 1] : null;
    if (added?.kind === 'error' && added.code === 'not_resumable' && state.conversationId) {
      // The server restarted under a running turn: show what it saved instead.
      void this.open(state.conversationId);
    }
    if (!this._history.hidden && state.busy !== previous.busy) {
      void this.refreshHistory();
    }
  }

  /** The conversation on screen survives a page reload (state DB, else localStorage). */
  private async _remember(id: string | null): Promise<void> {
    try {
      localStorage.setItem(STATE_KEY, id ?? '');
    } catch {
      // Storage disabled: the state DB below still has it.
    }
    if (this._stateDB) {
      try {
        await this._stateDB.save(STATE_KEY, id ?? '');
      } catch {
        // Best effort: the worst case is an empty panel after a reload.
      }
    }
  }

  private async _restore(): Promise<void> {
    let id = '';
    if (this._stateDB) {
      try {
        id = ((await this._stateDB.fetch(STATE_KEY)) as string | undefined) ?? '';
      } catch {
        id = '';
      }
    }
    if (!id) {
      try {
        id = localStorage.getItem(STATE_KEY) ?? '';
      } catch {
        id = '';
      }
    }
    // A conversation started before the restore finished wins over the stored one.
    if (!id || this.session.state.items.length > 0) {
      return;
    }
    if (!(await this.open(id))) {
      void this._remember(null);
    }
  }

  private readonly _serverSettings: ServerConnection.ISettings;
  private readonly _tracker: INotebookTracker | null;
  private readonly _stateDB: IStateDB | null;
  private _settings: IKChatSettings;
  private readonly _includeCell: HTMLInputElement;
  private readonly _history: HTMLElement;
  private readonly _historyButton: HTMLButtonElement;
}

/** A notebook cell (the tracker's kind: code, Markdown or raw). */
export type NotebookCell = NonNullable<INotebookTracker['activeCell']>;

/** A notebook cell as the chat frame's `cell`: its source and its language. */
export function cellContext(cell: NotebookCell, notebook: NotebookPanel | null): ICellContext {
  const type = cell.model.type;
  const language =
    type === 'code' ? (notebook?.model?.defaultKernelLanguage ?? '') || 'python' : type;
  return { source: cell.model.sharedModel.getSource(), language };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** ISO strings or epoch seconds/milliseconds, as the server may send either. */
export function formatDate(value: string | number | undefined): string {
  if (value === undefined || value === null || value === '') {
    return '';
  }
  const date =
    typeof value === 'number' ? new Date(value < 1e12 ? value * 1000 : value) : new Date(value);
  if (Number.isNaN(date.getTime())) {
    return String(value);
  }
  const now = new Date();
  return date.toDateString() === now.toDateString()
    ? date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleDateString();
}
