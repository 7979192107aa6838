// An AG-UI client that loses its stream and reconnects, with the real @ag-ui/client HttpAgent.
// Usage: node ag_ui_resume.mjs URL THREAD_ID RUN_ID TEXT ABORT_AFTER
// The first HttpAgent aborts its run after ABORT_AFTER events (the tab goes away). A fresh HttpAgent
// (the reloaded tab: same thread, same user message) runs the same runId again, which reconnects to
// that run. Prints {"reconnected": true, "first": [...]} when the reconnect's first event arrives, then
// one JSON object: the reconnect's events (checked by HttpAgent's verifyEvents), messages and error.
import { HttpAgent } from '@ag-ui/client';

const [url, threadId, runId, text, abortAfter] = process.argv.slice(2);
const first = [];
const before = new HttpAgent({ url, threadId });
before.addMessage({ id: 'u1', role: 'user', content: text });
before.subscribe({
  onEvent: ({ event }) => {
    first.push(event);
    if (first.length === Number(abortAfter)) before.abortRun();
  },
});
try {
  await before.runAgent({ runId });
} catch {
  // an aborted run may reject: the point is that the stream is gone
}

const after = new HttpAgent({ url, threadId });
after.addMessage({ id: 'u1', role: 'user', content: text });
const events = [];
after.subscribe({
  onEvent: ({ event }) => {
    events.push(event);
    if (events.length === 1) console.log(JSON.stringify({ reconnected: true, first }));
  },
});
let error = null;
try {
  await after.runAgent({ runId });
} catch (e) {
  error = String(e?.message ?? e);
}
console.log(JSON.stringify({ events, messages: after.messages, error }));
