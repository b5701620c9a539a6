import { beforeEach, describe, expect, it } from 'vitest';

import { ChatClient, ConnectionStatus } from '../client';
import { ServerEvent } from '../protocol';
import { FakeSocket, ManualTimers, Script, refusal } from './fakes';

function setup(random = () => 0) {
  FakeSocket.all = [];
  const timers = new ManualTimers();
  const client = new ChatClient({
    url: () => 'ws://localhost/ws/chat',
    createSocket: url => new FakeSocket(url),
    timers,
    random
  });
  const events: ServerEvent[] = [];
  const statuses: ConnectionStatus[] = [];
  client.onEvent(event => events.push(event));
  client.onStatus(status => statuses.push(status));
  client.connect();
  const socket = (): FakeSocket => FakeSocket.all[FakeSocket.all.length - 1];
  return { client, timers, events, statuses, socket };
}

describe('ChatClient', () => {
  beforeEach(() => {
    FakeSocket.all = [];
  });

  it('opens one socket at the given URL and sends frames once open', () => {
    const { client, socket, statuses } = setup();
    expect(FakeSocket.all).toHaveLength(1);
    expect(socket().url).toBe('ws://localhost/ws/chat');
    client.send({ type: 'chat', message: 'list all pods', conversation_id: null, client_id: 'a' });
    expect(client.queued).toHaveLength(1);
    socket().open();
    expect(statuses).toEqual(['online']);
    expect(socket().sent).toEqual([
      { type: 'chat', message: 'list all pods', conversation_id: null, client_id: 'a' }
    ]);
    expect(client.queued).toHaveLength(0);
  });

  it('reconnects with exponential backoff from 0.5 s up to 10 s', () => {
    const { socket, timers, statuses } = setup();
    socket().drop();
    expect(statuses).toEqual(['offline']);
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      delays.push(timers.runNext());
      socket().drop();
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000]);
    expect(FakeSocket.all).toHaveLength(8);
  });

  it('adds jitter that only shortens the delay', () => {
    const { client, socket, timers } = setup(() => 1);
    socket().drop();
    expect(timers.pending[0].ms).toBe(350);
    expect(client.nextDelay()).toBeLessThanOrEqual(1000);
    expect(client.nextDelay()).toBeGreaterThanOrEqual(700);
  });

  it('resets the backoff after a successful open', () => {
    const { client, socket, timers } = setup();
    socket().drop();
    timers.runNext();
    socket().drop();
    timers.runNext();
    expect(client.attempts).toBe(2);
    socket().open();
    expect(client.attempts).toBe(0);
    socket().drop();
    expect(timers.pending[0].ms).toBe(500);
  });

  it('resumes a running turn from the last seq it saw after a reconnect', () => {
    const { client, socket, timers, events } = setup();
    socket().open();
    client.send({ type: 'chat', message: 'hi', conversation_id: null, client_id: 'c1' });
    const script = new Script('conv-9');
    socket().receive(script.thinking('Thinking…', 'c1'));
    socket().receive(script.text('Hello'));
    const third = script.text(' there');
    socket().receive(third);
    socket().drop();
    timers.runNext();
    socket().open();
    expect(socket().sent).toEqual([{ type: 'resume', conversation_id: 'conv-9', after_seq: 3 }]);
    // The server replays from after_seq: an overlap is dropped, new events pass.
    socket().receive(third);
    socket().receive(script.text('!'));
    expect(events.map(e => e.seq)).toEqual([1, 2, 3, 4]);
    expect(client.lastSeq('conv-9')).toBe(4);
  });

  it('drops duplicate events by seq per conversation', () => {
    const { socket, events } = setup();
    socket().open();
    const a = new Script('a');
    const b = new Script('b');
    const a1 = a.thinking();
    const b1 = b.thinking();
    socket().receive(a1);
    socket().receive(b1);
    socket().receive(a1);
    socket().receive(a.text('x'));
    socket().receive(b1);
    expect(events.map(e => `${e.data.conversation_id}:${e.seq}`)).toEqual(['a:1', 'b:1', 'a:2']);
  });

  it('does not resume a conversation whose turn completed', () => {
    const { socket, timers } = setup();
    socket().open();
    const script = new Script('done');
    socket().receive(script.thinking());
    socket().receive(script.complete('ok'));
    socket().drop();
    timers.runNext();
    socket().open();
    expect(socket().sent).toEqual([]);
  });

  it('queues frames while offline and sends them after the resumes', () => {
    const { client, socket, timers } = setup();
    socket().open();
    const script = new Script('conv-2');
    socket().receive(script.thinking());
    socket().drop();
    client.send({ type: 'cancel', conversation_id: 'conv-2' });
    client.send({ type: 'approve', tool_call_id: 't1', approved: false });
    expect(client.queued).toHaveLength(2);
    timers.runNext();
    socket().open();
    expect(socket().sent).toEqual([
      { type: 'resume', conversation_id: 'conv-2', after_seq: 1 },
      { type: 'cancel', conversation_id: 'conv-2' },
      { type: 'approve', tool_call_id: 't1', approved: false }
    ]);
  });

  it('bounds the offline queue', () => {
    FakeSocket.all = [];
    const client = new ChatClient({
      url: () => 'ws://x/ws/chat',
      createSocket: url => new FakeSocket(url),
      timers: new ManualTimers(),
      maxQueue: 3
    });
    for (let i = 0; i < 5; i++) {
      client.send({ type: 'approve', tool_call_id: `t${i}`, approved: true });
    }
    expect(client.queued.map(f => (f as { tool_call_id: string }).tool_call_id)).toEqual([
      't2',
      't3',
      't4'
    ]);
  });

  it('follow() sends a resume now when online and again after reconnects', () => {
    const { client, socket, timers } = setup();
    socket().open();
    client.follow('conv-5', 41);
    expect(socket().sent).toEqual([{ type: 'resume', conversation_id: 'conv-5', after_seq: 41 }]);
    socket().drop();
    timers.runNext();
    socket().open();
    expect(socket().sent).toEqual([{ type: 'resume', conversation_id: 'conv-5', after_seq: 41 }]);
  });

  it('stops resuming after not_resumable', () => {
    const { client, socket, timers, events } = setup();
    socket().open();
    client.follow('gone', 3);
    socket().receive(refusal('not_resumable', undefined, 'gone'));
    expect(events).toHaveLength(1);
    socket().drop();
    timers.runNext();
    socket().open();
    expect(socket().sent).toEqual([]);
  });

  it('reports a new conversation lost before its first event', () => {
    const { client, socket, timers, events } = setup();
    socket().open();
    client.send({ type: 'chat', message: 'hi', conversation_id: null, client_id: 'lost-1' });
    socket().drop();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'error',
      seq: 0,
      data: { client_id: 'lost-1', code: 'connection_lost' }
    });
    timers.runNext();
    socket().open();
    expect(socket().sent).toEqual([]);
  });

  it('keeps a chat frame that was still queued when the socket dropped', () => {
    const { client, socket, timers, events } = setup();
    client.send({ type: 'chat', message: 'hi', conversation_id: null, client_id: 'q1' });
    socket().drop();
    expect(events).toHaveLength(0);
    timers.runNext();
    socket().open();
    expect(socket().sent).toEqual([
      { type: 'chat', message: 'hi', conversation_id: null, client_id: 'q1' }
    ]);
  });

  it('ignores frames that are not protocol events', () => {
    const { socket, events } = setup();
    socket().open();
    socket().receive('not json');
    socket().receive(JSON.stringify({ type: 'nope', data: {}, seq: 1 }));
    socket().receive(JSON.stringify({ type: 'text', seq: 1 }));
    expect(events).toHaveLength(0);
  });

  it('reconnectNow() drops the socket and opens a new one at once', () => {
    const { client, socket } = setup();
    socket().open();
    const first = socket();
    client.reconnectNow();
    expect(first.closed).toBe(true);
    expect(FakeSocket.all).toHaveLength(2);
    expect(client.status).toBe('offline');
    socket().open();
    expect(client.status).toBe('online');
  });

  it('dispose() closes the socket and never reconnects', () => {
    const { client, socket, timers } = setup();
    socket().open();
    client.dispose();
    expect(socket().closed).toBe(true);
    expect(client.status).toBe('closed');
    expect(timers.pending).toHaveLength(0);
    client.send({ type: 'cancel', conversation_id: 'x' });
    expect(FakeSocket.all).toHaveLength(1);
  });
});
