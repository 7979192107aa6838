// Drives our /api/chat with the real ai@6 AbstractChat through a regenerate and an edit.
// Usage: node ai_sdk_regenerate.mjs URL CHAT_ID Q1 Q2 Q1_EDITED
// Steps: sendMessage(Q1), sendMessage(Q2), regenerate() (the reply to Q2 again), then
// sendMessage({text: Q1_EDITED, messageId: <Q1's id>}) (an edit of the first question).
// Prints one JSON object: the request bodies the transport sent and the chat state after each step.
import { AbstractChat, DefaultChatTransport } from 'ai';

const [url, chatId, q1, q2, q1Edited] = process.argv.slice(2);

class State {
  constructor() { this.status = 'ready'; this.error = undefined; this.messages = []; }
  pushMessage(m) { this.messages = [...this.messages, m]; }
  popMessage() { this.messages = this.messages.slice(0, -1); }
  replaceMessage(i, m) { this.messages = [...this.messages.slice(0, i), m, ...this.messages.slice(i + 1)]; }
  snapshot(x) { return structuredClone(x); }
}
class Chat extends AbstractChat {}

const out = { bodies: [], steps: [] };
const transport = new DefaultChatTransport({
  api: url,
  fetch: async (input, init) => { out.bodies.push(JSON.parse(init.body)); return fetch(input, init); },
});
const chat = new Chat({ id: chatId, transport, state: new State() });
const step = (name) => out.steps.push({
  name, status: chat.status, error: chat.error ? String(chat.error) : null,
  messages: chat.messages.map((m) => ({ id: m.id, role: m.role, text: m.parts.filter((p) => p.type === 'text').map((p) => p.text).join('') })),
});

await chat.sendMessage({ text: q1 });
step('q1');
await chat.sendMessage({ text: q2 });
step('q2');
await chat.regenerate();
step('regenerate');
await chat.sendMessage({ text: q1Edited, messageId: chat.messages[0].id });
step('edit');
console.log(JSON.stringify(out));
