/** HTTP and WebSocket addresses of the server extension, through JupyterLab's settings. */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IConversation, IConversationList } from './protocol';

/**
 * `{wsUrl}ws/chat`, with `?token=` only when JupyterLab would add it to its own kernel
 * sockets (a token is set and the page is not same-host with cookie auth).
 */
export function chatSocketUrl(settings: ServerConnection.ISettings): string {
  const url = URLExt.join(settings.wsUrl, 'ws/chat');
  const token = settings.token;
  if (token && settings.appendToken) {
    return `${url}?token=${encodeURIComponent(token)}`;
  }
  return url;
}

async function request<T>(
  settings: ServerConnection.ISettings,
  path: string,
  init: RequestInit = {}
): Promise<T | null> {
  const url = URLExt.join(settings.baseUrl, 'api/kchat', path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  if (response.status === 404) {
    return null;
  }
  if (!response.ok) {
    const body = await response.text();
    let message = body;
    try {
      const parsed = JSON.parse(body) as { message?: string; error?: { message?: string } };
      message = parsed.error?.message ?? parsed.message ?? body;
    } catch {
      // Not JSON: the body itself is the message.
    }
    throw new ServerConnection.ResponseError(response, message);
  }
  if (response.status === 204) {
    return null;
  }
  return (await response.json()) as T;
}

export async function listConversations(
  settings: ServerConnection.ISettings
): Promise<IConversationList> {
  return (await request<IConversationList>(settings, 'conversations')) ?? { conversations: [] };
}

/** `null` when the server does not know the conversation (deleted, other database). */
export function getConversation(
  settings: ServerConnection.ISettings,
  id: string
): Promise<IConversation | null> {
  return request<IConversation>(settings, `conversations/${encodeURIComponent(id)}`);
}

export async function deleteConversation(
  settings: ServerConnection.ISettings,
  id: string
): Promise<void> {
  await request<unknown>(settings, `conversations/${encodeURIComponent(id)}`, {
    method: 'DELETE'
  });
}
