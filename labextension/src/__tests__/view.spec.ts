import { describe, expect, it } from 'vitest';

import { ChatSession } from '../session';
import { IMarkdownRenderer } from '../ui/view';
import { formatUsage } from '../ui/dom';
import {
  DataTable,
  LONG_TOKEN_CH,
  WINDOW_AFTER,
  columnPriority,
  compareCells,
  hasLongToken,
  orderColumns,
  sortRows,
  statusStandIn
} from '../ui/table';
import { FakeTransport, Script } from './fakes';

class CountingMarkdown implements IMarkdownRenderer {
  calls = 0;
  chars = 0;
  render(host: HTMLElement, markdown: string): void {
    this.calls += 1;
    this.chars += markdown.length;
    const fence = /```(\w*)\n([\s\S]*?)```/.exec(markdown);
    if (fence) {
      host.innerHTML = '<pre><code></code></pre>';
      host.querySelector('code')!.textContent = fence[2];
    } else {
      host.textContent = markdown;
    }
  }
}

function setup(options: { insert?: boolean } = {}) {
  const transport = new FakeTransport();
  const markdown = new CountingMarkdown();
  const frames: (() => void)[] = [];
  const inserted: [string, string][] = [];
  const session = new ChatSession({
    transport,
    markdown,
    requestFrame: callback => frames.push(callback),
    extras: () => ({ model: 'm1', namespace: '', cell: null }),
    insertCell: options.insert ? (kind, source) => inserted.push([kind, source]) : undefined
  });
  document.body.replaceChildren(session.view.node);
  const frame = (): void => {
    const pending = frames.splice(0);
    pending.forEach(callback => callback());
  };
  const q = <T extends Element = HTMLElement>(selector: string): T | null =>
    session.view.node.querySelector<T>(selector) as T | null;
  return { transport, markdown, session, frame, frames, inserted, q };
}

function type(session: ChatSession, text: string, init: KeyboardEventInit = {}): void {
  session.view.input.value = text;
  session.view.input.dispatchEvent(new Event('input'));
  session.view.input.dispatchEvent(
    new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true, ...init })
  );
}

