// The official OpenAI Node SDK as a real client of orguard.
// Driven by tests/sdk.rs, which starts a mock upstream and the gateway and passes their
// addresses in the environment. Exits non-zero on any mismatch.

import assert from "node:assert/strict";
import OpenAI from "openai";

const baseURL = process.env.ORGUARD_BASE_URL;
const client = new OpenAI({ baseURL, apiKey: process.env.ORGUARD_CLIENT_KEY, maxRetries: 0 });

// 1. A plain chat completion.
const plain = await client.chat.completions.create({
  model: "openai/gpt-4o",
  messages: [{ role: "user", content: "Say hello" }],
});
assert.equal(plain.choices[0].message.content, "Hello from the mock");
assert.equal(plain.usage.total_tokens, 7);

// 2. A streamed one.
const stream = await client.chat.completions.create({
  model: "openai/gpt-4o",
  messages: [{ role: "user", content: "Count" }],
  stream: true,
});
let text = "";
for await (const chunk of stream) {
  for (const choice of chunk.choices) text += choice.delta?.content ?? "";
}
assert.equal(text, "tok0 tok1 tok2 ");

// 3. One with tools; the model answers with a tool call.
const withTools = await client.chat.completions.create({
  model: "openai/gpt-4o",
  messages: [{ role: "user", content: "Weather in Paris?" }],
  tools: [{
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather for a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    },
  }],
});
const call = withTools.choices[0].message.tool_calls[0];
assert.equal(call.function.name, "get_weather");
assert.deepEqual(JSON.parse(call.function.arguments), { city: "Paris" });

// 4. A gateway refusal surfaces as the SDK's typed error.
try {
  await new OpenAI({ baseURL, apiKey: "ogk_wrong", maxRetries: 2 }).chat.completions.create({
    model: "openai/gpt-4o",
    messages: [{ role: "user", content: "x" }],
  });
  assert.fail("a wrong key must be refused");
} catch (e) {
  assert.ok(e instanceof OpenAI.AuthenticationError, String(e));
  assert.equal(e.status, 401);
  assert.equal(e.code, "invalid_api_key");
}

console.log("node sdk: 4 passed, 0 failed");
