// Drive the real @base44/sdk connectors module against a Switchboard portal.
//
// stdin: {"serverUrl", "appId", "token"?, "serviceToken"?, "parallel"?: bool,
//         "calls": [{"method": "getConnection" | "getAccessToken" | "getWorkspaceConnection" |
//                    "getCurrentAppUserConnection" | "getCurrentAppUserAccessToken" | "callApi"
//                    (asServiceRole.connectors) | "connectAppUser" | "disconnectAppUser"
//                    (connectors, the user client), "args": [...]}]}
// stdout: one JSON array, {"ok": true, "value"} or {"ok": false, "error": {...}} per call.
import { createClient } from "@base44/sdk";
import { readFileSync } from "node:fs";

const spec = JSON.parse(readFileSync(0, "utf8"));
process.env.NODE_ENV = "production";

const config = { serverUrl: spec.serverUrl, appId: spec.appId, analytics: { enabled: false } };
if (spec.token) config.token = spec.token;
if (spec.serviceToken) config.serviceToken = spec.serviceToken;
const client = createClient(config);
const USER_METHODS = new Set(["connectAppUser", "disconnectAppUser"]);

async function one(call) {
  try {
    const module = USER_METHODS.has(call.method) ? client.connectors
      : client.asServiceRole.connectors;
    const value = await module[call.method](...(call.args ?? []));
    return { ok: true, value: value === undefined ? "<undefined>" : value };
  } catch (error) {
    return { ok: false, error: { name: error?.name ?? null, message: error?.message ?? String(error),
      status: error?.status ?? null, code: error?.code ?? null, data: error?.data ?? null } };
  }
}

const calls = spec.calls ?? [];
let results = [];
if (spec.parallel) results = await Promise.all(calls.map(one));
else for (const call of calls) results.push(await one(call));
process.stdout.write(JSON.stringify(results));
try { client.cleanup(); } catch { /* nothing to clean */ }
process.exit(0);
