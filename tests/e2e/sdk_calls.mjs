// Drive the real @base44/sdk against a Switchboard portal and print what the app would see.
//
// Usage: node sdk_calls.mjs '<json>'   (or the JSON on stdin)
//   {"serverUrl": "http://127.0.0.1:8000/", "appId": "...", "token": "...",
//    "serviceToken": "...", "calls": [{"as": "user" | "service", "slug": "pets",
//    "op": "get:/pets/{petId}", "params": {"pathParams": {"petId": 1}}}], "parallel": false}
// Prints one JSON array: {"ok": true, "value": <what call() resolved with>} or
// {"ok": false, "error": {"name", "message", "status", "code", "data"}} per call.
import { createClient } from "@base44/sdk";
import { readFileSync } from "node:fs";

const raw = process.argv[2] ?? readFileSync(0, "utf8");
const spec = JSON.parse(raw);
process.env.NODE_ENV = "production"; // keeps the SDK from console.error-ing every rejection

const config = { serverUrl: spec.serverUrl, appId: spec.appId, analytics: { enabled: false } };
if (spec.token) config.token = spec.token;
if (spec.serviceToken) config.serviceToken = spec.serviceToken;
if (spec.headers) config.headers = spec.headers;
const client = createClient(config);

async function one(call) {
  const integrations = call.as === "service" ? client.asServiceRole.integrations
    : client.integrations;
  try {
    const value = await integrations.custom.call(call.slug, call.op, call.params);
    return { ok: true, value };
  } catch (error) {
    return {
      ok: false,
      error: {
        name: error?.name ?? null,
        message: error?.message ?? String(error),
        status: error?.status ?? null,
        code: error?.code ?? null,
        data: error?.data ?? null,
      },
    };
  }
}

const calls = spec.calls ?? [];
const results = spec.parallel ? await Promise.all(calls.map(one)) : [];
if (!spec.parallel) {
  for (const call of calls) results.push(await one(call));
}
process.stdout.write(JSON.stringify(results));
try { client.cleanup(); } catch { /* nothing to clean */ }
process.exit(0);
