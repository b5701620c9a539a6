/**
 * Tool result rows as a table: click a header to sort, long tables collapsed.
 *
 * Rows keep the order they arrive in (the tools send problems first, with a `reason`) until a
 * header is clicked. The status and reason come right after the name, and in a narrow panel the
 * columns that help least (age, node, restarts, ...) are hidden first, by container queries in
 * the stylesheet: what is wrong with a row stays visible at any width. When the phase column is
 * hidden, a healthy row (no reason) shows its phase in the reason column instead, so every row
 * keeps a status. Cells wrap between words; only a token longer than `LONG_TOKEN_CH` may break
 * inside (a word broken mid-way, "CrashLoopBac kOff", reads as two).
 *
 * Tool results keep every row (10,000 pods are 10,000 rows), so an expanded table longer than
 * `WINDOW_AFTER` rows keeps only the rows in view, plus a margin, in the DOM: spacer rows stand
 * for the rest, and scrolling moves the window. Sorting and scrolling then cost the same for
 * 100 rows and for 10,000.
 */

import { DataRow } from '../protocol';
import { columnsOf, formatCell } from '../markdown';
import { button, h } from './dom';

export interface ITableOptions {
  /** Rows shown before "Show all N rows". */
  limit?: number;
  /** Start with every row (the full-width view). */
  expanded?: boolean;
}

/** Columns that say what is wrong with a row: right after the name, never hidden. */
const STATUS_COLUMNS = ['reason', 'status', 'problem'];
/** Hidden first when the table is narrow (`jp-mod-optional`). */
const OPTIONAL_COLUMNS = new Set([
  'age',
  'node',
  'restarts',
  'ip',
  'pod_ip',
  'host_ip',
  'nominated_node',
  'created',
  'creation_timestamp',
  'first_seen',
  'last_seen',
  'count',
  'image',
  'images',
  'labels',
  'selector',
  'uid',
  'qos',
  'containers',
  'ports',
  'cluster_ip',
  'external_ip'
]);
/** Always shown; the other columns (namespace, phase, ready, ...) hide only when very narrow
 * (`jp-mod-secondary`). */
const ESSENTIAL_COLUMNS = new Set(['name', 'kind', 'type', 'message', 'object', ...STATUS_COLUMNS]);

export type ColumnPriority = 'essential' | 'secondary' | 'optional';

export function columnPriority(column: string): ColumnPriority {
  const key = column.toLowerCase();
  if (ESSENTIAL_COLUMNS.has(key)) {
    return 'essential';
  }
  return OPTIONAL_COLUMNS.has(key) ? 'optional' : 'secondary';
}

/** The rows' columns with the status columns moved right after `name`. */
export function orderColumns(columns: readonly string[]): string[] {
  const status = columns.filter(column => STATUS_COLUMNS.includes(column.toLowerCase()));
  const name = columns.findIndex(column => column.toLowerCase() === 'name');
  if (status.length === 0 || name < 0) {
    return [...columns];
  }
  const rest = columns.filter(column => !status.includes(column));
  const at = rest.indexOf(columns[name]) + 1;
  return [...rest.slice(0, at), ...status, ...rest.slice(at)];
}

/** Long explanations wrap instead of pushing the other columns out of view. */
const WRAPPED = new Set([...STATUS_COLUMNS, 'name', 'message', 'text']);

/** Columns saying what state a row is in, whatever is wrong with it. */
const STATE_COLUMNS = ['phase', 'status', 'state'];

/** Where an empty problem cell shows the row's state once the state's own column is hidden. */
export interface IStandIn {
  /** The problem column (`reason`, `problem`): empty for a healthy row. */
  column: string;
  /** The state column whose value stands in (`phase`, ...): one that hides in a narrow table. */
  from: string;
  priority: Exclude<ColumnPriority, 'essential'>;
}

