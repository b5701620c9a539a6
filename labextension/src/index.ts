/** The JupyterLab plugin: the Kubernetes Chat side panel and its "Open Kubernetes Chat" command. */

import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';

import { DEFAULT_SETTINGS, IKChatSettings, KChatPanel, PANEL_ID, kubernetesIcon } from './panel';
import { addAskAboutError } from './errorcommand';
import { openTable } from './tableview';

const PLUGIN_ID = 'jupyter-kchat:plugin';

export namespace CommandIDs {
  export const open = 'kchat:open';
  export const newConversation = 'kchat:new-conversation';
}

function readSettings(settings: ISettingRegistry.ISettings | null): IKChatSettings {
  if (!settings) {
    return { ...DEFAULT_SETTINGS };
  }
  const composite = settings.composite as Partial<IKChatSettings>;
  return {
    model: typeof composite.model === 'string' ? composite.model.trim() : '',
    namespace: typeof composite.namespace === 'string' ? composite.namespace.trim() : '',
    sendOnEnter: composite.sendOnEnter !== false,
    includeActiveCell: composite.includeActiveCell === true
  };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Chat with your Kubernetes cluster from a JupyterLab side panel.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [ICommandPalette, ISettingRegistry, INotebookTracker, IStateDB, ILayoutRestorer],
  activate: async (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null,
    tracker: INotebookTracker | null,
    state: IStateDB | null,
    restorer: ILayoutRestorer | null
  ) => {
    let settings: ISettingRegistry.ISettings | null = null;
    if (settingRegistry) {
      try {
        settings = await settingRegistry.load(PLUGIN_ID);
      } catch (error) {
        console.warn('jupyter-kchat: settings not loaded, using defaults', error);
      }
    }
    const panel = new KChatPanel({
      serverSettings: app.serviceManager.serverSettings,
      rendermime,
      tracker,
      state,
      settings: readSettings(settings),
      openTable: (title, rows) => openTable(app, kubernetesIcon, title, rows)
    });
    settings?.changed.connect(() => {
      panel.settings = readSettings(settings);
    });
    app.shell.add(panel, 'left', { rank: 900 });
    restorer?.add(panel, PANEL_ID);

    app.commands.addCommand(CommandIDs.open, {
      label: 'Open Kubernetes Chat',
      caption: 'Chat with your Kubernetes cluster',
      icon: kubernetesIcon,
      execute: () => {
        if (!panel.isAttached) {
          app.shell.add(panel, 'left', { rank: 900 });
        }
        app.shell.activateById(panel.id);
      }
    });
    app.commands.addCommand(CommandIDs.newConversation, {
      label: 'New Kubernetes Chat Conversation',
      execute: () => {
        app.shell.activateById(panel.id);
        panel.newConversation();
      }
    });
    if (tracker) {
      addAskAboutError(app, tracker, panel, kubernetesIcon);
    }
    palette?.addItem({ command: CommandIDs.open, category: 'Kubernetes' });
    palette?.addItem({ command: CommandIDs.newConversation, category: 'Kubernetes' });
  }
};

export default plugin;
