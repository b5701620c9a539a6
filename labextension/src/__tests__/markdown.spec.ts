import { describe, expect, it } from 'vitest';

import { BlockSplitter, rowsToMarkdown } from '../markdown';

const DOC = [
  '# Pods',
  '',
  'Two pods are **not ready**:',
  '',
  '```python',
  'import os',
  '',
  'print(os.getcwd())',
  '```',
  '',
  '| name | status |',
  '| --- | --- |',
  '| web-1 | Running |',
  '',
  '- one',
  '',
  '- two',
  '  ',
  '  continued',
  '',
  'Done.'
].join('\n');

describe('BlockSplitter', () => {
  it('cuts at blank lines outside fences, keeping loose lists together', () => {
    const { done, tail } = new BlockSplitter().update(DOC);
    expect(done).toEqual([
      '# Pods\n\n',
      'Two pods are **not ready**:\n\n',
      '```python\nimport os\n\nprint(os.getcwd())\n```\n\n',
      '| name | status |\n| --- | --- |\n| web-1 | Running |\n\n'
    ]);
    // A block is finished only once the next block's first line is complete.
    expect(tail).toBe('- one\n\n- two\n  \n  continued\n\nDone.');
    expect(new BlockSplitter().update(DOC + '\n').done).toHaveLength(5);
    expect(done.join('') + tail).toBe(DOC);
  });

  it('gives the same blocks when fed chunk by chunk', () => {
    const splitter = new BlockSplitter();
    let text = '';
    let result = splitter.update('');
    for (let i = 0; i < DOC.length; i += 3) {
      text += DOC.slice(i, i + 3);
      const previous = result.done.length;
      result = splitter.update(text);
      expect(result.done.length).toBeGreaterThanOrEqual(previous);
      expect(result.done.join('') + result.tail).toBe(text);
    }
    expect(result).toEqual(new BlockSplitter().update(DOC));
  });

  it('never finishes a block inside an open fence', () => {
    const { done, tail } = new BlockSplitter().update('```\na\n\nb\n\n');
    expect(done).toEqual([]);
    expect(tail).toBe('```\na\n\nb\n\n');
  });

  it('starts over when the text is replaced', () => {
    const splitter = new BlockSplitter();
    splitter.update('a\n\nb\n\nc');
    expect(splitter.update('x\n\ny\n')).toEqual({ done: ['x\n\n'], tail: 'y\n' });
  });
});

describe('rowsToMarkdown', () => {
  it('writes a GitHub table with the union of columns, escaping pipes', () => {
    expect(
      rowsToMarkdown([
        { name: 'a|b', ready: 1 },
        { name: 'c', node: { x: 1 } }
      ])
    ).toBe(
      [
        '| name | ready | node |',
        '| --- | --- | --- |',
        '| a\\|b | 1 |  |',
        '| c |  | {"x":1} |'
      ].join('\n')
    );
  });
});
