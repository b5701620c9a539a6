/** Tool result rows as a table: click a header to sort, long tables collapsed. */

import { DataRow } from '../protocol';
import { columnsOf, formatCell } from '../markdown';
import { button, h } from './dom';

export interface ITableOptions {
  /** Rows shown before "Show all N rows". */
  limit?: number;
}

type Direction = 'ascending' | 'descending';

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
  return formatCell(a).localeCompare(formatCell(b), undefined, {
    numeric: true,
    sensitivity: 'base'
  });
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
    this._columns = columnsOf(rows);
    this._table = h('table', { className: 'jp-kchat-table' });
    this._more = h('div', { className: 'jp-kchat-table-more' });
    this.node = h(
      'div',
      { className: 'jp-kchat-table-wrap' },
      h('div', { className: 'jp-kchat-table-scroll' }, this._table),
      this._more
    );
    this._render();
  }

  get expanded(): boolean {
    return this._expanded;
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
    const headRow = h('tr');
    for (const column of this._columns) {
      const sorted = this._sortColumn === column;
      const label = h(
        'button',
        {
          type: 'button',
          className: 'jp-kchat-sort',
          title: `Sort by ${column}`
        },
        column,
        sorted ? (this._direction === 'ascending' ? ' ▲' : ' ▼') : ''
      );
      label.addEventListener('click', () => {
        this.sortBy(column);
        (this._table.querySelector(`th[data-column="${cssEscape(column)}"] button`) as
          | HTMLButtonElement
          | null)?.focus();
      });
      headRow.appendChild(
        h(
          'th',
          {
            scope: 'col',
            'data-column': column,
            'aria-sort': sorted ? this._direction : 'none'
          },
          label
        )
      );
    }
    const shown = this._expanded ? this._order : this._order.slice(0, this._limit);
    const body = h('tbody');
    const fragment = document.createDocumentFragment();
    for (const row of shown) {
      const tr = document.createElement('tr');
      for (const column of this._columns) {
        const td = document.createElement('td');
        td.textContent = formatCell(row[column]);
        tr.appendChild(td);
      }
      fragment.appendChild(tr);
    }
    body.appendChild(fragment);
    this._table.replaceChildren(h('thead', {}, headRow), body);
    this._more.replaceChildren();
    if (!this._expanded && this._order.length > this._limit) {
      this._more.appendChild(
        button(`Show all ${this._order.length} rows`, () => this.expand(), {
          className: 'jp-kchat-show-all'
        })
      );
    }
  }

  private readonly _rows: readonly DataRow[];
  private _order: readonly DataRow[];
  private readonly _columns: string[];
  private readonly _limit: number;
  private readonly _table: HTMLTableElement;
  private readonly _more: HTMLElement;
  private _expanded = false;
  private _sortColumn: string | null = null;
  private _direction: Direction = 'ascending';
}

function cssEscape(value: string): string {
  return value.replace(/["\\]/g, '\\$&');
}