/** The stand-in for `columns`, or null when no state column would be hidden. */
export function statusStandIn(columns: readonly string[]): IStandIn | null {
  const lower = columns.map(column => column.toLowerCase());
  const at = lower.findIndex(column => column === 'reason' || column === 'problem');
  const from = STATE_COLUMNS.map(name => lower.indexOf(name)).find(index => index >= 0);
  if (at < 0 || from === undefined) {
    return null;
  }
  const priority = columnPriority(columns[from]);
  return priority === 'essential' ? null : { column: columns[at], from: columns[from], priority };
}

/** Tokens up to this many characters never break inside; longer ones break anywhere. */
export const LONG_TOKEN_CH = 30;

/** Whether `text` has a token (between spaces, or after a hyphen) longer than `LONG_TOKEN_CH`. */
export function hasLongToken(text: string): boolean {
  return text.split(/\s+|(?<=-)/).some(token => token.length > LONG_TOKEN_CH);
}

const PRIORITY_CLASS: Record<ColumnPriority, string> = {
  essential: '',
  secondary: 'jp-mod-secondary',
  optional: 'jp-mod-optional'
};

type Direction = 'ascending' | 'descending';

/** Expanded tables with more rows than this render a window of them. */
export const WINDOW_AFTER = 200;
/** Rows rendered above and below the visible ones. */
const OVERSCAN = 40;
/** Row height until a rendered row can be measured (no layout in tests without a browser). */
const DEFAULT_ROW_PX = 20;
/** The scroll box's height until it can be measured (its CSS max-height). */
const DEFAULT_VIEW_PX = 420;
/** Column width bounds in characters for windowed tables, whose columns are fixed. */
const MIN_COLUMN_CH = 4;
const MAX_COLUMN_CH = 48;

/** One collator for every comparison: `localeCompare` with options builds one per call. */
const COLLATOR = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

export function compareCells(a: unknown, b: unknown): number {
  const empty = (value: unknown): boolean => value === null || value === undefined || value === '';
  if (empty(a) || empty(b)) {
    return empty(a) === empty(b) ? 0 : empty(a) ? 1 : -1;
  }
  const numberA = typeof a === 'number' ? a : Number(a);
  const numberB = typeof b === 'number' ? b : Number(b);
  if (!Number.isNaN(numberA) && !Number.isNaN(numberB) && typeof a !== 'boolean') {
    return numberA - numberB;
  }
  return COLLATOR.compare(formatCell(a), formatCell(b));
}

export function sortRows(
  rows: readonly DataRow[],
  column: string,
  direction: Direction
): DataRow[] {
  const sign = direction === 'ascending' ? 1 : -1;
  return rows
    .map((row, index) => ({ row, index }))
    .sort((x, y) => sign * compareCells(x.row[column], y.row[column]) || x.index - y.index)
    .map(entry => entry.row);
}

export class DataTable {
  readonly node: HTMLElement;

  constructor(rows: readonly DataRow[], options: ITableOptions = {}) {
    this._rows = rows;
    this._order = rows;
    this._limit = options.limit ?? 20;
    this._expanded = options.expanded ?? false;
    this._columns = orderColumns(columnsOf(rows));
    // A table without any essential column (log lines) hides nothing.
    const hides = this._columns.some(column => columnPriority(column) === 'essential');
    this._standIn = hides ? statusStandIn(this._columns) : null;
    const priority = (column: string): ColumnPriority =>
      hides ? columnPriority(column) : 'essential';
    this._classes = this._columns.map(column =>
      [PRIORITY_CLASS[priority(column)], WRAPPED.has(column.toLowerCase()) ? 'jp-mod-wrap' : '']
        .filter(Boolean)
        .join(' ')
    );
    const optional = this._columns.filter(column => priority(column) === 'optional');
    const secondary = this._columns.filter(column => priority(column) === 'secondary');
    const note = (columns: string[], className: string): HTMLElement | null =>
      columns.length
        ? h(
            'div',
            { className: `jp-kchat-table-hidden ${className}` },
            `Hidden at this width: ${columns.join(', ')}.`
          )
        : null;
    this._table = h('table', { className: 'jp-kchat-table' });
    this._body = h('tbody');
    this._more = h('div', { className: 'jp-kchat-table-more' });
    this._scroll = h('div', { className: 'jp-kchat-table-scroll' }, this._table);
    this._scroll.addEventListener('scroll', () => this._onScroll(), { passive: true });
    this.node = h(
      'div',
      { className: 'jp-kchat-table-wrap' },
      this._scroll,
      note(optional, 'jp-mod-optional'),
      note([...secondary, ...optional], 'jp-mod-secondary'),
      this._more
    );
    this._render();
  }

