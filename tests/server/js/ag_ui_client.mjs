// Drives our /ag-ui with the real @ag-ui/client HttpAgent (which runs verifyEvents on the stream).
// Usage: node ag_ui_client.mjs URL THREAD_ID TEXT [FRONTEND_TOOL]
// With FRONTEND_TOOL, the tool is declared; when the run ends with it pending, this client "runs" it
// (answers "12:00") and starts a second run. Prints one JSON object.
import { HttpAgent } from '@ag-ui/client';

const [url, threadId, text, frontendTool] = process.argv.slice(2);
const agent = new HttpAgent({ url, threadId });
const out = { events: [], runs: [], error: null, messages: [] };
agent.subscribe({ onEvent: ({ event }) => { out.events.push(event); } });
agent.addMessage({ id: 'u1', role: 'user', content: text });
const tools = frontendTool
  ? [{ name: frontendTool, description: 'Current time', parameters: { type: 'object', properties: {} } }]
  : [];
try {
  let result = await agent.runAgent({ runId: 'run-1', tools });
  out.runs.push(result.newMessages.length);
  const pending = out.events.filter((e) => e.type === 'RUN_FINISHED').at(-1)?.outcome?.pendingToolCallIds ?? [];
  for (const id of pending) agent.addMessage({ id: `t-${id}`, role: 'tool', toolCallId: id, content: '12:00' });
  if (pending.length) {
    result = await agent.runAgent({ runId: 'run-2', tools });
    out.runs.push(result.newMessages.length);
  }
} catch (error) {
  out.error = String(error?.message ?? error);
}
out.messages = agent.messages;
console.log(JSON.stringify(out));