describe('ChatSession and ChatView', () => {
  it('Enter sends a chat frame with the settings; Shift+Enter does not', () => {
    const { session, transport, frame, q } = setup();
    type(session, 'line one', { shiftKey: true });
    expect(transport.sent).toEqual([]);
    type(session, 'list all pods');
    expect(transport.sent).toHaveLength(1);
    expect(transport.sent[0]).toMatchObject({
      type: 'chat',
      message: 'list all pods',
      conversation_id: null,
      model: 'm1'
    });
    expect(transport.sent[0]).not.toHaveProperty('namespace');
    expect(session.view.input.value).toBe('');
    frame();
    expect(q('.jp-kchat-user')?.textContent).toContain('list all pods');
    expect(q('.jp-kchat-input')?.getAttribute('aria-label')).toBe('Message');
  });

  it('shows Stop while a turn runs and sends cancel for the conversation', () => {
    const { session, transport, frame, q } = setup();
    type(session, 'stream 3000 chunks');
    const clientId = (transport.sent[0] as { client_id: string }).client_id;
    frame();
    const stop = q<HTMLButtonElement>('.jp-kchat-stop')!;
    expect(stop.hidden).toBe(false);
    stop.click();
    // The conversation id is not known yet: the cancel goes out with the first event.
    expect(transport.sent).toHaveLength(1);
    const s = new Script('conv-1');
    transport.emit(s.thinking('Thinking…', clientId));
    expect(transport.sent[1]).toEqual({ type: 'cancel', conversation_id: 'conv-1' });
    transport.emit(s.complete('', { cancelled: true }));
    frame();
    expect(stop.hidden).toBe(true);
    expect(q('.jp-kchat-notice')?.textContent).toBe('Stopped.');
    // Usable again after complete.
    type(session, 'next question');
    expect(transport.sent[2]).toMatchObject({
      message: 'next question',
      conversation_id: 'conv-1'
    });
  });

  it('Escape stops a running turn from the message box', () => {
    const { session, transport, frame } = setup();
    type(session, 'stream 3000 chunks');
    transport.emit(new Script('conv-e').thinking());
    frame();
    session.view.input.dispatchEvent(
      new KeyboardEvent('keydown', { key: 'Escape', cancelable: true })
    );
    expect(transport.sent[1]).toEqual({ type: 'cancel', conversation_id: 'conv-e' });
  });

  it('does not send while busy', () => {
    const { session, transport } = setup();
    type(session, 'one');
    type(session, 'two');
    expect(transport.sent).toHaveLength(1);
    expect(session.view.input.value).toBe('two');
  });

  it('never drops a message silently: Send is disabled as a turn starts, a refusal says why', () => {
    const { session, transport, frame, q } = setup();
    const send = q<HTMLButtonElement>('.jp-kchat-send')!;
    const refused = q('.jp-kchat-refused')!;
    // A turn this view did not start (a resume after a reload): busy before any frame is drawn.
    const s = new Script('conv-r');
    transport.emit(s.thinking());
    session.view.input.value = 'my first question';
    session.view.input.dispatchEvent(new Event('input'));
    expect(send.disabled).toBe(true);
    type(session, 'my first question');
    expect(transport.sent).toEqual([]);
    expect(session.view.input.value).toBe('my first question');
    expect(refused.hidden).toBe(false);
    expect(refused.textContent).toContain('yours is kept here');
    // The turn ends: the note goes, Send is ready at once, and the kept message goes out.
    transport.emit(s.complete(''));
    expect(refused.hidden).toBe(true);
    expect(send.disabled).toBe(false);
    send.click();
    expect(transport.sent).toHaveLength(1);
    expect(transport.sent[0]).toMatchObject({ message: 'my first question' });
    expect(session.view.input.value).toBe('');
    frame();
    expect(q('.jp-kchat-user')?.textContent).toContain('my first question');
  });

  it('renders a tool card with a sortable, collapsed table', () => {
    const { transport, frame, q } = setup({ insert: true });
    const s = new Script();
    transport.emit(s.thinking());
    transport.emit(s.toolStart('t1', 'list_pods', { namespace: 'default' }));
    frame();
    const running = q('.jp-kchat-tool-call')!;
    expect(running.dataset.status).toBe('running');
    expect(running.querySelector('.jp-kchat-spinner')).not.toBeNull();
    expect(running.querySelector('.jp-kchat-tool-name')?.textContent).toBe('list_pods');
    const rows = Array.from({ length: 25 }, (_, i) => ({ name: `pod-${i}`, restarts: 25 - i }));
    transport.emit(
      s.toolEnd('t1', 'list_pods', {
        data: rows,
        truncated: true,
        duration_ms: 1500,
        arguments: { namespace: 'default' }
      })
    );
    frame();
    const card = q('.jp-kchat-tool-call')!;
    expect(card.dataset.status).toBe('completed');
    expect(card.querySelector('.jp-kchat-spinner')).toBeNull();
    expect(card.querySelector('.jp-kchat-tool-duration')?.textContent).toBe('1.5 s');
    expect(card.querySelector('.jp-kchat-truncated')).not.toBeNull();
    expect(card.querySelectorAll('tbody tr')).toHaveLength(20);
    const showAll = card.querySelector<HTMLButtonElement>('.jp-kchat-show-all')!;
    expect(showAll.textContent).toBe('Show all 25 rows');
    showAll.click();
    expect(card.querySelectorAll('tbody tr')).toHaveLength(25);
    card.querySelector<HTMLButtonElement>('th[data-column="restarts"] button')!.click();
    expect(card.querySelector('tbody tr td')?.textContent).toBe('pod-24');
    expect(card.querySelector('th[data-column="restarts"]')?.getAttribute('aria-sort')).toBe(
      'ascending'
    );
    card.querySelector<HTMLButtonElement>('th[data-column="restarts"] button')!.click();
    expect(card.querySelector('tbody tr td')?.textContent).toBe('pod-0');
    expect(card.querySelector('.jp-kchat-insert')).not.toBeNull();
  });

  it('shows a failed tool result as readable text', () => {
    const { transport, frame, q } = setup();
    const s = new Script();
    transport.emit(s.thinking());
    transport.emit(
      s.toolEnd('t1', 'get_pod_logs', {
        status: 'error',
        result: 'Forbidden: pods "x" is forbidden'
      })
    );
    frame();
    expect(q('.jp-kchat-tool-call')?.dataset.status).toBe('error');
    expect(q('.jp-kchat-tool-result.jp-mod-error pre')?.textContent).toContain('Forbidden');
  });

  it('approval buttons send approve frames and disable themselves', () => {
    const { transport, frame, q } = setup();
    const s = new Script();
    transport.emit(s.thinking());
    transport.emit(s.approval('t7', 'delete_pod', 'Delete pod y/x', { name: 'x', namespace: 'y' }));
    frame();
    expect(q('.jp-kchat-approval-reason')?.textContent).toBe('Delete pod y/x');
    q<HTMLButtonElement>('.jp-kchat-deny')!.click();
    expect(transport.sent).toEqual([{ type: 'approve', tool_call_id: 't7', approved: false }]);
    frame();
    expect(q<HTMLButtonElement>('.jp-kchat-approve')!.disabled).toBe(true);
    expect(q('.jp-kchat-tool-status')?.textContent).toContain('Denied');
  });

  it('shows errors with a hint and a Retry that sends the question again', () => {
    const { session, transport, frame, q } = setup();
    type(session, 'why is web crashlooping?');
    const s = new Script();
    transport.emit(s.thinking());
    transport.emit(s.error('The model endpoint answered 429', 'rate_limited', true));
    transport.emit(s.complete(''));
    frame();
    expect(q('.jp-kchat-error')?.getAttribute('role')).toBe('alert');
    expect(q('.jp-kchat-error-hint')?.textContent).toMatch(/rate limiting/);
    q<HTMLButtonElement>('.jp-kchat-retry')!.click();
    expect(transport.sent[1]).toMatchObject({
      message: 'why is web crashlooping?',
      conversation_id: 'conv-1'
    });
  });

  it('shows the offline banner while the transport is offline', () => {
    const { transport, frame, q } = setup();
    frame();
    expect(q('.jp-kchat-banner')!.hidden).toBe(true);
    transport.setStatus('offline');
    frame();
    expect(q('.jp-kchat-banner')!.hidden).toBe(false);
    transport.setStatus('online');
    frame();
    expect(q('.jp-kchat-banner')!.hidden).toBe(true);
  });

  it('streams 3,000 chunks with one draw per frame, rendering only the unfinished block', () => {
    const { transport, frame, frames, markdown, q } = setup();
    const s = new Script();
    transport.emit(s.thinking());
    let text = '';
    let drawn = 0;
    for (let i = 0; i < 3000; i++) {
      // Paragraphs of 10 chunks, so the answer has ~300 blocks.
      const chunk = i % 10 === 9 ? `w${i}.\n\n` : `w${i} `;
      text += chunk;
      transport.emit(s.text(chunk));
      expect(frames.length).toBeLessThanOrEqual(1);
      if (i % 30 === 29) {
        frame();
        drawn += 1;
      }
    }
    transport.emit(s.complete(text));
    frame();
    drawn += 1;
    const answer = q('.jp-kchat-assistant')!;
    expect(answer.getAttribute('data-rendered-length')).toBe(String(text.length));
    expect(answer.textContent).toBe(text);
    // Each block is rendered about once as the tail and once when finished: never per chunk.
    expect(markdown.calls).toBeLessThanOrEqual(drawn + 300 + 2);
    expect(markdown.chars).toBeLessThan(text.length * 3);
  });

  it('offers "Insert into notebook" on finished code blocks', () => {
    const { transport, frame, inserted, q } = setup({ insert: true });
    const s = new Script();
    transport.emit(s.thinking());
    transport.emit(s.text('Run this:\n\n```python\nprint(1)\n```\n'));
    frame();
    expect(q('.jp-kchat-insert')).toBeNull();
    transport.emit(s.complete('x'));
    frame();
    q<HTMLButtonElement>('.jp-kchat-insert')!.click();
    expect(inserted).toEqual([['code', 'print(1)']]);
  });

  it('loads a conversation and follows its running turn', () => {
    const { session, transport, frame, q } = setup();
    session.load({
      id: 'conv-4',
      title: 't',
      running: true,
      last_seq: 9,
      messages: [{ role: 'user', content: 'list all pods' }]
    });
    expect(transport.followed).toEqual([['conv-4', 9]]);
    frame();
    expect(q('.jp-kchat-user')?.textContent).toBe('list all pods');
    expect(q<HTMLButtonElement>('.jp-kchat-stop')!.hidden).toBe(false);
  });
});

