"""Markdown written by the model, as HTML that cannot fetch, run, style or submit anything.

The answer often quotes cluster text, and a prompt-injected model may write anything, so:

- Markdown images never load: each becomes a visible link with its URL (``data:`` images,
  which carry no URL to follow, become a short note).
- Raw HTML is shown as the text it is. A tag that would load something (``<img src>``,
  ``<iframe>``, ``<svg><image href>``, ``<video poster>``, ``<link>``, CSS ``url()`` in a
  ``style``...) is followed by a visible link to each ``http(s)`` URL it names.
- Links open in a new tab with ``rel="noopener noreferrer"`` and no referrer; ``javascript:``,
  ``data:`` and other schemes are not links.
- The result then passes through ``nh3`` (the ammonia sanitizer) with an allowlist of text tags
  and no ``style``/``class``/``id`` attributes, so whatever slipped past the rules above is
  dropped rather than rendered.
"""

from __future__ import annotations

import re
from html import escape
from html.parser import HTMLParser

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del",
    "code", "pre", "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
LINK_SCHEMES = {"http", "https", "mailto"}
REL = "noopener noreferrer"
LINK_ATTRIBUTES = {"target": "_blank", "referrerpolicy": "no-referrer"}
"""Forced on every link. ``referrerpolicy`` too, because JupyterLab rewrites the ``rel`` of links
in outputs to ``noopener`` alone."""

URL_ATTRIBUTES = {
    "src", "href", "xlink:href", "poster", "data", "action", "formaction", "background",
    "lowsrc", "dynsrc", "longdesc", "manifest", "icon", "codebase", "archive",
}
"""Attributes whose whole value is a URL."""

_HTTP_URL = re.compile(r"https?://[^\s\"'<>)]+", re.IGNORECASE)
_REFRESH_URL = re.compile(r"url\s*=\s*['\"]?([^'\"\s;]+)", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)""", re.IGNORECASE)
_IMPORT = re.compile(r"""@import\s+['"]([^'"]+)""", re.IGNORECASE)


def link(url: str) -> str:
    """One outgoing link showing its URL (``sanitize`` adds where and how it opens)."""
    return f'<a href="{escape(url)}">{escape(url)}</a>'


def urls_in(attrs: list[tuple[str, str | None]], text: str = "") -> list[str]:
    """The ``http(s)`` URLs a tag would load or follow: URL attributes, CSS in ``style``, and
    ``text`` (a ``<style>`` element's content)."""
    candidates: list[str] = []
    for name, value in attrs:
        if not value:
            continue
        if name in URL_ATTRIBUTES:
            candidates.append(value.strip())
        elif name == "srcset":
            candidates += [part.split()[0] for part in value.split(",") if part.split()]
        elif name == "ping":
            candidates += value.split()
        elif name == "content":
            candidates += _REFRESH_URL.findall(value)
        elif name == "style":
            candidates += _CSS_URL.findall(value)
    candidates += _CSS_URL.findall(text) + _IMPORT.findall(text)
    return list(dict.fromkeys(url for url in candidates if _HTTP_URL.fullmatch(url)))


class _RawHtml(HTMLParser):
    """A fragment of raw HTML as escaped text, each URL it names as a link next to it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self._in_style = False

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(escape(self.get_starttag_text() or f"<{tag}>"))
        for url in urls_in(attrs):
            self.out.append(f" [{link(url)}]")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, attrs)
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self.out.append(escape(f"</{tag}>"))
        self._in_style = False

    def handle_data(self, data: str) -> None:
        self.out.append(escape(data))
        if self._in_style:
            self.out += [f" [{link(url)}]" for url in urls_in([], data)]

    def handle_entityref(self, name: str) -> None:
        self.out.append(escape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.out.append(escape(f"&#{name};"))

    def handle_comment(self, data: str) -> None:
        self.out.append(escape(f"<!--{data}-->"))

    def handle_decl(self, decl: str) -> None:
        self.out.append(escape(f"<!{decl}>"))

    def handle_pi(self, data: str) -> None:
        self.out.append(escape(f"<?{data}>"))

    def unknown_decl(self, data: str) -> None:
        end = "]]>" if data.startswith("CDATA[") else "]>"
        self.out.append(escape(f"<![{data}{end}"))


def raw_html_as_text(fragment: str) -> str:
    """What a raw HTML fragment shows: its text, escaped, with its URLs as links."""
    parser = _RawHtml()
    parser.feed(fragment)
    parser.close()
    leftover = parser.rawdata
    return "".join(parser.out) + escape(leftover)


class _Renderer(RendererHTML):
    """markdown-it's renderer with images, links and raw HTML made safe."""

    def image(self, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        url = str(token.attrGet("src") or "")
        alt = self.renderInlineAsText(token.children or [], options, env) or "image"
        if _HTTP_URL.match(url):
            return f"[image “{escape(alt)}”: {link(url)}]"
        return f"[image “{escape(alt)}”, not shown]"

    def html_inline(self, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return raw_html_as_text(tokens[idx].content)

    def html_block(self, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return f"<p>{raw_html_as_text(tokens[idx].content)}</p>"


def _markdown() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": True}, renderer_cls=_Renderer)
    return parser.enable(["table", "strikethrough"])


_MD = _markdown()


def sanitize(html: str) -> str:
    """HTML through nh3: text tags only, no styles, the link attributes above forced."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=LINK_SCHEMES,
        link_rel=REL,
        set_tag_attribute_values={"a": LINK_ATTRIBUTES},
        strip_comments=True,
    )


def markdown_to_html(markdown: str) -> str:
    """The model's Markdown as HTML that renders as text, tables and links, and loads nothing."""
    return sanitize(_MD.render(markdown))
