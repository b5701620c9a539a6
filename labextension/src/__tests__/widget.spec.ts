// @vitest-environment jsdom
// jsdom, not happy-dom: DOMPurify needs a standards-conforming HTML parser.
import { describe, expect, it } from 'vitest';

import widget, { IWidgetModel, eventsOf } from '../widget';
import { Script, refusal } from './fakes';

class FakeModel implements IWidgetModel {
  sent: unknown[] = [];
  traits: Record<string, unknown> = {};
  handlers = new Set<(...args: unknown[]) => void>();
  get(name: string): unknown {
    return this.traits[name];
  }
  send(content: unknown): void {
    this.sent.push(content);
  }
  on(name: string, callback: (...args: unknown[]) => void): void {
    if (name === 'msg:custom') {
      this.handlers.add(callback);
    }
  }
  off(name: string, callback: (...args: unknown[]) => void): void {
    this.handlers.delete(callback);
  }
  custom(message: unknown): void {
    this.handlers.forEach(handler => handler(message, []));
  }
}

const nextFrame = (): Promise<void> => new Promise(resolve => setTimeout(resolve, 40));

describe('anywidget front end', () => {
  it('renders kernel events with sanitized Markdown and sends frames back', async () => {
    const model = new FakeModel();
    model.traits.message = 'list all pods';
    const el = document.createElement('div');
    document.body.appendChild(el);
    const dispose = widget.render({ model, el });
    const s = new Script('conv-w');
    model.custom(s.thinking());
    model.custom([
      s.toolStart('t1', 'list_pods'),
      s.toolEnd('t1', 'list_pods', { data: [{ name: 'web-1' }] })
    ]);
    model.custom(
      s.text(
        '**Bold** <img src=x onerror="alert(1)"> [link](https://example.com)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n'
      )
    );
    model.custom({ events: [s.complete('done')] });
    await nextFrame();
    expect(el.classList.contains('jp-kchat-widget')).toBe(true);
    expect(el.querySelector('.jp-kchat-user')?.textContent).toBe('list all pods');
    expect(el.querySelector('.jp-kchat-tool-call td')?.textContent).toBe('web-1');
    const answer = el.querySelector('.jp-kchat-assistant')!;
    expect(answer.querySelector('strong')?.textContent).toBe('Bold');
    // An image from outside the server's files/ and static/ is not loaded: a link shows its URL.
    expect(answer.querySelector('img')).toBeNull();
    expect(answer.querySelector('[onerror]')).toBeNull();
    expect(answer.querySelector('a.jp-kchat-blocked')).not.toBeNull();
    expect(answer.querySelector('a[href="https://example.com"]')?.getAttribute('target')).toBe(
      '_blank'
    );
    expect(answer.querySelector('table')).not.toBeNull();
    expect(el.querySelector('.jp-kchat-insert')).toBeNull();
    expect(document.getElementById('jp-kchat-widget-style')).not.toBeNull();

    const input = el.querySelector<HTMLTextAreaElement>('textarea')!;
    input.value = 'and nodes?';
    input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', cancelable: true }));
    expect(model.sent).toHaveLength(1);
    expect(model.sent[0]).toMatchObject({
      type: 'chat',
      message: 'and nodes?',
      conversation_id: 'conv-w'
    });
    dispose();
    expect(model.handlers.size).toBe(0);
  });

  it('catches up on a running turn from the last event it already has', () => {
    const model = new FakeModel();
    const s = new Script('conv-r');
    model.traits.busy = true;
    model.traits.conversation_id = 'conv-r';
    model.traits.events = [s.thinking(), s.text('partial')];
    const el = document.createElement('div');
    const dispose = widget.render({ model, el });
    expect(model.sent).toEqual([{ type: 'resume', conversation_id: 'conv-r', after_seq: 2 }]);
    dispose();
  });

  it('replays the events trait when re-rendered', async () => {
    const model = new FakeModel();
    const s = new Script('conv-r');
    model.traits.events = [s.thinking(), s.text('Hello'), s.complete('Hello')];
    const el = document.createElement('div');
    widget.render({ model, el });
    await nextFrame();
    expect(el.querySelector('.jp-kchat-assistant')?.textContent).toContain('Hello');
    expect(el.querySelector<HTMLButtonElement>('.jp-kchat-stop')!.hidden).toBe(true);
  });

  it('a replayed call the kernel kept the first rows of says how many it had', async () => {
    const model = new FakeModel();
    const s = new Script('conv-t');
    const rows = Array.from({ length: 1000 }, (_, i) => ({ name: `pod-${i}` }));
    model.traits.message = 'list all pods';
    model.traits.events = [
      s.thinking(),
      s.toolStart('t1', 'list_pods'),
      s.toolEnd('t1', 'list_pods', { data: rows, rows_total: 10000 }),
      s.complete('10,000 pods')
    ];
    const el = document.createElement('div');
    const dispose = widget.render({ model, el });
    await nextFrame();
    expect(el.querySelector('.jp-kchat-table-trimmed')?.textContent).toContain(
      'Showing the first 1,000 of 10,000 rows'
    );
    model.custom([
      s.toolStart('t2', 'list_pods'),
      s.toolEnd('t2', 'list_pods', { data: [...rows, ...rows] }),
      s.complete('2,000 pods')
    ]);
    await nextFrame();
    expect(el.querySelectorAll('.jp-kchat-table-trimmed')).toHaveLength(1);
    dispose();
  });

  it('shows questions asked from Python, in order with their turns', async () => {
    const model = new FakeModel();
    const s = new Script('conv-p');
    model.traits.message = 'first question';
    model.traits.events = [
      s.thinking(),
      s.text('First answer.'),
      s.complete('First answer.'),
      { type: 'user', data: { message: 'second question' } },
      s.thinking(),
      s.text('Second answer.'),
      s.complete('Second answer.')
    ];
    const el = document.createElement('div');
    widget.render({ model, el });
    model.custom({
      events: [
        { type: 'user', data: { message: 'third question', client_id: 'py-1' } },
        s.thinking()
      ]
    });
    await nextFrame();
    const users = Array.from(el.querySelectorAll('.jp-kchat-user')).map(n => n.textContent);
    expect(users).toEqual(['first question', 'second question', 'third question']);
    expect(el.querySelectorAll('.jp-kchat-assistant')).toHaveLength(2);
    expect(el.querySelector<HTMLButtonElement>('.jp-kchat-stop')!.hidden).toBe(false);
    model.custom(refusal('turn_in_progress', 'py-1', 'conv-p'));
    await nextFrame();
    expect(el.querySelector<HTMLButtonElement>('.jp-kchat-stop')!.hidden).toBe(true);
  });

  it('does not show the first question twice', async () => {
    const model = new FakeModel();
    model.traits.message = 'list all pods';
    const el = document.createElement('div');
    widget.render({ model, el });
    model.custom({ type: 'user', data: { message: 'list all pods', client_id: 'py-2' } });
    await nextFrame();
    expect(el.querySelectorAll('.jp-kchat-user')).toHaveLength(1);
    model.custom(refusal('not_configured', 'py-2'));
    await nextFrame();
    expect(el.querySelector('.jp-kchat-error')?.getAttribute('data-code')).toBe('not_configured');
    expect(el.querySelector<HTMLButtonElement>('.jp-kchat-stop')!.hidden).toBe(true);
  });

  it('hides the saved copy of its chat while it shows, and only that copy', () => {
    const model = new FakeModel();
    model.traits._saved_copy_class = 'kchat-saved-copy-0a1b';
    const copy = document.createElement('div');
    copy.className = 'kchat-conversation kchat-saved-copy-0a1b';
    const other = document.createElement('div');
    other.className = 'kchat-conversation kchat-saved-copy-ffff';
    document.body.append(copy, other);
    const el = document.createElement('div');
    document.body.appendChild(el);
    const dispose = widget.render({ model, el });
    expect(getComputedStyle(copy).display).toBe('none');
    expect(getComputedStyle(other).display).not.toBe('none');
    dispose();
    expect(getComputedStyle(copy).display).not.toBe('none');
    const styles = document.head.querySelectorAll('style').length;
    model.traits._saved_copy_class = 'x{} body{display:none';
    widget.render({ model, el: document.createElement('div') })();
    expect(document.head.querySelectorAll('style').length).toBe(styles);
  });

  it('accepts single events, arrays and {events} batches', () => {
    const s = new Script();
    const one = s.thinking();
    expect(eventsOf(one)).toEqual([one]);
    expect(eventsOf([one, { nope: 1 }])).toEqual([one]);
    expect(eventsOf({ events: [one] })).toEqual([one]);
    expect(eventsOf('x')).toEqual([]);
  });
});