describe('table sorting', () => {
  it('sorts numbers numerically, text naturally, empties last, stably', () => {
    expect(compareCells(2, 10)).toBeLessThan(0);
    expect(compareCells('pod-2', 'pod-10')).toBeLessThan(0);
    expect(compareCells('', 'a')).toBeGreaterThan(0);
    const rows = [
      { a: 1, k: 'x' },
      { a: 1, k: 'y' },
      { a: 0, k: 'z' }
    ];
    expect(sortRows(rows, 'a', 'ascending').map(r => r.k)).toEqual(['z', 'x', 'y']);
    expect(sortRows(rows, 'a', 'descending').map(r => r.k)).toEqual(['x', 'y', 'z']);
  });
});

describe('long tables', () => {
  const rows = Array.from({ length: 10000 }, (_, i) => ({
    name: `pod-${String(i).padStart(5, '0')}`,
    restarts: i % 7
  }));
  const dataRows = (table: DataTable) =>
    Array.from(table.node.querySelectorAll<HTMLTableRowElement>('tbody tr[aria-rowindex]'));
  const scrollTo = (table: DataTable, top: number) => {
    const scroll = table.node.querySelector<HTMLElement>('.jp-kchat-table-scroll')!;
    Object.defineProperty(scroll, 'scrollTop', { value: top, configurable: true });
    scroll.dispatchEvent(new Event('scroll'));
  };

  it('keeps a window of rows in the DOM, and spacers for the rest', () => {
    const table = new DataTable(rows);
    table.expand();
    expect(table.windowed).toBe(true);
    expect(table.node.querySelector('table')!.getAttribute('aria-rowcount')).toBe('10001');
    const shown = dataRows(table);
    expect(shown.length).toBeGreaterThan(20);
    expect(shown.length).toBeLessThan(150);
    expect(shown[0].getAttribute('aria-rowindex')).toBe('2');
    const spacer = table.node.querySelector<HTMLElement>('.jp-kchat-table-spacer td')!;
    expect(spacer.style.height).toBe(`${(10000 - shown.length) * 20}px`);
  });

  it('moves the window with the scroll position, and sorts all rows', () => {
    const table = new DataTable(rows);
    table.expand();
    scrollTo(table, 5000 * 20);
    let shown = dataRows(table);
    const names = shown.map(tr => tr.cells[0].textContent);
    expect(names).toContain('pod-05000');
    expect(names).toContain('pod-05010');
    expect(shown.length).toBeLessThan(150);
    expect(Number(shown[0].getAttribute('aria-rowindex')) - 2).toBe(
      rows.findIndex(r => r.name === names[0])
    );

    table.node.querySelector<HTMLButtonElement>('th[data-column="name"] button')!.click();
    table.node.querySelector<HTMLButtonElement>('th[data-column="name"] button')!.click();
    shown = dataRows(table);
    expect(shown.map(tr => tr.cells[0].textContent)).toContain('pod-04999');
    scrollTo(table, 0);
    expect(dataRows(table)[0].cells[0].textContent).toBe('pod-09999');
  });

  it('renders every row of tables up to the threshold', () => {
    const table = new DataTable(rows.slice(0, WINDOW_AFTER));
    table.expand();
    expect(table.windowed).toBe(false);
    expect(dataRows(table)).toHaveLength(WINDOW_AFTER);
    expect(table.node.querySelector('.jp-kchat-table-spacer')).toBeNull();
  });
});

