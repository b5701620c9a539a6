/** A tiny element builder: the views are plain DOM, shared by the panel and the widget. */

import type { IUsage } from '../protocol';

export type Child = Node | string | null | undefined | false;

export interface IAttrs {
  [name: string]: string | number | boolean | null | undefined | EventListener;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: IAttrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) {
      continue;
    }
    if (typeof value === 'function') {
      element.addEventListener(name.replace(/^on/, ''), value);
    } else if (name === 'className') {
      element.className = String(value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** A `<button type="button">` with a visible label and an accessible name. */
export function button(
  label: string,
  onClick: (event: MouseEvent) => void,
  options: { className?: string; title?: string; ariaLabel?: string } = {}
): HTMLButtonElement {
  const element = h(
    'button',
    {
      type: 'button',
      className: `jp-kchat-button ${options.className ?? ''}`.trim(),
      title: options.title,
      'aria-label': options.ariaLabel
    },
    label
  );
  element.addEventListener('click', onClick);
  return element;
}

const COUNT = new Intl.NumberFormat('en-US');

/** `{prompt_tokens: 1234, completion_tokens: 321, context_used: 0.18}` ->
 * "1,234 + 321 tokens · 18% of context"; parts the server did not send are left out, and
 * counts kchat estimated itself start with "≈". */
export function formatUsage(usage: IUsage): string {
  const number = (value: unknown): number | null =>
    typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
  const prompt = number(usage.prompt_tokens);
  const completion = number(usage.completion_tokens);
  const total = number(usage.total_tokens);
  const window = number(usage.context_window);
  const parts: string[] = [];
  const about = usage.estimated === true ? '≈ ' : '';
  if (prompt !== null && completion !== null) {
    parts.push(`${about}${COUNT.format(prompt)} + ${COUNT.format(completion)} tokens`);
  } else if (prompt !== null || completion !== null || total !== null) {
    parts.push(`${about}${COUNT.format((total ?? prompt ?? completion) as number)} tokens`);
  }
  let used = number(usage.context_used);
  if (used === null && window && prompt !== null) {
    used = prompt / window;
  }
  if (used !== null) {
    const percent = used > 0 && used < 0.01 ? '<1' : String(Math.round(used * 100));
    parts.push(`${percent}% of context`);
  }
  const cost = number(usage.cost_usd);
  if (cost !== null) {
    parts.push(`$${cost < 0.01 ? cost.toFixed(4) : cost.toFixed(2)}`);
  }
  return parts.join(' · ');
}

/** 1234 -> "1.2 s", 87 -> "87 ms". */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) {
    return '';
  }
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  if (ms < 60_000) {
    return `${(ms / 1000).toFixed(1)} s`;
  }
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
