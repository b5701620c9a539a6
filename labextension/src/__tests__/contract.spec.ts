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
    // The event table only: from its `| type |` header to the first line that is not a row.
    const lines = section('Server -> client').split('\n');
    const start = lines.findIndex(line => line.startsWith('| type |'));
    const end = lines.findIndex((line, i) => i > start && !line.startsWith('|'));
    const events = lines
      .slice(start, end < 0 ? undefined : end)
      .map(line => /^\| `([a-z_]+)` \|/.exec(line)?.[1])
      .filter((name): name is string => Boolean(name));
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
