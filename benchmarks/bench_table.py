"""How the panel handles a 10,000-pod table: "Show all", sorting and scrolling, in Chromium.

Against a real JupyterLab + kchat + the demo model on a sample cluster of 10,000 pods, the panel
answers "list all pods"; the card's table then gets "Show all", two sorts and a scroll to the
end. Each step is timed in the page from the click to the next painted frame. The baseline, in
the same page and run, is what a table that renders every row costs: the same rows and columns
built as plain DOM rows, as the panel did before it kept only a window of rows. Prints both, the
ratio, and the rows in the DOM.

    python benchmarks/bench_table.py [--pods 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "ui")]

from kchat_lab import CHROMIUM, CHROMIUM_ARGS, RECORDER_JS, KChatLab
from playwright.sync_api import Page, sync_playwright

PANEL = "#jp-kchat-panel"

PAINTED = "() => new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)))"

TIMED_CLICK = """
async selector => {
  const started = performance.now();
  document.querySelector(selector).click();
  await new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)));
  return performance.now() - started;
}
"""

TIMED_SCROLL = """
async selector => {
  const node = document.querySelector(selector);
  const started = performance.now();
  node.scrollTop = node.scrollHeight;
  node.dispatchEvent(new Event('scroll'));
  await new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)));
  return performance.now() - started;
}
"""

FULL_TABLE = """
async ([selector, sortColumn]) => {
  // The rows as the card shows them, read back from its DOM only to get the same data.
  const card = document.querySelector(selector);
  const columns = [...card.querySelectorAll('th')].map(th => th.dataset.column);
  const rows = window.__kchatBenchRows;
  const build = order => {
    const table = document.createElement('table');
    table.className = 'jp-kchat-table';
    const body = document.createElement('tbody');
    for (const row of order) {
      const tr = document.createElement('tr');
      for (const column of columns) {
        const td = document.createElement('td');
        td.textContent = row[column] === undefined || row[column] === null ? '' : String(row[column]);
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    table.appendChild(body);
    return table;
  };
  const scroll = document.createElement('div');
  scroll.className = 'jp-kchat-table-scroll';
  card.appendChild(scroll);
  const paint = () => new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)));
  let started = performance.now();
  scroll.replaceChildren(build(rows));
  await paint();
  const expand = performance.now() - started;
  const compare = (a, b) => String(a[sortColumn]).localeCompare(String(b[sortColumn]), undefined,
    {numeric: true, sensitivity: 'base'});
  started = performance.now();
  scroll.replaceChildren(build([...rows].sort(compare)));
  await paint();
  const sort = performance.now() - started;
  started = performance.now();
  scroll.scrollTop = scroll.scrollHeight;
  await paint();
  const end = performance.now() - started;
  const inDom = scroll.querySelectorAll('tbody tr').length;
  scroll.remove();
  return {expand, sort, end, inDom};
}
"""


def measure(page: Page) -> dict[str, float]:
    card = f"{PANEL} .jp-kchat-tool-call[data-status='completed']"
    page.locator(card).first.wait_for()
    page.locator(f"{PANEL} .jp-kchat-view:not(.jp-mod-busy)").wait_for()
    page.evaluate(PAINTED)
    expand = page.evaluate(TIMED_CLICK, f"{card} .jp-kchat-show-all")
    sort = page.evaluate(TIMED_CLICK, f"{card} th[data-column='name'] button")
    end = page.evaluate(TIMED_SCROLL, f"{card} .jp-kchat-table-scroll")
    in_dom = page.locator(f"{card} tbody tr[aria-rowindex]").count()
    total = int(page.locator(f"{card} table").get_attribute("aria-rowcount") or 1) - 1
    full = page.evaluate(FULL_TABLE, [card, "name"])
    return {"expand": expand, "sort": sort, "end": end, "in_dom": in_dom, "total": total,
            "full_expand": full["expand"], "full_sort": full["sort"], "full_end": full["end"],
            "full_in_dom": full["inDom"]}


def rows_script(lab: KChatLab) -> str:
    """Give the page the rows of the last list_pods card (from the conversation's history)."""
    return f"""
async () => {{
  const base = {lab.base_url!r};
  const token = {lab.token!r};
  const get = async path => (await fetch(base + path, {{headers: {{Authorization: 'token ' + token}}}})).json();
  const listing = await get('api/kchat/conversations');
  const conversation = await get('api/kchat/conversations/' + listing.conversations[0].id);
  const tool = conversation.messages.filter(m => m.role === 'tool').pop();
  window.__kchatBenchRows = tool.tool.data;
  return tool.tool.data.length;
}}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="kchat-bench-table-") as tmp:
        lab = KChatLab(Path(tmp), pods=args.pods).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for run in range(args.runs):
                    context = browser.new_context(viewport={"width": 1440, "height": 900})
                    context.add_init_script(RECORDER_JS)
                    page = context.new_page()
                    page.goto(lab.lab_url(f"lab/workspaces/kchat-bench-table-{run}"))
                    tab = page.locator('[data-id="jp-kchat-panel"]')
                    tab.wait_for()
                    if not page.locator(PANEL).is_visible():
                        tab.click()
                    box = page.locator(f"{PANEL} textarea[aria-label='Message']")
                    box.fill("list all pods")
                    box.press("Enter")
                    page.locator(f"{PANEL} .jp-kchat-tool-call[data-status='completed']").wait_for()
                    page.evaluate(rows_script(lab))
                    results.append(measure(page))
                    context.close()
                browser.close()
        finally:
            lab.stop()

    def median(key: str) -> float:
        return statistics.median(r[key] for r in results)

    print(f"panel table of {int(median('total'))} pods, median of {args.runs} runs (ms, click to painted frame)")
    print(f"  {'step':14} {'windowed':>9} {'all rows':>9} {'ratio':>6}")
    for step, label in (("expand", "Show all"), ("sort", "sort by name"), ("end", "scroll to end")):
        ours, full = median(step), median(f"full_{step}")
        print(f"  {label:14} {ours:9.1f} {full:9.1f} {ours / full:6.3f}")
    print(f"  rows in the DOM: {int(median('in_dom'))} windowed, {int(median('full_in_dom'))} all rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