describe('reasoning and usage in the view', () => {
  it('shows reasoning collapsed as text, kept open while it grows, and a usage line', () => {
    const { session, transport, frame, q } = setup();
    type(session, 'why?');
    const s = new Script('conv-r');
    transport.emit(s.reasoning('<b>The pod</b> '));
    frame();
    const details = q<HTMLDetailsElement>('details.jp-kchat-reasoning')!;
    expect(details.open).toBe(false);
    expect(details.querySelector('summary')?.textContent).toBe('Reasoning…');
    details.open = true;
    transport.emit(s.reasoning('restarts.'));
    transport.emit(s.text('It crashes.'));
    transport.emit(
      s.complete('It crashes.', {
        usage: { prompt_tokens: 1234, completion_tokens: 321, context_used: 0.18 }
      })
    );
    frame();
    const same = q<HTMLDetailsElement>('details.jp-kchat-reasoning')!;
    expect(same).toBe(details);
    expect(same.open).toBe(true);
    expect(same.querySelector('summary')?.textContent).toBe('Reasoning');
    expect(same.querySelector('.jp-kchat-reasoning-text')?.textContent).toBe(
      '<b>The pod</b> restarts.'
    );
    expect(same.querySelector('b')).toBeNull();
    expect(q('.jp-kchat-assistant')?.textContent).toBe('It crashes.');
    expect(q('.jp-kchat-usage')?.textContent).toBe('1,234 + 321 tokens · 18% of context');
  });
});

