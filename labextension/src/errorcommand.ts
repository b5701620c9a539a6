/**
 * The "Ask kchat about this error" command, in the cell context menu and the cell toolbar
 * (`schema/plugin.json`): a cell whose output shows an error goes to the chat in one action.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { CodeCell } from '@jupyterlab/cells';
import { INotebookTracker } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { errorText } from './cellerror';
import { KChatPanel, NotebookCell, cellContext } from './panel';

export const ASK_ABOUT_ERROR = 'kchat:ask-about-error';

/** The error a cell shows, or null: code cells only. */
function cellError(cell: NotebookCell | null): string | null {
  const outputs = cell instanceof CodeCell && !cell.isDisposed ? cell.model?.outputs : null;
  return outputs ? errorText(outputs.toJSON()) : null;
}

export function addAskAboutError(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  panel: KChatPanel,
  icon: LabIcon
): void {
  /** The right-clicked cell for the context menu, else the active cell (the cell toolbar's). */
  const target = (args: { fromContextMenu?: unknown }): NotebookCell | null => {
    const notebook = tracker.currentWidget;
    if (args.fromContextMenu === true && notebook) {
      const node = app.contextMenuHitTest(element => element.classList.contains('jp-Cell'));
      const hit = node && notebook.content.widgets.find(cell => cell.node === node);
      if (hit) {
        return hit;
      }
    }
    return tracker.activeCell;
  };
  app.commands.addCommand(ASK_ABOUT_ERROR, {
    label: 'Ask kchat about this error',
    caption: 'Send this cell and its error to Kubernetes Chat',
    icon,
    isEnabled: args => cellError(target(args)) !== null,
    isVisible: args => cellError(target(args)) !== null,
    execute: args => {
      const cell = target(args);
      const error = cellError(cell);
      if (!cell || error === null) {
        return;
      }
      if (!panel.isAttached) {
        app.shell.add(panel, 'left', { rank: 900 });
      }
      app.shell.activateById(panel.id);
      panel.askAboutError(cellContext(cell, tracker.currentWidget), error);
    }
  });
  app.contextMenu.addItem({
    command: ASK_ABOUT_ERROR,
    selector: '.jp-Notebook .jp-CodeCell',
    args: { fromContextMenu: true },
    rank: 12
  });
  // The cell toolbar asks again whenever the active cell or its outputs change.
  let watched: CodeCell | null = null;
  const changed = (): void => app.commands.notifyCommandChanged(ASK_ABOUT_ERROR);
  tracker.activeCellChanged.connect((_, cell) => {
    watched?.model?.outputs?.changed.disconnect(changed);
    watched = cell instanceof CodeCell ? cell : null;
    watched?.model?.outputs?.changed.connect(changed);
    changed();
  });
}
