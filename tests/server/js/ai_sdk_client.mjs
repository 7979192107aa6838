// Drives our /api/chat with the real ai@6 client. Usage: node ai_sdk_client.mjs URL CHAT_ID TEXT [TEXT2]
// Prints one JSON object: the raw chunks of the first turn (DefaultChatTransport + readUIMessageStream),
// the final UIMessage, and the AbstractChat (useChat without React) state after every TEXT.
import { AbstractChat, DefaultChatTransport, readUIMessageStream } from 'ai';

const [url, chatId, ...texts] = process.argv.slice(2);

class State {
  constructor() { this.status = 'ready'; this.error = undefined; this.messages = []; }
  pushMessage(m) { this.messages = [...this.messages, m]; }
  popMessage() { this.messages = this.messages.slice(0, -1); }
  replaceMessage(i, m) { this.messages = [...this.messages.slice(0, i), m, ...this.messages.slice(i + 1)]; }
  snapshot(x) { return structuredClone(x); }
}
class Chat extends AbstractChat {}

const out = { chunks: [], message: null, streamErrors: [], chat: null, toolCalls: [], data: [] };
const transport = new DefaultChatTransport({ api: url, headers: { authorization: 'Bearer k' } });
const user = { id: 'u1', role: 'user', parts: [{ type: 'text', text: texts[0] }] };
const stream = await transport.sendMessages({
  trigger: 'submit-message', chatId: `${chatId}-raw`, messageId: undefined, messages: [user], abortSignal: undefined,
});
const [forChunks, forMessages] = stream.tee();
const reading = (async () => { for await (const c of forChunks) out.chunks.push(c); })();
for await (const m of readUIMessageStream({ stream: forMessages, onError: (e) => out.streamErrors.push(String(e)) })) {
  out.message = m;
}
await reading;

const chat = new Chat({
  id: chatId, transport, state: new State(),
  onToolCall: ({ toolCall }) => { out.toolCalls.push(toolCall); },
  onData: (part) => { out.data.push(part); },
});
for (const text of texts) {
  await chat.sendMessage({ text });
}
out.chat = { status: chat.status, error: chat.error ? String(chat.error) : null, messages: chat.messages };
console.log(JSON.stringify(out));
