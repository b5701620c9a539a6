// The client against the one protocol definition (jupyter_kchat/protocol/schema.json): the
// fakes check every event they build with ajv; these tests check the schema itself and what the
// panel does with the shapes it defines.
import { describe, expect, it } from 'vitest';

import { PROTOCOL_VERSION, ServerEvent } from '../protocol';
import { ChatAction, IChatState, IToolItem, initialState, reduce } from '../reducer';
import { renderToolCard } from '../ui/toolcard';
import { SCHEMA, Script, schemaProblems } from './fakes';

const ev = (event: ServerEvent): ChatAction => ({ type: 'event', event });
const run = (actions: ChatAction[]): IChatState => actions.reduce(reduce, initialState());
const tools = (state: IChatState): IToolItem[] =>
  state.items.filter((item): item is IToolItem => item.kind === 'tool');
const rows = (n: number): Record<string, unknown>[] =>
  Array.from({ length: n }, (_, i) => ({ name: `pod-${i}` }));

describe('protocol schema', () => {
  it('is the version this client was built for', () => {
    expect(SCHEMA.version).toBe(PROTOCOL_VERSION);
  });

  it('refuses events that drifted from it', () => {
    const event = { type: 'tool_call_end', seq: 3, data: { conversation_id: 'c' } };
    expect(schemaProblems('ServerEvent', event)).not.toEqual([]);
    const withRows = {
      type: 'complete',
      seq: 4,
      data: {
        conversation_id: 'c',
        message: '',
        protocol_version: 1,
        tool_calls: [
          {
            tool_call_id: 't',
            tool_name: 'x',
            arguments: {},
            result: '',
            status: 'done',
            duration_ms: 1
          }
        ]
      }
    };
    expect(schemaProblems('ServerEvent', withRows)).not.toEqual([]);
    expect(
      schemaProblems('ClientFrame', { type: 'resume', conversation_id: 'c', after_seq: -1 })
    ).not.toEqual([]);
  });

  it('a cancelled tool call has no duration, and its card says cancelled', () => {
    const s = new Script();
    const started = run([
      { type: 'send', message: 'delete it', clientId: 'c' },
      ev(s.thinking()),
      ev(s.approval('t1', 'delete_pod', 'Deletes pod a'))
    ]);
    const ended = s.toolEnd('t1', 'delete_pod', { status: 'cancelled' });
    const cancelled = { ...ended, data: { ...ended.data, duration_ms: null } } as ServerEvent;
    expect(schemaProblems('ServerEvent', cancelled)).toEqual([]);
    const [card] = tools(reduce(started, ev(cancelled)));
    expect(card.call).toMatchObject({ state: 'cancelled', durationMs: undefined });
    const node = renderToolCard(card.call, { approve: () => undefined });
    expect(node.querySelector('.jp-kchat-tool-duration')).toBeNull();
  });

  it('rows travel once: the card keeps the rows of tool_call_end when complete names the call', () => {
    const s = new Script();
    const state = run([
      { type: 'send', message: 'list all pods', clientId: 'c' },
      ev(s.thinking()),
      ev(s.toolStart('t1', 'list_pods')),
      ev(s.toolEnd('t1', 'list_pods', { data: rows(3) })),
      ev(
        s.complete('3 pods', {
          tool_calls: [
            {
              tool_call_id: 't1',
              tool_name: 'list_pods',
              arguments: {},
              result: 'ok',
              status: 'completed',
              duration_ms: 12,
              row_count: 3
            }
          ]
        })
      )
    ]);
    expect(tools(state)[0].call.data).toEqual(rows(3));
  });

  it('a server that speaks another version asks to reload the page', () => {
    const s = new Script();
    const thinking = s.thinking();
    const complete = s.complete('hi');
    const newer = { ...complete, data: { ...complete.data, protocol_version: 2 } };
    const state = run([
      { type: 'send', message: 'hi', clientId: 'c' },
      ev(thinking),
      ev(newer as unknown as ServerEvent)
    ]);
    const notices = state.items.filter(item => item.kind === 'notice');
    expect(notices.map(item => (item as { text: string }).text).join()).toContain(
      'Reload the page'
    );
  });

  it('a table history trimmed says how many rows the call had', () => {
    const conversation = {
      id: 'c',
      title: '',
      running: false,
      messages: [
        { role: 'user' as const, content: 'list all pods' },
        {
          role: 'tool' as const,
          content: 'x',
          tool_call_id: 't1',
          tool: {
            tool_call_id: 't1',
            tool_name: 'list_pods',
            arguments: {},
            result: '10,000 pods',
            status: 'completed' as const,
            duration_ms: 3,
            data: rows(1000),
            rows_total: 10000
          }
        }
      ]
    };
    expect(schemaProblems('Conversation', conversation)).toEqual([]);
    const state = reduce(initialState(), { type: 'load', conversation });
    const [card] = tools(state);
    expect(card.call).toMatchObject({ rowsTotal: 10000 });
    const node = renderToolCard(card.call, { approve: () => undefined });
    expect(node.textContent).toContain('Showing the first 1,000 of 10,000 rows');
    expect(node.textContent).not.toContain('History');
  });

  it('a widget replay of a trimmed call says how many rows it had; a live end shows all', () => {
    const s = new Script('conv-w');
    const [thinking, start] = [s.thinking(), s.toolStart('t1', 'list_pods')];
    const replayed = s.toolEnd('t1', 'list_pods', { data: rows(1000), rows_total: 10000 });
    expect(schemaProblems('ServerEvent', replayed)).toEqual([]);
    expect(
      schemaProblems('ServerEvent', {
        ...replayed,
        data: { ...replayed.data, rows_total: -1 }
      })
    ).not.toEqual([]);
    const state = run([
      { type: 'send', message: 'list all pods', clientId: '' },
      ev(thinking),
      ev(start),
      ev(replayed),
      ev(s.complete('10,000 pods'))
    ]);
    const [card] = tools(state);
    expect(card.call).toMatchObject({ rowsTotal: 10000, state: 'completed' });
    const node = renderToolCard(card.call, { approve: () => undefined });
    expect(node.querySelector('.jp-kchat-table-trimmed')?.textContent).toBe(
      'Showing the first 1,000 of 10,000 rows: a saved answer keeps only these. ' +
        'Ask again for all of them.'
    );
    expect(node.textContent).not.toContain('History');

    const live = new Script('conv-l');
    const whole = run([
      ev(live.toolStart('t1', 'list_pods')),
      ev(live.toolEnd('t1', 'list_pods', { data: rows(1500) }))
    ]);
    const [full] = tools(whole);
    expect(full.call.rowsTotal).toBeUndefined();
    const shown = renderToolCard(full.call, { approve: () => undefined });
    expect(shown.querySelector('.jp-kchat-table-trimmed')).toBeNull();
  });
});
