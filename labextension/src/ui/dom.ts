/** A tiny element builder: the views are plain DOM, shared by the panel and the widget. */

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
