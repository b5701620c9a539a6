/**
 * "Ask kchat about this error": a failed cell's error text, and the question that carries it.
 * Pure functions of nbformat outputs; the command in `errorcommand.ts` sends the result like the
 * active-cell context (the cell's source as the chat frame's `cell`).
 */

import type { IOutput } from '@jupyterlab/nbformat';

/** Tracebacks are tails: what matters is at the end, so a long one keeps its last part. */
export const MAX_ERROR_CHARS = 8000;

// Terminal colour codes in IPython tracebacks (CSI sequences).
// eslint-disable-next-line no-control-regex -- matching ESC is the point
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;

/** What `kubectl` (and the shell running it) prints when it fails, on stdout in `!kubectl`. */
const COMMAND_ERROR =
  /^(error: |Error from server|Unable to connect to the server|The connection to the server |.*: command not found$|.*: not found$)/m;

function text(value: unknown): string {
  return Array.isArray(value) ? value.join('') : typeof value === 'string' ? value : '';
}

/**
 * The error a cell shows, or null when it shows none: tracebacks (`error` outputs), `stderr`,
 * and stdout that reads like a failing command (`!kubectl` merges its stderr into stdout).
 */
export function errorText(outputs: readonly IOutput[]): string | null {
  const parts: string[] = [];
  for (const output of outputs) {
    if (output.output_type === 'error') {
      const traceback = Array.isArray(output.traceback) ? output.traceback.join('\n') : '';
      parts.push(traceback || `${text(output.ename)}: ${text(output.evalue)}`);
    } else if (output.output_type === 'stream') {
      const stream = text(output.text);
      if (output.name === 'stderr' || COMMAND_ERROR.test(stream.replace(ANSI, ''))) {
        parts.push(stream);
      }
    }
  }
  const joined = parts.join('\n').replace(ANSI, '').trim();
  if (!joined) {
    return null;
  }
  return joined.length > MAX_ERROR_CHARS
    ? `… (${joined.length - MAX_ERROR_CHARS} characters before this were left out)\n` +
        joined.slice(-MAX_ERROR_CHARS)
    : joined;
}

/** A backtick fence nothing in `text` can close: longer than its longest run of backticks. */
export function fenceFor(text: string): string {
  const longest = Math.max(0, ...Array.from(text.matchAll(/`+/g), match => match[0].length));
  return '`'.repeat(Math.max(3, longest + 1));
}

/** The chat message for an error: the question, then the error text as a fenced block. */
export function errorQuestion(error: string): string {
  const fence = fenceFor(error);
  return (
    'This notebook cell failed with the error below. What does it mean for my cluster, ' +
    `and how do I fix it?\n\n${fence}text\n${error}\n${fence}`
  );
}
