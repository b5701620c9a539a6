import { describe, expect, it } from 'vitest';

import { ServerEvent } from '../protocol';
import { ChatAction, IChatState, IToolItem, initialState, reduce } from '../reducer';
import { Script, refusal } from './fakes';

function run(actions: ChatAction[], state: IChatState = initialState()): IChatState {
  return actions.reduce(reduce, state);
}

const ev = (event: ServerEvent): ChatAction => ({ type: 'event', event });

function tools(state: IChatState): IToolItem[] {
  return state.items.filter((item): item is IToolItem => item.kind === 'tool');
}

describe('reduce', () => {
  it('send adds the question and enters the busy state', () => {
    const state = run([{ type: 'send', message: 'list all pods', clientId: 'c1' }]);
    expect(state.items).toEqual([{ kind: 'user', id: 'i1', text: 'list all pods' }]);
    expect(state.busy).toBe(true);
    expect(state.pendingClientId).toBe('c1');
    expect(state.thinking).toBe('Thinking…');
    expect(state.title).toBe('list all pods');
  });

  it('adopts the conversation id of the first event and shows thinking', () => {
    const s = new Script('conv-1');
    const state = run([
      { type: 'send', message: 'hi', clientId: 'c1' },
      ev(s.thinking('Asking the model…', 'c1'))
    ]);
    expect(state.conversationId).toBe('conv-1');
    expect(state.thinking).toBe('Asking the model…');
    expect(state.lastSeq).toBe(1);
  });

  it('appends text chunks to one streaming segment', () => {
    const s = new Script();
    const state = run([
      { type: 'send', message: 'hi', clientId: 'c1' },
      ev(s.thinking()),
      ev(s.text('Hel')),
      ev(s.text('lo'))
    ]);
    expect(state.items[1]).toMatchObject({ kind: 'text', text: 'Hello', streaming: true });
    expect(state.thinking).toBeNull();
  });

  it('streams 3,000 chunks into one segment, fast, without touching other items', () => {
    const s = new Script();
    let state = run([
      { type: 'send', message: 'stream 3000 chunks', clientId: 'c' },
      ev(s.thinking())
    ]);
    const user = state.items[0];
    let expected = '';
    const chunks = [];
    for (let i = 0; i < 3000; i++) {
      const chunk = `w${i} `;
      expected += chunk;
      chunks.push(ev(s.text(chunk)));
    }
    const complete = ev(s.complete(expected));
    // Only the reducer is timed (the fakes check each event against the schema as they build it).
    const started = performance.now();
    for (const chunk of chunks) {
      state = reduce(state, chunk);
    }
    state = reduce(state, complete);
    const elapsed = performance.now() - started;
    expect(state.items).toHaveLength(2);
    expect(state.items[0]).toBe(user);
    expect(state.items[1]).toMatchObject({ kind: 'text', text: expected, streaming: false });
    expect(state.lastSeq).toBe(3002);
    expect(state.busy).toBe(false);
    expect(elapsed).toBeLessThan(500);
  });

  it('follows a tool card from start to end', () => {
    const s = new Script();
    const rows = [{ name: 'web-1', status: 'Running' }];
    let state = run([
      { type: 'send', message: 'list all pods', clientId: 'c' },
      ev(s.thinking()),
      ev(s.text('Looking.')),
      ev(s.toolStart('t1', 'list_pods', { namespace: 'default' }))
    ]);
    expect(state.items[1]).toMatchObject({ kind: 'text', streaming: false });
    expect(tools(state)[0].call).toMatchObject({
      name: 'list_pods',
      state: 'running',
      arguments: { namespace: 'default' }
    });
    state = reduce(
      state,
      ev(
        s.toolEnd('t1', 'list_pods', {
          result: '1 pod',
          duration_ms: 42,
          data: rows,
          truncated: true,
          arguments: { namespace: 'default' }
        })
      )
    );
    expect(tools(state)).toHaveLength(1);
    expect(tools(state)[0].call).toMatchObject({
      state: 'completed',
      result: '1 pod',
      durationMs: 42,
      data: rows,
      truncated: true
    });
    state = run(
      [
        ev(s.thinking('Reading the results…')),
        ev(s.text('One pod.')),
        ev(s.complete('Looking.One pod.'))
      ],
      state
    );
    expect(state.items.map(item => item.kind)).toEqual(['user', 'text', 'tool', 'text']);
    expect(state.busy).toBe(false);
  });

  it('shows an approval, records the decision, then the denial', () => {
    const s = new Script();
    let state = run([
      { type: 'send', message: 'delete pod x in y', clientId: 'c' },
      ev(s.thinking()),
      ev(s.toolStart('t9', 'delete_pod', { name: 'x', namespace: 'y' })),
      ev(s.approval('t9', 'delete_pod', 'Delete pod y/x', { name: 'x', namespace: 'y' }))
    ]);
    expect(tools(state)[0].call).toMatchObject({
      state: 'awaiting_approval',
      reason: 'Delete pod y/x'
    });
    state = reduce(state, { type: 'decide', toolCallId: 't9', approved: false });
    expect(tools(state)[0].call.decision).toBe('denied');
    state = reduce(
      state,
      ev(s.toolEnd('t9', 'delete_pod', { status: 'denied', result: 'The user denied it.' }))
    );
    expect(tools(state)[0].call).toMatchObject({
      state: 'denied',
      reason: 'Delete pod y/x',
      decision: 'denied'
    });
  });

  it('keeps the error visible and leaves busy at the complete that follows', () => {
    const s = new Script();
    let state = run([
      { type: 'send', message: 'why?', clientId: 'c' },
      ev(s.thinking()),
      ev(s.error('Rate limited by the model endpoint', 'rate_limited', true))
    ]);
    expect(state.busy).toBe(true);
    expect(state.items[1]).toMatchObject({
      kind: 'error',
      code: 'rate_limited',
      retryable: true,
      retry: 'why?'
    });
    state = reduce(state, ev(s.complete('')));
    expect(state.busy).toBe(false);
    expect(state.items.map(item => item.kind)).toEqual(['user', 'error']);
  });

  it('a refused frame for our message leaves the busy state', () => {
    const state = run([
      { type: 'send', message: 'x'.repeat(10), clientId: 'mine' },
      ev(refusal('message_too_large', 'mine'))
    ]);
    expect(state.busy).toBe(false);
    expect(state.items[1]).toMatchObject({ kind: 'error', code: 'message_too_large' });
  });

  it('a refusal for another message is shown but keeps the turn running', () => {
    const s = new Script();
    const state = run([
      { type: 'send', message: 'hi', clientId: 'mine' },
      ev(s.thinking()),
      ev(refusal('unknown_tool_call'))
    ]);
    expect(state.busy).toBe(true);
    expect(state.items[1]).toMatchObject({ kind: 'error', code: 'unknown_tool_call' });
  });

  it('no_running_turn and not_resumable end the busy state', () => {
    const s = new Script('conv-1');
    for (const code of ['no_running_turn', 'not_resumable'] as const) {
      const state = run([
        { type: 'send', message: 'hi', clientId: 'c' },
        ev(s.thinking()),
        ev(refusal(code, undefined, 'conv-1'))
      ]);
      expect(state.busy).toBe(false);
    }
  });

  it('ignores events at or below the last seq and from other conversations', () => {
    const s = new Script('conv-1');
    const other = new Script('conv-2');
    const thinking = s.thinking();
    const t1 = s.text('a');
    const state = run([
      { type: 'send', message: 'hi', clientId: 'c' },
      ev(thinking),
      ev(t1),
      ev(t1),
      ev(other.thinking()),
      ev(other.text('zzz')),
      ev(s.text('b'))
    ]);
    expect(state.items[1]).toMatchObject({ text: 'ab' });
    expect(state.lastSeq).toBe(3);
  });

  it('a cancelled turn ends live tools as cancelled and says so', () => {
    const s = new Script();
    const state = run([
      { type: 'send', message: 'stream 3000 chunks', clientId: 'c' },
      ev(s.thinking()),
      ev(s.toolStart('t1', 'get_logs')),
      ev(s.complete('', { cancelled: true }))
    ]);
    expect(tools(state)[0].call.state).toBe('cancelled');
    expect(state.items[state.items.length - 1]).toMatchObject({ kind: 'notice', text: 'Stopped.' });
    expect(state.busy).toBe(false);
  });

  it('complete fills in an answer and tool calls the stream did not show', () => {
    const s = new Script();
    const state = run([
      ev(s.thinking()),
      ev(
        s.complete('All good.', {
          tool_calls: [
            {
              tool_call_id: 't1',
              tool_name: 'list_nodes',
              arguments: {},
              result: '3 nodes',
              status: 'completed',
              duration_ms: 5
            }
          ]
        })
      )
    ]);
    expect(state.items.map(item => item.kind)).toEqual(['tool', 'text']);
    expect(state.items[1]).toMatchObject({ text: 'All good.' });
  });

  it('loads stored history and marks a running turn busy from last_seq', () => {
    const state = reduce(initialState(), {
      type: 'load',
      conversation: {
        id: 'conv-7',
        title: 'pods',
        running: true,
        last_seq: 12,
        messages: [
          { role: 'user', content: 'list all pods' },
          {
            role: 'assistant',
            content: '',
            tool_calls: [
              {
                id: 't1',
                type: 'function',
                function: { name: 'list_pods', arguments: '{"namespace":"a"}' }
              }
            ]
          },
          { role: 'tool', content: '2 pods', tool_call_id: 't1' },
          { role: 'assistant', content: 'Two pods.' },
          { role: 'user', content: 'and nodes?' }
        ]
      }
    });
    expect(state.conversationId).toBe('conv-7');
    expect(state.items.map(item => item.kind)).toEqual(['user', 'tool', 'text', 'user']);
    expect(tools(state)[0].call).toMatchObject({
      name: 'list_pods',
      arguments: { namespace: 'a' },
      result: '2 pods',
      state: 'completed'
    });
    expect(state.lastSeq).toBe(12);
    expect(state.busy).toBe(true);
    const resumed = run(
      [
        ev({ type: 'text', seq: 12, data: { conversation_id: 'conv-7', text: 'dup' } }),
        ev({ type: 'text', seq: 13, data: { conversation_id: 'conv-7', text: 'Nodes:' } })
      ],
      state
    );
    expect(resumed.items[resumed.items.length - 1]).toMatchObject({ kind: 'text', text: 'Nodes:' });
  });

  it('loads tool messages that carry their tool_call_end data', () => {
    const state = reduce(initialState(), {
      type: 'load',
      conversation: {
        id: 'c',
        title: '',
        running: false,
        messages: [
          {
            role: 'tool',
            content: 'x',
            tool_call_id: 't2',
            tool: {
              tool_call_id: 't2',
              tool_name: 'list_pods',
              arguments: {},
              result: 'x',
              status: 'error',
              duration_ms: 3,
              data: [{ a: 1 }],
              truncated: true
            }
          }
        ]
      }
    });
    expect(tools(state)[0].call).toMatchObject({
      name: 'list_pods',
      state: 'error',
      truncated: true,
      data: [{ a: 1 }]
    });
    expect(state.busy).toBe(false);
  });

  it('starts following a turn it did not start (another tab, a resume)', () => {
    const s = new Script('conv-3');
    const state = run([ev(s.text('partial'))]);
    expect(state.busy).toBe(true);
    expect(state.conversationId).toBe('conv-3');
  });

  it('reset starts over; local errors can leave busy', () => {
    let state = run([{ type: 'send', message: 'hi', clientId: 'c' }]);
    state = reduce(state, {
      type: 'local_error',
      message: 'offline',
      code: 'offline',
      leaveBusy: true
    });
    expect(state.busy).toBe(false);
    expect(reduce(state, { type: 'reset' })).toEqual(initialState());
  });

  it('never mutates the previous state', () => {
    const s = new Script();
    const before = run([
      { type: 'send', message: 'hi', clientId: 'c' },
      ev(s.thinking()),
      ev(s.text('a'))
    ]);
    const snapshot = JSON.stringify(before);
    run([ev(s.text('b')), ev(s.toolStart('t', 'x')), ev(s.complete('ab'))], before);
    expect(JSON.stringify(before)).toBe(snapshot);
  });
});

