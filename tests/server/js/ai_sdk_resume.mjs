// Reconnects to a chat's stream with the real ai@6 client (DefaultChatTransport.reconnectToStream,
// what useChat({resume: true}) calls). Usage: node ai_sdk_resume.mjs URL CHAT_ID
// Prints a line {"connected": bool} as soon as the response head arrived (false: the server said 204),
// then {reconnected, chunks, message, streamErrors}.
import { DefaultChatTransport, readUIMessageStream } from 'ai';

const [url, chatId] = process.argv.slice(2);
const transport = new DefaultChatTransport({ api: url });
const stream = await transport.reconnectToStream({ chatId });
console.log(JSON.stringify({ connected: stream !== null }));
const out = { reconnected: stream !== null, chunks: [], message: null, streamErrors: [] };
if (stream !== null) {
  const [forChunks, forMessages] = stream.tee();
  const reading = (async () => { for await (const c of forChunks) out.chunks.push(c); })();
  for await (const m of readUIMessageStream({ stream: forMessages, onError: (e) => out.streamErrors.push(String(e)) })) {
    out.message = m;
  }
  await reading;
}
console.log(JSON.stringify(out));
