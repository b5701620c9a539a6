/** A tool call as a card: name, arguments, live status, duration, result, approval buttons. */

import { rowsToMarkdown } from '../markdown';
import { DataRow } from '../protocol';
import { IToolCallView, ToolCallState } from '../reducer';
import { button, formatDuration, h } from './dom';
import { DataTable } from './table';

export interface IToolCardActions {
  approve(toolCallId: string, approved: boolean): void;
  /** Present in JupyterLab only: adds a cell below the active one. */
  insertCell?: (kind: 'code' | 'markdown', source: string) => void;
  /** Present in JupyterLab only: the table at full width in a main-area tab. */
  openTable?: (title: string, rows: DataRow[]) => void;
}

const STATUS_LABEL: Record<ToolCallState, string> = {
  running: 'Running',
  awaiting_approval: 'Waiting for your approval',
  completed: 'Completed',
  error: 'Failed',
  denied: 'Denied',
  cancelled: 'Cancelled'
};

export function statusLabel(call: IToolCallView): string {
  if (call.state === 'awaiting_approval' && call.decision) {
    return call.decision === 'approved' ? 'Approved, running…' : 'Denied, finishing…';
  }
  return STATUS_LABEL[call.state] ?? call.state;
}

/** `{namespace: "a", name: "b"}` -> `namespace=a name=b`, for the card's header. */
export function summarizeArguments(args: Record<string, unknown>): string {
  return Object.entries(args)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ')
    .slice(0, 160);
}

export function renderToolCard(call: IToolCallView, actions: IToolCardActions): HTMLElement {
  const live = call.state === 'running' || call.state === 'awaiting_approval';
  const header = h(
    'div',
    { className: 'jp-kchat-tool-header' },
    live
      ? h('span', { className: 'jp-kchat-spinner', role: 'progressbar', 'aria-label': 'Running' })
      : h('span', { className: `jp-kchat-status-dot jp-mod-${call.state}`, 'aria-hidden': 'true' }),
    h('span', { className: 'jp-kchat-tool-name' }, call.name),
    h('span', { className: 'jp-kchat-tool-args-summary' }, summarizeArguments(call.arguments)),
    h('span', { className: 'jp-kchat-tool-status' }, statusLabel(call)),
    call.durationMs !== undefined
      ? h('span', { className: 'jp-kchat-tool-duration' }, formatDuration(call.durationMs))
      : null,
    call.truncated
      ? h(
          'span',
          {
            className: 'jp-kchat-badge jp-kchat-truncated',
            title: 'The result was cut to fit the model context; the table may be partial.'
          },
          'truncated'
        )
      : null
  );
  const card = h(
    'section',
    {
      className: `jp-kchat-tool-call jp-mod-${call.state}`,
      'data-status': call.state,
      'data-tool-call-id': call.id,
      'aria-label': `Tool call ${call.name}: ${statusLabel(call)}`
    },
    header
  );
  const args = h(
    'details',
    { className: 'jp-kchat-tool-arguments' },
    h('summary', {}, 'Arguments'),
    h('pre', {}, JSON.stringify(call.arguments, null, 2))
  );
  if (call.state === 'awaiting_approval') {
    card.appendChild(renderApproval(call, actions));
    (args as HTMLDetailsElement).open = true;
  }
  card.appendChild(args);
  if (call.result !== undefined && !live) {
    card.appendChild(renderResult(call, actions));
  }
  return card;
}

function renderApproval(call: IToolCallView, actions: IToolCardActions): HTMLElement {
  const decided = call.decision !== undefined;
  const approve = button('Approve', () => actions.approve(call.id, true), {
    className: 'jp-kchat-approve jp-mod-accept',
    ariaLabel: `Approve ${call.name}`
  });
  const deny = button('Deny', () => actions.approve(call.id, false), {
    className: 'jp-kchat-deny jp-mod-reject',
    ariaLabel: `Deny ${call.name}`
  });
  approve.disabled = decided;
  deny.disabled = decided;
  return h(
    'div',
    { className: 'jp-kchat-approval', role: 'group', 'aria-label': 'Approval required' },
    h('div', { className: 'jp-kchat-approval-title' }, 'This changes your cluster:'),
    h('div', { className: 'jp-kchat-approval-reason' }, call.reason ?? call.name),
    h('div', { className: 'jp-kchat-approval-buttons' }, approve, deny)
  );
}

function renderResult(call: IToolCallView, actions: IToolCardActions): HTMLElement {
  const rows = call.data;
  const failed = call.state === 'error';
  if (!failed && Array.isArray(rows) && rows.length > 0 && isRowList(rows)) {
    const table = new DataTable(rows);
    const insert = actions.insertCell;
    const open = actions.openTable;
    const title = `${call.name} ${summarizeArguments(call.arguments)}`.trim();
    return h(
      'div',
      { className: 'jp-kchat-tool-result' },
      table.node,
      call.rowsTotal !== undefined && call.rowsTotal > rows.length
        ? h(
            'div',
            { className: 'jp-kchat-table-trimmed', role: 'note' },
            `Showing the first ${rows.length.toLocaleString()} of ` +
              `${call.rowsTotal.toLocaleString()} rows: a saved answer keeps only these. ` +
              'Ask again for all of them.'
          )
        : null,
      h(
        'div',
        { className: 'jp-kchat-table-actions' },
        open
          ? button('Open in a tab', () => open(title, rows), {
              className: 'jp-kchat-open-table',
              ariaLabel: `Open the ${call.name} table in a tab, at full width`
            })
          : null,
        insert
          ? button('Insert into notebook', () => insert('markdown', rowsToMarkdown(rows)), {
              className: 'jp-kchat-insert',
              ariaLabel: `Insert the ${call.name} table into the notebook`
            })
          : null
      )
    );
  }
  return h(
    'div',
    { className: `jp-kchat-tool-result${failed ? ' jp-mod-error' : ''}` },
    failed
      ? h('div', { className: 'jp-kchat-tool-error-title', role: 'alert' }, 'The tool failed:')
      : null,
    h('pre', { className: 'jp-kchat-tool-text' }, call.result || '(no output)')
  );
}

function isRowList(rows: unknown[]): rows is Record<string, unknown>[] {
  return rows.every(row => typeof row === 'object' && row !== null && !Array.isArray(row));
}
