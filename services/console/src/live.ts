// Live telemetry: TelemetryService.Subscribe over Server-Sent Events, read with fetch streaming rather than
// EventSource so the key travels in the Authorization header, never in a URL. Reconnects after a dropped stream
// (the server ends every stream at its max age) until the caller aborts.
import { authorization } from './auth';
import { tenantPath } from './api';
import type { DataPoint } from './types';

export interface LiveHandlers {
  onOpen: () => void;
  onPoints: (points: DataPoint[]) => void;
  onError: (status: number) => void;
}

// Splits an SSE byte stream into the data of each event (`data:` lines joined; comments and ids ignored).
export class SseParser {
  private buffer = '';

  push(chunk: string): { event: string; data: string }[] {
    this.buffer += chunk.replace(/\r\n?/g, '\n');
    const events: { event: string; data: string }[] = [];
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        else if (line.startsWith('event:')) event = line.slice(6).trim();
      }
      if (data.length > 0) events.push({ event, data: data.join('\n') });
    }
    return events;
  }
}

// How long to wait before reconnecting: doubling from 1 s to 30 s.
const firstRetryMs = 1000;
const maxRetryMs = 30_000;

export function subscribe(tenant: string, devices: string[], handlers: LiveHandlers, signal: AbortSignal): void {
  let retryMs = firstRetryMs;
  const query = new URLSearchParams(devices.map((device) => ['devices', device]));
  const run = async (): Promise<void> => {
    while (!signal.aborted) {
      try {
        const response = await fetch(`${tenantPath(tenant)}/telemetry:subscribe?${query}`, {
          headers: { ...authorization(), Accept: 'text/event-stream' },
          credentials: 'omit',
          signal,
        });
        if (!response.ok || !response.body) {
          handlers.onError(response.status);
          // A refused key or a suspended tenant will not get better by retrying quickly.
          if (response.status === 401 || response.status === 403 || response.status === 404) return;
        } else {
          handlers.onOpen();
          retryMs = firstRetryMs;
          const parser = new SseParser();
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            for (const event of parser.push(value)) {
              if (event.event === 'error') handlers.onError(0);
              else handlers.onPoints((JSON.parse(event.data) as { points?: DataPoint[] }).points ?? []);
            }
          }
        }
      } catch {
        if (signal.aborted) return;
        handlers.onError(0);
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
      retryMs = Math.min(retryMs * 2, maxRetryMs);
    }
  };
  void run();
}