  /** Render the rows for the current size and scroll position (after a resize). */
  refresh(): void {
    this._renderRows();
  }

  get expanded(): boolean {
    return this._expanded;
  }

  /** Whether only a window of the rows is in the DOM. */
  get windowed(): boolean {
    return this._expanded && this._order.length > WINDOW_AFTER;
  }

  sortBy(column: string): void {
    const direction: Direction =
      this._sortColumn === column && this._direction === 'ascending' ? 'descending' : 'ascending';
    this._sortColumn = column;
    this._direction = direction;
    this._order = sortRows(this._rows, column, direction);
    this._render();
  }

  expand(): void {
    this._expanded = true;
    this._render();
  }

  private _render(): void {
    const headRow = h('tr', { 'aria-rowindex': 1 });
    for (const [index, column] of this._columns.entries()) {
      const sorted = this._sortColumn === column;
      const label = h(
        'button',
        {
          type: 'button',
          className: 'jp-kchat-sort',
          title: `Sort by ${column}`
        },
        column,
        this._standIn?.column === column
          ? standInNode(this._standIn, ` / ${this._standIn.from}`)
          : '',
        sorted ? (this._direction === 'ascending' ? ' ▲' : ' ▼') : ''
      );
      label.addEventListener('click', () => {
        this.sortBy(column);
        (
          this._table.querySelector(
            `th[data-column="${cssEscape(column)}"] button`
          ) as HTMLButtonElement | null
        )?.focus();
      });
      headRow.appendChild(
        h(
          'th',
          {
            scope: 'col',
            className: this._classes[index] || null,
            'data-column': column,
            'aria-sort': sorted ? this._direction : 'none'
          },
          label
        )
      );
    }
    const windowed = this.windowed;
    this._table.classList.toggle('jp-mod-windowed', windowed);
    this._table.setAttribute('aria-rowcount', String(this._order.length + 1));
    const head = h('thead', {}, headRow);
    if (windowed) {
      this._fixColumns(headRow);
    }
    this._table.replaceChildren(head, this._body);
    this._renderRows();
    this._more.replaceChildren();
    if (!this._expanded && this._order.length > this._limit) {
      this._more.appendChild(
        button(`Show all ${this._order.length} rows`, () => this.expand(), {
          className: 'jp-kchat-show-all'
        })
      );
    }
  }

  /** The rows in view, plus `OVERSCAN` on each side: [first, last). */
  private _range(): [number, number] {
    const total = this._order.length;
    if (!this.windowed) {
      return [0, this._expanded ? total : Math.min(this._limit, total)];
    }
    const rowPx = this._rowPx || DEFAULT_ROW_PX;
    const top = this._scroll.scrollTop;
    const height = this._scroll.clientHeight || DEFAULT_VIEW_PX;
    const first = Math.max(0, Math.floor(top / rowPx) - OVERSCAN);
    const last = Math.min(total, Math.ceil((top + height) / rowPx) + OVERSCAN);
    return [first, last];
  }

