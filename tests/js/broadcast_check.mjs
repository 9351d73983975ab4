// Opens many official-client connections spread over the given hub URLs, has the first one
// ask the server for a burst of numbered broadcasts, and reports what every connection got.
// argv: <count> <messages> <url> [<url> ...]   stdout: one JSON object   (all waits bounded)
import * as signalR from "@microsoft/signalr";

const [count, messages] = process.argv.slice(2, 4).map(Number);
const urls = process.argv.slice(4);
const DEADLINE_MS = 60_000;
const BATCH = 50;

const received = [];
const connections = [];
let settle;
const allDone = new Promise((resolve) => (settle = resolve));
let complete = 0;

function open(index) {
  const connection = new signalR.HubConnectionBuilder()
    .withUrl(urls[index % urls.length], { transport: signalR.HttpTransportType.WebSockets })
    .configureLogging(signalR.LogLevel.Error)
    .build();
  const got = (received[index] = []);
  connection.on("Receive", (value) => {
    got.push(value);
    if (got.length === messages && ++complete === count) settle();
  });
  connections[index] = connection;
  return connection.start();
}

const started = Date.now();
for (let first = 0; first < count; first += BATCH) {
  const batch = [];
  for (let index = first; index < Math.min(first + BATCH, count); index++) batch.push(open(index));
  await Promise.all(batch);
}
const connectedMs = Date.now() - started;
const burstStart = Date.now();
await connections[0].invoke("Burst", messages);
const timer = setTimeout(settle, DEADLINE_MS);
await allDone;
clearTimeout(timer);
const elapsedMs = Date.now() - burstStart;

let lost = 0, duplicated = 0, outOfOrder = 0;
for (const got of received) {
  lost += Math.max(0, messages - new Set(got).size);
  duplicated += got.length - new Set(got).size;
  outOfOrder += got.some((value, i) => value !== i) ? 1 : 0;
}
await Promise.all(connections.map((c) => c.stop()));
process.stdout.write(JSON.stringify({ count, messages, complete, lost, duplicated, outOfOrder, connectedMs, elapsedMs }));
