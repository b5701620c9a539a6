import { describe, expect, it } from 'vitest';

import type { ServerConnection } from '@jupyterlab/services';

import { chatSocketUrl } from '../api';

function settings(extra: Partial<ServerConnection.ISettings>): ServerConnection.ISettings {
  return {
    wsUrl: 'ws://hub.example/user/alice/',
    token: '',
    appendToken: false,
    ...extra
  } as ServerConnection.ISettings;
}

describe('chatSocketUrl', () => {
  it('joins ws/chat to the server wsUrl (JupyterHub base_url kept)', () => {
    expect(chatSocketUrl(settings({}))).toBe('ws://hub.example/user/alice/ws/chat');
  });

  it('adds the token only when JupyterLab adds it to its own sockets', () => {
    expect(chatSocketUrl(settings({ token: 'a b', appendToken: true }))).toBe(
      'ws://hub.example/user/alice/ws/chat?token=a%20b'
    );
    expect(chatSocketUrl(settings({ token: 'abc', appendToken: false }))).toBe(
      'ws://hub.example/user/alice/ws/chat'
    );
    expect(chatSocketUrl(settings({ token: '', appendToken: true }))).toBe(
      'ws://hub.example/user/alice/ws/chat'
    );
  });
});