describe('formatUsage', () => {
  it.each([
    [
      { prompt_tokens: 1234, completion_tokens: 321, context_used: 0.18 },
      '1,234 + 321 tokens · 18% of context'
    ],
    [
      { prompt_tokens: 64000, completion_tokens: 12, context_window: 128000 },
      '64,000 + 12 tokens · 50% of context'
    ],
    [{ total_tokens: 900, cost_usd: 0.0042 }, '900 tokens · $0.0042'],
    [{ prompt_tokens: 50, completion_tokens: 5, estimated: true }, '≈ 50 + 5 tokens'],
    [
      { prompt_tokens: 10, completion_tokens: 2, context_used: 0.001, cost_usd: 1.5 },
      '10 + 2 tokens · <1% of context · $1.50'
    ],
    [{ prompt_tokens: -1, context_used: Number.NaN }, '']
  ])('%j -> %s', (usage, line) => {
    expect(formatUsage(usage)).toBe(line);
  });
});

describe('problem-first tables', () => {
  const pods = [
    {
      namespace: 'payments',
      name: 'payments-api-1',
      phase: 'Running',
      ready: '0/1',
      restarts: 7,
      node: 'n1',
      reason: 'CrashLoopBackOff',
      age: '2d'
    },
    {
      namespace: 'shop',
      name: 'frontend-1',
      phase: 'Pending',
      ready: '0/1',
      restarts: 0,
      node: 'n2',
      reason: 'ImagePullBackOff',
      age: '1d'
    },
    {
      namespace: 'apps',
      name: 'web-1',
      phase: 'Running',
      ready: '1/1',
      restarts: 0,
      node: 'n1',
      reason: '',
      age: '5d'
    }
  ];

  it('keeps the order the rows came in, the reason right after the name', () => {
    const table = new DataTable(pods);
    const headers = Array.from(table.node.querySelectorAll('th')).map(th => th.dataset.column);
    expect(headers).toEqual([
      'namespace',
      'name',
      'reason',
      'phase',
      'ready',
      'restarts',
      'node',
      'age'
    ]);
    const names = Array.from(table.node.querySelectorAll('tbody tr')).map(
      tr => tr.children[1].textContent
    );
    expect(names).toEqual(['payments-api-1', 'frontend-1', 'web-1']);
    table.sortBy('name');
    const sorted = Array.from(table.node.querySelectorAll('tbody tr')).map(
      tr => tr.children[1].textContent
    );
    expect(sorted).toEqual(['frontend-1', 'payments-api-1', 'web-1']);
  });

  it('marks the columns a narrow table hides first, and says which', () => {
    const table = new DataTable(pods);
    const classOf = (column: string): string =>
      table.node.querySelector<HTMLElement>(`th[data-column="${column}"]`)!.className;
    expect(classOf('age')).toBe('jp-mod-optional');
    expect(classOf('restarts')).toBe('jp-mod-optional');
    expect(classOf('namespace')).toBe('jp-mod-secondary');
    expect(classOf('name')).toBe('jp-mod-wrap');
    expect(classOf('reason')).toBe('jp-mod-wrap');
    expect(classOf('phase')).toBe('jp-mod-secondary');
    expect(table.node.querySelector('td:nth-child(3)')?.className).toBe('jp-mod-wrap');
    const notes = Array.from(
      table.node.querySelectorAll('.jp-kchat-table-hidden'),
      n => n.textContent
    );
    expect(notes).toEqual([
      'Hidden at this width: restarts, node, age.',
      'Hidden at this width: namespace, phase, ready, restarts, node, age.'
    ]);
    expect(orderColumns(['name', 'age', 'status'])).toEqual(['name', 'status', 'age']);
    expect(columnPriority('Node')).toBe('optional');
  });

  it("gives a healthy row its phase in the reason column, shown when phase's column hides", () => {
    const table = new DataTable(pods);
    const reasonCells = Array.from(table.node.querySelectorAll('tbody td:nth-child(3)'));
    // Problem rows keep their reason alone; the healthy row's cell carries its phase.
    expect(reasonCells.map(td => td.textContent)).toEqual([
      'CrashLoopBackOff',
      'ImagePullBackOff',
      'Running'
    ]);
    expect(reasonCells.slice(0, 2).map(td => td.querySelector('.jp-kchat-stand-in'))).toEqual([
      null,
      null
    ]);
    // The stand-in hides and shows with the phase column (jp-mod-secondary, the stylesheet).
    expect(reasonCells[2].querySelector('.jp-kchat-stand-in')?.className).toBe(
      'jp-kchat-stand-in jp-mod-secondary'
    );
    expect(table.node.querySelector('th[data-column="reason"]')?.textContent).toBe(
      'reason / phase'
    );
    expect(statusStandIn(['name', 'reason', 'phase'])).toEqual({
      column: 'reason',
      from: 'phase',
      priority: 'secondary'
    });
    // A STATUS column is never hidden, so it needs no stand-in; nor does a table without reasons.
    expect(statusStandIn(['name', 'reason', 'status'])).toBeNull();
    expect(statusStandIn(['name', 'phase'])).toBeNull();
  });

  it('lets only tokens longer than a cell break inside a word', () => {
    const long = 'x'.repeat(LONG_TOKEN_CH + 1);
    const table = new DataTable([
      { name: 'payments-api-7d9f8b6c4-x2v9k', reason: 'CreateContainerConfigError' },
      { name: 'web-1', reason: `Error: ${long}` }
    ]);
    const classes = Array.from(table.node.querySelectorAll('tbody td'), td => td.className);
    expect(classes).toEqual([
      'jp-mod-wrap',
      'jp-mod-wrap',
      'jp-mod-wrap',
      'jp-mod-wrap jp-mod-long'
    ]);
    expect(hasLongToken('Back-off restarting failed container')).toBe(false);
  });

  it('hides nothing in a table without essential columns (log lines)', () => {
    const table = new DataTable([{ line: 1, text: 'panic: boom' }]);
    expect(table.node.querySelectorAll('.jp-mod-optional, .jp-mod-secondary')).toHaveLength(0);
    expect(table.node.querySelector('.jp-kchat-table-hidden')).toBeNull();
  });

  it('starts expanded in the full-width view', () => {
    const rows = Array.from({ length: 30 }, (_, i) => ({ name: `p${i}`, reason: '' }));
    const table = new DataTable(rows, { expanded: true });
    expect(table.node.querySelectorAll('tbody tr')).toHaveLength(30);
    expect(table.node.querySelector('.jp-kchat-show-all')).toBeNull();
  });
});

describe('tool card table actions', () => {
  it('offers "Open in a tab" with the rows when the host can open one', () => {
    const opened: [string, unknown[]][] = [];
    const transport = new FakeTransport();
    const session = new ChatSession({
      transport,
      markdown: new CountingMarkdown(),
      requestFrame: callback => callback(),
      openTable: (title, rows) => opened.push([title, rows])
    });
    const s = new Script('conv-t');
    transport.emit(s.toolStart('t1', 'list_pods', { namespace: 'payments' }));
    transport.emit(
      s.toolEnd('t1', 'list_pods', {
        arguments: { namespace: 'payments' },
        data: [{ name: 'a', reason: 'x' }]
      })
    );
    session.flush();
    session.view.node.querySelector<HTMLButtonElement>('.jp-kchat-open-table')!.click();
    expect(opened).toEqual([['list_pods namespace=payments', [{ name: 'a', reason: 'x' }]]]);
  });
});
