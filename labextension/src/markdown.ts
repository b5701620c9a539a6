/**
 * Streaming Markdown in blocks: text that grows by chunks is cut into top-level blocks at blank
 * lines outside code fences. A finished block never changes again, so a view renders it once and
 * re-renders only the unfinished tail: the cost of a chunk does not grow with the answer.
 */

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const LIST_ITEM = /^ {0,3}([-*+]|\d{1,9}[.)])(\s|$)/;

export interface IBlocks {
  /** Finished blocks, in order; an array that only grows while the text only grows. */
  readonly done: readonly string[];
  /** The rest: still growing (or, once the text is final, the last block). */
  readonly tail: string;
}

export class BlockSplitter {
  /** Feed the whole text so far; the work done is proportional to the new part only. */
  update(text: string): IBlocks {
    if (!text.startsWith(this._text)) {
      this._reset();
    }
    this._text = text;
    let newline = text.indexOf('\n', this._scan);
    while (newline >= 0) {
      this._line(text.slice(this._scan, newline), newline + 1);
      newline = text.indexOf('\n', this._scan);
    }
    return { done: this._done, tail: text.slice(this._start) };
  }

  private _line(line: string, next: number): void {
    const blank = line.trim() === '';
    const fence = FENCE.exec(line);
    if (this._fence) {
      if (fence && fence[1][0] === this._fence[0] && fence[1].length >= this._fence.length) {
        this._fence = '';
      }
    } else if (blank) {
      if (this._content) {
        this._blankAt = this._blankAt || this._scan;
      }
    } else {
      if (this._blankAt && this._startsBlock(line)) {
        this._done.push(this._text.slice(this._start, this._scan));
        this._start = this._scan;
        this._list = false;
      }
      if (!this._content || this._start === this._scan) {
        this._list = LIST_ITEM.test(line);
      }
      this._content = true;
      this._blankAt = 0;
      if (fence) {
        this._fence = fence[1];
      }
    }
    this._scan = next;
  }

  /** After a blank line, an indented line or another list item continues the block. */
  private _startsBlock(line: string): boolean {
    if (/^\s/.test(line)) {
      return false;
    }
    return !(this._list && LIST_ITEM.test(line));
  }

  private _reset(): void {
    this._done = [];
    this._start = 0;
    this._scan = 0;
    this._fence = '';
    this._content = false;
    this._blankAt = 0;
    this._list = false;
  }

  private _text = '';
  private _done: string[] = [];
  /** Start of the tail block. */
  private _start = 0;
  /** Start of the first line not read yet. */
  private _scan = 0;
  /** The opening fence while inside a fenced code block. */
  private _fence = '';
  private _content = false;
  /** Where a blank line after content was seen (0: none since the last content line). */
  private _blankAt = 0;
  private _list = false;
}

/** Rows -> a GitHub Markdown table (for "Insert into notebook"). */
export function rowsToMarkdown(rows: readonly Record<string, unknown>[]): string {
  const columns = columnsOf(rows);
  const cell = (value: unknown): string =>
    formatCell(value).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  const lines = [
    `| ${columns.map(cell).join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`
  ];
  for (const row of rows) {
    lines.push(`| ${columns.map(column => cell(row[column])).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Union of the rows' keys, in first-seen order. */
export function columnsOf(rows: readonly Record<string, unknown>[]): string[] {
  const seen = new Set<string>();
  for (const row of rows) {
    for (const key of Object.keys(row)) {
      seen.add(key);
    }
  }
  return [...seen];
}

export function formatCell(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'object') {
    return JSON.stringify(value);
  }
  return String(value);
}
