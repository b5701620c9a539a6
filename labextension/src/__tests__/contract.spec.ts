// The TypeScript protocol against the contract page, so a new event type cannot slip by.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { EVENT_TYPES } from '../protocol';
import { errorHint } from '../ui/view';

const DOC = readFileSync(resolve(__dirname, '../../../docs/protocol.md'), 'utf8');

function section(title: string): string {
  const start = DOC.indexOf(`## ${title}`);
  const end = DOC.indexOf('\n## ', start + 3);
  return DOC.slice(start, end < 0 ? undefined : end);
}

describe('docs/protocol.md', () => {
  it('lists exactly the event types the client knows', () => {
    const table = section('Server -> client')
      .split('\n')
      .map(line => /^\| `([a-z_]+)` \|/.exec(line)?.[1])
      .filter((name): name is string => Boolean(name));
    const events = table.filter(name => !name.includes('_') || EVENT_TYPES.has(name));
    expect(new Set(events)).toEqual(new Set(EVENT_TYPES));
  });

  it('has a hint for every error code a user can act on', () => {
    const codes = [...DOC.matchAll(/`((?:model|rate)_[a-z_]+)`/g)].map(match => match[1]);
    expect(codes.length).toBeGreaterThan(5);
    for (const code of new Set(codes)) {
      expect(errorHint(code, false), code).not.toBe('');
    }
  });
});