describe('reduce: identity', () => {
  it('complete leaves finished tool cards untouched', () => {
    const s = new Script();
    const state = run([
      ev(s.thinking()),
      ev(s.toolStart('t1', 'list_pods')),
      ev(s.toolEnd('t1', 'list_pods', { data: [{ a: 1 }] }))
    ]);
    const card = state.items[0];
    const done = reduce(
      state,
      ev(
        s.complete('', {
          tool_calls: [
            {
              tool_call_id: 't1',
              tool_name: 'list_pods',
              arguments: {},
              result: 'ok',
              status: 'completed',
              duration_ms: 12,
              data: [{ a: 1 }]
            }
          ]
        })
      )
    );
    expect(done.items[0]).toBe(card);
  });
});

describe('reduce: reasoning and usage', () => {
  it('collects reasoning chunks in their own item, never in the answer', () => {
    const s = new Script();
    const state = run([
      { type: 'send', message: 'why?', clientId: 'c1' },
      ev(s.reasoning('The pod ')),
      ev(s.reasoning('restarts.')),
      ev(s.text('It crashes.')),
      ev(s.complete('It crashes.'))
    ]);
    expect(state.items.map(item => item.kind)).toEqual(['user', 'reasoning', 'text']);
    expect(state.items[1]).toMatchObject({ text: 'The pod restarts.', streaming: false });
    expect(state.items[2]).toMatchObject({ text: 'It crashes.' });
  });

  it('starts a new reasoning item after a tool, and keeps the thinking indicator meanwhile', () => {
    const s = new Script();
    const state = run([
      { type: 'send', message: 'why?', clientId: 'c1' },
      ev(s.reasoning('List pods first.')),
      ev(s.toolStart('t1', 'list_pods')),
      ev(s.toolEnd('t1', 'list_pods')),
      ev(s.reasoning('One is failing.'))
    ]);
    expect(state.items.map(item => item.kind)).toEqual(['user', 'reasoning', 'tool', 'reasoning']);
    expect(state.items[1]).toMatchObject({ streaming: false });
    expect(state.items[3]).toMatchObject({ text: 'One is failing.', streaming: true });
    expect(state.thinking).toBe('Thinking…');
  });

  it('shows the usage of a turn after its answer', () => {
    const s = new Script();
    const usage = { prompt_tokens: 1234, completion_tokens: 321, context_used: 0.18 };
    const state = run([
      { type: 'send', message: 'hi', clientId: 'c1' },
      ev(s.text('Hello')),
      ev(s.complete('Hello', { usage }))
    ]);
    expect(state.items.at(-1)).toMatchObject({ kind: 'usage', usage });
    expect(state.busy).toBe(false);
    const without = run([
      { type: 'send', message: 'hi', clientId: 'c1' },
      ev(new Script().complete('Hi'))
    ]);
    expect(without.items.some(item => item.kind === 'usage')).toBe(false);
  });
});
