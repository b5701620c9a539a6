import { describe, expect, it } from 'vitest';

import type { IOutput } from '@jupyterlab/nbformat';

import { MAX_ERROR_CHARS, errorQuestion, errorText } from '../cellerror';

const API_EXCEPTION: IOutput = {
  output_type: 'error',
  ename: 'ApiException',
  evalue: '(404)\nReason: Not Found',
  traceback: [
    '\u001b[0;31m---------------------------------------------------------------------------\u001b[0m',
    '\u001b[0;31mApiException\u001b[0m: (404)\nReason: Not Found\nHTTP response body: {"kind":"Status","message":"pods \\"nope\\" not found"}'
  ]
};

describe('errorText', () => {
  it('reads a kubernetes client traceback without terminal colours', () => {
    const error = errorText([
      { output_type: 'stream', name: 'stdout', text: 'fine\n' },
      API_EXCEPTION
    ])!;
    expect(error).toContain('ApiException: (404)');
    expect(error).toContain('pods \\"nope\\" not found');
    expect(error).not.toContain('\u001b');
    expect(error).not.toContain('fine');
  });

  it('reads stderr, and stdout that shows a failing kubectl', () => {
    expect(errorText([{ output_type: 'stream', name: 'stderr', text: ['warn: ', 'x\n'] }])).toBe(
      'warn: x'
    );
    const kubectl = 'Error from server (NotFound): pods "nope" not found\n';
    expect(errorText([{ output_type: 'stream', name: 'stdout', text: kubectl }])).toBe(
      kubectl.trim()
    );
    expect(
      errorText([
        { output_type: 'stream', name: 'stdout', text: '/bin/sh: 1: kubectl: not found\n' }
      ])
    ).toBe('/bin/sh: 1: kubectl: not found');
  });

  it('is null for a cell without an error', () => {
    expect(errorText([])).toBeNull();
    expect(
      errorText([
        { output_type: 'stream', name: 'stdout', text: 'NAME READY STATUS\nweb-1 1/1 Running\n' },
        {
          output_type: 'execute_result',
          data: { 'text/plain': '1' },
          metadata: {},
          execution_count: 1
        }
      ])
    ).toBeNull();
  });

  it('keeps the end of a very long traceback and says what was left out', () => {
    const long = 'x'.repeat(MAX_ERROR_CHARS * 2) + '\nKeyError: the end';
    const error = errorText([
      { output_type: 'error', ename: 'KeyError', evalue: 'e', traceback: [long] }
    ])!;
    expect(error.endsWith('KeyError: the end')).toBe(true);
    expect(error).toMatch(/^… \(\d+ characters before this were left out\)/);
  });
});

describe('errorQuestion', () => {
  it('fences the error, with a longer fence when the error has one', () => {
    expect(errorQuestion('boom')).toMatch(/\n```text\nboom\n```$/);
    expect(errorQuestion('a ``` b')).toMatch(/\n````text\na ``` b\n````$/);
  });

  it('keeps an error with a run of four or more backticks inside the block', () => {
    const error = 'a ```` b\n``````\nTraceback: c `` d';
    const fence = '`'.repeat(7);
    // A Markdown fence closes at a line of at least as many backticks: no line of this error is.
    expect(errorQuestion(error).endsWith(`\n${fence}text\n${error}\n${fence}`)).toBe(true);
  });
});
