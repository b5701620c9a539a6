/** Markdown in JupyterLab: rendermime's renderer (themes, highlighting, math) with our sanitizer. */

import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';

import { SafeHtml } from './safehtml';
import { IMarkdownRenderer } from './ui/view';

/**
 * JupyterLab's sanitizer, then ours: rendermime sets the result as `innerHTML`, and an image
 * starts loading as soon as it is parsed into the page, so nothing may be left to remove later.
 */
export class SafeSanitizer implements IRenderMime.ISanitizer {
  constructor(
    private readonly _base: IRenderMime.ISanitizer,
    private readonly _safe: SafeHtml
  ) {}

  readonly allowNamedProperties = false;
  readonly allowCommandLinker = false;

  getAutolink(): boolean {
    return this._base.getAutolink?.() ?? true;
  }

  /** Ours first (blocked resources become links, which JupyterLab's would drop silently),
   * then JupyterLab's, then ours again: the last word is ours. */
  sanitize(dirty: string, options?: IRenderMime.ISanitizerOptions): string {
    return this._safe.sanitize(this._base.sanitize(this._safe.sanitize(dirty), options));
  }
}

/** One renderer per block, from a rendermime clone whose sanitizer is `SafeSanitizer`. */
export class RenderMimeMarkdown implements IMarkdownRenderer {
  /** `server`: the Jupyter server's absolute base URL, under which images may load. */
  constructor(rendermime: IRenderMimeRegistry, server: string) {
    const safe = new SafeHtml({ server, base: document.baseURI });
    this._rendermime = rendermime.clone({
      sanitizer: new SafeSanitizer(rendermime.sanitizer, safe)
    });
  }

  async render(host: HTMLElement, markdown: string): Promise<void> {
    let renderer = this._renderers.get(host);
    if (!renderer) {
      renderer = this._rendermime.createRenderer('text/markdown');
      renderer.addClass('jp-kchat-markdown');
      host.appendChild(renderer.node);
      this._renderers.set(host, renderer);
    }
    const node = renderer.node;
    await renderer.renderModel(
      new MimeModel({ data: { 'text/markdown': markdown }, trusted: false })
    );
    // rendermime's link hardening writes `rel="noopener"` over ours: no referrer either.
    for (const link of Array.from(node.querySelectorAll('a[href]'))) {
      link.setAttribute('rel', 'noopener noreferrer');
    }
  }

  private readonly _rendermime: IRenderMimeRegistry;
  private readonly _renderers = new WeakMap<HTMLElement, IRenderMime.IRenderer>();
}
