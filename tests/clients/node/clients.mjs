// The official openai npm SDK against a running carbon-gateway: one case per run, its findings as JSON on stdout.
// Usage: node clients.mjs BASE_URL CASE   (CASE: unary | stream | stream-usage | embeddings | refused)
// `refused` calls MODEL (env) with GATEWAY_KEY (env) and counts the HTTP attempts the SDK makes.
// Driven by tests/clients/test_openai_node.py; where each figure is, is the README's per-client table.
import OpenAI from "openai";

const [baseURL, kase] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: process.env.GATEWAY_KEY || "unused-in-demo-mode" });
const messages = [{ role: "user", content: "Hello from Node" }];
const out = {};

if (kase === "unary") {
  const { data, response } = await client.chat.completions.create({ model: "demo", messages }).withResponse();
  out.header_gco2e = response.headers.get("x-carbon-gco2e");
  out.request_id = response.headers.get("x-request-id");
  out.usage_carbon = data.usage.carbon ?? null;
} else if (kase === "stream" || kase === "stream-usage") {
  const params = { model: "demo", messages, stream: true };
  if (kase === "stream-usage") params.stream_options = { include_usage: true };
  const { data: stream, response } = await client.chat.completions.create(params).withResponse();
  out.request_id = response.headers.get("x-request-id");
  out.header_method = response.headers.get("x-carbon-method");
  let last = null;
  let text = "";
  for await (const chunk of stream) {
    last = chunk;
    text += chunk.choices?.[0]?.delta?.content ?? "";
  }
  out.text = text;
  out.last_usage_carbon = last?.usage?.carbon ?? null;
} else if (kase === "embeddings") {
  // The SDK asks for encoding_format "base64" by default and decodes float32 little-endian.
  const { data, response } = await client.embeddings.create({ model: "demo", input: ["carbon", "gateway"] }).withResponse();
  out.vectors = data.data.map((item) => Array.from(item.embedding));
  out.request_id = response.headers.get("x-request-id");
} else if (kase === "refused") {
  let attempts = 0;
  const counting = new OpenAI({
    baseURL,
    apiKey: process.env.GATEWAY_KEY || "unused",
    fetch: async (url, init) => {
      attempts += 1;
      return fetch(url, init);
    },
  });
  try {
    await counting.chat.completions.create({ model: process.env.MODEL, messages });
  } catch (error) {
    out.status = error.status;
    out.code = error.code ?? error.error?.code ?? null;
    out.message = error.message;
    out.should_retry = error.headers?.get("x-should-retry") ?? null;
    out.retry_after = error.headers?.get("retry-after") ?? null;
  }
  out.attempts = attempts;
} else {
  throw new Error(`unknown case ${kase}`);
}
console.log(JSON.stringify(out));