  private _renderRows(): void {
    const [first, last] = this._range();
    this._shown = [first, last];
    const rowPx = this._rowPx || DEFAULT_ROW_PX;
    const fragment = document.createDocumentFragment();
    if (first > 0) {
      fragment.appendChild(this._spacer(first * rowPx));
    }
    const windowed = this.windowed;
    const columns = this._columns;
    const classes = this._classes;
    const wraps = classes.map(className => !windowed && className.includes('jp-mod-wrap'));
    const standIn = this._standIn;
    const standInAt = standIn ? columns.indexOf(standIn.column) : -1;
    for (let index = first; index < last; index++) {
      const row = this._order[index];
      const tr = document.createElement('tr');
      tr.setAttribute('aria-rowindex', String(index + 2));
      for (let column = 0; column < columns.length; column++) {
        const td = document.createElement('td');
        const text = formatCell(row[columns[column]]);
        if (classes[column]) {
          td.className =
            wraps[column] && hasLongToken(text)
              ? `${classes[column]} jp-mod-long`
              : classes[column];
        }
        const state = standIn && column === standInAt && !text ? formatCell(row[standIn.from]) : '';
        if (state && standIn) {
          td.appendChild(standInNode(standIn, state));
        } else {
          td.textContent = text;
        }
        if (windowed && text.length > MAX_COLUMN_CH) {
          td.title = text;
        }
        tr.appendChild(td);
      }
      fragment.appendChild(tr);
    }
    if (windowed && last < this._order.length) {
      fragment.appendChild(this._spacer((this._order.length - last) * rowPx));
    }
    this._body.replaceChildren(fragment);
    if (windowed && !this._rowPx) {
      const measured = this._body
        .querySelector('tr[aria-rowindex]')
        ?.getBoundingClientRect().height;
      if (measured) {
        this._rowPx = measured;
        this._renderRows();
      }
    }
  }

  /** Move the window before the view reaches its edge (less than half the margin left). */
  private _onScroll(): void {
    if (!this.windowed) {
      return;
    }
    const rowPx = this._rowPx || DEFAULT_ROW_PX;
    const top = this._scroll.scrollTop;
    const firstVisible = Math.floor(top / rowPx);
    const lastVisible = Math.ceil((top + (this._scroll.clientHeight || DEFAULT_VIEW_PX)) / rowPx);
    const [first, last] = this._shown;
    const slack = OVERSCAN / 2;
    if (
      (first > 0 && firstVisible - first < slack) ||
      (last < this._order.length && last - lastVisible < slack)
    ) {
      this._renderRows();
    }
  }

  private _spacer(px: number): HTMLTableRowElement {
    const cell = h('td', { colspan: this._columns.length });
    cell.style.height = `${px}px`;
    return h('tr', { className: 'jp-kchat-table-spacer', 'aria-hidden': 'true' }, cell);
  }

  /**
   * Give a windowed table fixed column widths from all its rows, so that columns do not
   * jump as different rows scroll into the window.
   */
  private _fixColumns(headRow: HTMLTableRowElement): void {
    const cells = Array.from(headRow.children) as HTMLElement[];
    this._columns.forEach((column, index) => {
      let widest = column.length + 2;
      for (const row of this._rows) {
        const length = formatCell(row[column]).length;
        if (length > widest) {
          widest = length;
          if (widest >= MAX_COLUMN_CH) {
            break;
          }
        }
      }
      cells[index].style.width =
        `${Math.max(MIN_COLUMN_CH, Math.min(MAX_COLUMN_CH, widest)) + 2}ch`;
    });
  }

  private readonly _rows: readonly DataRow[];
  private _order: readonly DataRow[];
  private readonly _columns: string[];
  /** Per column: the class that lets a narrow table hide it ('' for never). */
  private readonly _classes: string[];
  private readonly _standIn: IStandIn | null;
  private readonly _limit: number;
  private readonly _table: HTMLTableElement;
  private readonly _body: HTMLTableSectionElement;
  private readonly _scroll: HTMLElement;
  private readonly _more: HTMLElement;
  private _expanded: boolean;
  private _sortColumn: string | null = null;
  private _direction: Direction = 'ascending';
  private _rowPx = 0;
  private _shown: [number, number] = [0, 0];
}

/** Text shown only while the stand-in's own column is hidden (the stylesheet's queries). */
function standInNode(standIn: IStandIn, text: string): HTMLElement {
  return h('span', { className: `jp-kchat-stand-in ${PRIORITY_CLASS[standIn.priority]}` }, text);
}

function cssEscape(value: string): string {
  return value.replace(/["\\]/g, '\\$&');
}
