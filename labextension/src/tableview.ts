/** A tool's table at full width in the main area, like a DataFrame viewer: every column, every row. */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { DataRow } from './protocol';
import { DataTable } from './ui/table';

/** The same windowed table as the cards, expanded, filling the tab. */
export class TableView extends Widget {
  constructor(rows: readonly DataRow[]) {
    super();
    this.addClass('jp-kchat-table-view');
    this.table = new DataTable(rows, { expanded: true });
    this.node.appendChild(this.table.node);
  }

  readonly table: DataTable;

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.table.refresh();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this.table.refresh();
  }
}

let opened = 0;

/** Open `rows` in a new main-area tab titled `title`. */
export function openTable(
  app: JupyterFrontEnd,
  icon: LabIcon,
  title: string,
  rows: readonly DataRow[]
): MainAreaWidget<TableView> {
  const widget = new MainAreaWidget({ content: new TableView(rows) });
  opened += 1;
  widget.id = `jp-kchat-table-${opened}`;
  widget.title.label = title;
  widget.title.caption = `${title}: ${rows.length} rows`;
  widget.title.icon = icon;
  widget.title.closable = true;
  app.shell.add(widget, 'main');
  app.shell.activateById(widget.id);
  return widget;
}
