// Two real @ag-ui/client HttpAgents on one thread: the first (with a state) asks Q1, then a new
// agent that knows nothing of the thread joins it and asks Q2. Usage: node ag_ui_join.mjs URL THREAD_ID Q1 Q2
// Prints one JSON object: each agent's events, messages, state and error (verifyEvents runs on both).
import { HttpAgent } from '@ag-ui/client';

const [url, threadId, q1, q2] = process.argv.slice(2);

async function ask(agent, id, text) {
  const out = { events: [], error: null };
  const sub = agent.subscribe({ onEvent: ({ event }) => { out.events.push(event); } });
  agent.addMessage({ id, role: 'user', content: text });
  try {
    await agent.runAgent({ runId: `run-${id}` });
  } catch (error) {
    out.error = String(error?.message ?? error);
  }
  sub.unsubscribe();
  return { ...out, messages: agent.messages, state: agent.state };
}

const first = await ask(new HttpAgent({ url, threadId, initialState: { theme: 'dark', step: 1 } }), 'first-q', q1);
const second = await ask(new HttpAgent({ url, threadId }), 'second-q', q2);
console.log(JSON.stringify({ first, second }));
