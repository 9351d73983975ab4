// Drives the official @microsoft/signalr client for django_signalr's end-to-end tests.
//
// Protocol: one JSON command per line on stdin, one JSON answer per line on stdout:
//   {"id": N, "cmd": "<name>", ...}  ->  {"id": N, "ok": true, "result": ...}
//                                     |  {"id": N, "ok": false, "error": "<err.message>"}
// ("result" is left out when it is undefined, so null and undefined stay apart.)
// Commands run concurrently (a slow "next" does not block an "invoke"), so answers may come
// out of order; match them by id. Binary results are written as {"$bytes": "<base64>"}.
// The client library logs to stderr only: stdout is the protocol channel. The process exits
// when stdin closes.
//
// Commands (every connection is named by "name"):
//   connect   {name, url, transport?, protocol?, skipNegotiation?, accessToken?, headers?,
//              serverTimeoutMs?, keepAliveMs?, logLevel?, listen?, reconnectDelays?}
//                                            -> {connectionId}; listen defaults to ["Receive"];
//                                               reconnectDelays turns on withAutomaticReconnect
//   invoke    {name, target, args?}          -> the completion result
//   send      {name, target, args?}          -> null (resolves once the message is sent)
//   next      {name, target, timeoutMs}      -> the args of the next server invocation of target
//   drain     {name, target}                 -> every recorded, not yet taken invocation of target
//   closed    {name, timeoutMs}              -> onclose's error message, or null
//   event     {name, timeoutMs}              -> the next lifecycle event: {event: "reconnecting",
//                                               error} | {event: "reconnected", connectionId} |
//                                               {event: "close", error}
//   state     {name}                         -> "Connected", "Disconnected", ...
//   connectionId {name}                      -> the id the client reports (null when skipped)
//   stop      {name}                         -> null, after stop() finished
//   terminate {name}                         -> drop the WebSocket's TCP connection without a
//                                               close frame (a network failure; client internals)
//   forget    {name}                         -> stop (if needed) and drop the connection
//   ping      {}                             -> "pong"
//
// Streams, client results, stateful reconnect (arguments and items may hold {"$bytes": b64},
// which becomes a Uint8Array, and {"$subject": id}, which becomes that Subject):
//   connect   ... statefulReconnect? (true or {bufferSize}) -> withStatefulReconnect();
//                 automaticReconnect? (true) -> withAutomaticReconnect() with its default delays
//   stream    {name, stream, target, args?}   -> null; subscribes to connection.stream(...)
//   streamNext {name, stream, timeoutMs}      -> the next item of that stream
//   streamEnd {name, stream, timeoutMs}       -> {items (all so far), error (null = completed)}
//   streamDispose {name, stream}              -> null, after subscription.dispose()
//   subject   {name, subject}                 -> null; a new signalR.Subject for uploads
//   subjectNext {name, subject, items}        -> null, after next(item) for each item
//   subjectComplete {name, subject}           -> null
//   subjectError {name, subject, message}     -> null, after error(new Error(message))
//   invokeStart {name, call, target, args?}   -> null; the invoke runs on
//   callResult {name, call, timeoutMs}        -> that invoke's result (or its error)
//   invokeMany {name, calls: [{target, args}]} -> every invoke started at once; their outcomes
//                                               in the order they finished: {index, ok,
//                                               result | error, ms}
//   handle    {name, target, kind, value?, message?, delayMs?} -> null; replaces target's
//                                               handlers with one that records its arguments
//                                               (for "next"/"drain") and then, by kind:
//                                               "value" returns value, "throw" throws
//                                               new Error(message), "undefined" returns
//                                               nothing, "hang" never settles, "none" leaves
//                                               no handler at all
//   sendMany  {name, target, start, count, args?} -> null once send(target, i, ...args) for
//                                               i = start .. start+count-1, all issued at once,
//                                               resolved
//   events    {name}                          -> the lifecycle events recorded and not taken
//   socketOpen {name}                         -> whether the WebSocket is open now
//   socketUrl {name}                          -> the WebSocket's URL (with ?id=<token>)
//   features  {name}                          -> {reconnect}: stateful reconnect in use

import { createRequire } from "node:module";
import readline from "node:readline";

const require = createRequire(import.meta.url);
const signalR = require("@microsoft/signalr");
const msgpack = require("@microsoft/signalr-protocol-msgpack");

/** @type {Map<string, Session>} */
const sessions = new Map();

class Waitable {
    // A FIFO of values with timed waits.
    constructor() {
        this.items = [];
        this.waiters = [];
    }

    push(value) {
        const waiter = this.waiters.shift();
        if (waiter) {
            waiter(value);
        } else {
            this.items.push(value);
        }
    }

    take(timeoutMs, what) {
        if (this.items.length > 0) {
            return Promise.resolve(this.items.shift());
        }
        return new Promise((resolve, reject) => {
            const waiter = (value) => {
                clearTimeout(timer);
                resolve(value);
            };
            const timer = setTimeout(() => {
                const index = this.waiters.indexOf(waiter);
                if (index !== -1) {
                    this.waiters.splice(index, 1);
                }
                reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`));
            }, timeoutMs);
            this.waiters.push(waiter);
        });
    }

    drain() {
        return this.items.splice(0, this.items.length);
    }
}

class Session {
    constructor(connection) {
        this.connection = connection;
        this.received = new Map(); // lower-cased target -> Waitable of args arrays
        this.closes = new Waitable();
        this.events = new Waitable();
        this.closedWith = undefined; // undefined until onclose fired; then the message or null
        this.streams = new Map(); // stream name -> {items, all, end, result, subscription}
        this.subjects = new Map(); // subject name -> signalR.Subject
        this.calls = new Map(); // call name -> Promise of {ok, result | error}
    }

    queue(target) {
        const key = target.toLowerCase();
        let queue = this.received.get(key);
        if (!queue) {
            queue = new Waitable();
            this.received.set(key, queue);
        }
        return queue;
    }
}

function stderrLogger(minimum) {
    return {
        log(level, message) {
            if (level >= minimum) {
                process.stderr.write(`[signalr ${signalR.LogLevel[level]}] ${message}\n`);
            }
        },
    };
}

function logLevel(value) {
    if (value === undefined || value === null) {
        return signalR.LogLevel.Warning;
    }
    if (typeof value === "number") {
        return value;
    }
    const level = signalR.LogLevel[value];
    if (level === undefined) {
        throw new Error(`Unknown logLevel ${value}`);
    }
    return level;
}

function session(name) {
    const found = sessions.get(name);
    if (!found) {
        throw new Error(`No connection named ${JSON.stringify(name)}`);
    }
    return found;
}

function required(command, key) {
    if (command[key] === undefined) {
        throw new Error(`'${command.cmd}' needs '${key}'`);
    }
    return command[key];
}

const commands = {
    async connect(command) {
        const name = required(command, "name");
        if (sessions.has(name)) {
            throw new Error(`A connection named ${JSON.stringify(name)} exists already`);
        }
        const options = { logger: stderrLogger(logLevel(command.logLevel)) };
        if (command.transport !== undefined) {
            const transport = signalR.HttpTransportType[command.transport];
            if (transport === undefined) {
                throw new Error(`Unknown transport ${command.transport}`);
            }
            options.transport = transport;
        }
        if (command.skipNegotiation) {
            options.skipNegotiation = true;
        }
        if (command.accessToken !== undefined) {
            const token = command.accessToken;
            options.accessTokenFactory = () => token;
        }
        if (command.headers) {
            options.headers = command.headers;
        }
        let builder = new signalR.HubConnectionBuilder()
            .withUrl(required(command, "url"), options)
            .configureLogging(options.logger);
        const protocol = command.protocol ?? "json";
        if (protocol === "messagepack") {
            builder = builder.withHubProtocol(new msgpack.MessagePackHubProtocol());
        } else if (protocol !== "json") {
            throw new Error(`Unknown protocol ${protocol}`);
        }
        if (command.serverTimeoutMs !== undefined) {
            builder = builder.withServerTimeout(command.serverTimeoutMs);
        }
        if (command.keepAliveMs !== undefined) {
            builder = builder.withKeepAliveInterval(command.keepAliveMs);
        }
        if (command.reconnectDelays !== undefined) {
            builder = builder.withAutomaticReconnect(command.reconnectDelays);
        } else if (command.automaticReconnect) {
            builder = builder.withAutomaticReconnect();
        }
        if (command.statefulReconnect) {
            builder = builder.withStatefulReconnect(
                typeof command.statefulReconnect === "object" ? command.statefulReconnect : undefined,
            );
        }
        const connection = builder.build();
        const current = new Session(connection);
        for (const target of command.listen ?? ["Receive"]) {
            const queue = current.queue(target);
            connection.on(target, (...args) => {
                queue.push(args);
            });
        }
        connection.onclose((error) => {
            current.closedWith = error ? error.message : null;
            current.closes.push(current.closedWith);
            current.events.push({ event: "close", error: current.closedWith });
        });
        connection.onreconnecting((error) => {
            current.events.push({ event: "reconnecting", error: error ? error.message : null });
        });
        connection.onreconnected((connectionId) => {
            current.events.push({ event: "reconnected", connectionId: connectionId ?? null });
        });
        sessions.set(name, current);
        try {
            await connection.start();
        } catch (error) {
            sessions.delete(name);
            throw error;
        }
        return { connectionId: connection.connectionId };
    },

    async invoke(command) {
        const { connection } = session(command.name);
        return await connection.invoke(required(command, "target"), ...(command.args ?? []));
    },

    async send(command) {
        const { connection } = session(command.name);
        await connection.send(required(command, "target"), ...(command.args ?? []));
        return null;
    },

    async next(command) {
        const current = session(command.name);
        const target = required(command, "target");
        return await current.queue(target).take(required(command, "timeoutMs"), `'${target}' on ${command.name}`);
    },

    async drain(command) {
        return session(command.name).queue(required(command, "target")).drain();
    },

    async closed(command) {
        const current = session(command.name);
        if (current.closedWith !== undefined) {
            return current.closedWith;
        }
        return await current.closes.take(required(command, "timeoutMs"), `onclose of ${command.name}`);
    },

    async event(command) {
        return await session(command.name).events.take(required(command, "timeoutMs"), `an event of ${command.name}`);
    },

    async state(command) {
        return session(command.name).connection.state;
    },

    async connectionId(command) {
        return session(command.name).connection.connectionId ?? null;
    },

    async stop(command) {
        await session(command.name).connection.stop();
        return null;
    },

    async terminate(command) {
        const socket = session(command.name).connection.connection.transport?._webSocket;
        if (!socket || typeof socket.terminate !== "function") {
            throw new Error("terminate needs a Node WebSocket transport");
        }
        socket.terminate();
        return null;
    },

    async forget(command) {
        const current = sessions.get(command.name);
        if (current) {
            sessions.delete(command.name);
            await current.connection.stop();
        }
        return null;
    },

    async ping() {
        return "pong";
    },

    async stream(command) {
        const current = session(command.name);
        const name = required(command, "stream");
        if (current.streams.has(name)) {
            throw new Error(`A stream named ${JSON.stringify(name)} exists already`);
        }
        const state = { items: new Waitable(), all: [], end: new Waitable(), result: undefined };
        const finish = (error) => {
            state.result = { items: state.all, error };
            state.end.push(state.result);
        };
        current.streams.set(name, state);
        const args = decodeArgs(current, command.args ?? []);
        state.subscription = current.connection.stream(required(command, "target"), ...args).subscribe({
            next: (item) => {
                state.all.push(item);
                state.items.push(item);
            },
            complete: () => finish(null),
            error: (error) => finish(errorText(error)),
        });
        return null;
    },

    async streamNext(command) {
        const state = stream(command);
        return await state.items.take(required(command, "timeoutMs"), `an item of stream ${command.stream}`);
    },

    async streamEnd(command) {
        const state = stream(command);
        if (state.result !== undefined) {
            return state.result;
        }
        return await state.end.take(required(command, "timeoutMs"), `the end of stream ${command.stream}`);
    },

    async streamDispose(command) {
        stream(command).subscription.dispose();
        return null;
    },

    async subject(command) {
        const current = session(command.name);
        current.subjects.set(required(command, "subject"), new signalR.Subject());
        return null;
    },

    async subjectNext(command) {
        const target = subject(command);
        for (const item of required(command, "items")) {
            target.next(decodeValue(session(command.name), item));
        }
        return null;
    },

    async subjectComplete(command) {
        subject(command).complete();
        return null;
    },

    async subjectError(command) {
        subject(command).error(new Error(required(command, "message")));
        return null;
    },

    async invokeStart(command) {
        const current = session(command.name);
        const name = required(command, "call");
        const args = decodeArgs(current, command.args ?? []);
        current.calls.set(name, settle(current.connection.invoke(required(command, "target"), ...args)));
        return null;
    },

    async callResult(command) {
        const call = session(command.name).calls.get(required(command, "call"));
        if (!call) {
            throw new Error(`No call named ${JSON.stringify(command.call)}`);
        }
        const outcome = await withTimeout(call, required(command, "timeoutMs"), `call ${command.call}`);
        if (!outcome.ok) {
            throw new Error(outcome.error);
        }
        return outcome.result;
    },

    async invokeMany(command) {
        const current = session(command.name);
        const started = Date.now();
        const finished = [];
        await Promise.all(
            required(command, "calls").map((call, index) =>
                settle(current.connection.invoke(call.target, ...decodeArgs(current, call.args ?? []))).then(
                    (outcome) => finished.push({ index, ms: Date.now() - started, ...outcome }),
                ),
            ),
        );
        return finished;
    },

    async handle(command) {
        const current = session(command.name);
        const target = required(command, "target");
        const kind = required(command, "kind");
        const queue = current.queue(target);
        current.connection.off(target);
        if (kind === "none") {
            return null;
        }
        if (!["value", "throw", "undefined", "hang"].includes(kind)) {
            throw new Error(`Unknown handler kind ${kind}`);
        }
        current.connection.on(target, async (...args) => {
            queue.push(args);
            if (command.delayMs) {
                await new Promise((resolve) => setTimeout(resolve, command.delayMs));
            }
            switch (kind) {
                case "value":
                    return command.value ?? null;
                case "throw":
                    throw new Error(command.message);
                case "hang":
                    return await new Promise(() => {});
                default:
                    return undefined;
            }
        });
        return null;
    },

    async sendMany(command) {
        const { connection } = session(command.name);
        const target = required(command, "target");
        const start = required(command, "start");
        const sends = [];
        for (let number = start; number < start + required(command, "count"); number++) {
            sends.push(connection.send(target, number, ...(command.args ?? [])));
        }
        await Promise.all(sends);
        return null;
    },

    async events(command) {
        return session(command.name).events.drain();
    },

    async socketOpen(command) {
        const socket = session(command.name).connection.connection.transport?._webSocket;
        return socket !== undefined && socket.readyState === 1;
    },

    async socketUrl(command) {
        return session(command.name).connection.connection.transport?._webSocket?.url ?? null;
    },

    async features(command) {
        const features = session(command.name).connection.connection.features;
        return { reconnect: features.reconnect === true };
    },
};

function stream(command) {
    const state = session(command.name).streams.get(required(command, "stream"));
    if (!state) {
        throw new Error(`No stream named ${JSON.stringify(command.stream)}`);
    }
    return state;
}

function subject(command) {
    const found = session(command.name).subjects.get(required(command, "subject"));
    if (!found) {
        throw new Error(`No subject named ${JSON.stringify(command.subject)}`);
    }
    return found;
}

function errorText(error) {
    return error instanceof Error ? error.message : String(error);
}

// An invoke's outcome, never rejecting: {ok: true, result} | {ok: false, error}.
function settle(promise) {
    return promise.then(
        (result) => ({ ok: true, result }),
        (error) => ({ ok: false, error: errorText(error) }),
    );
}

function withTimeout(promise, timeoutMs, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// {"$bytes": base64} -> Uint8Array, {"$subject": name} -> that Subject; anything else as is.
function decodeValue(current, value) {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        const keys = Object.keys(value);
        if (keys.length === 1 && keys[0] === "$bytes") {
            return new Uint8Array(Buffer.from(value.$bytes, "base64"));
        }
        if (keys.length === 1 && keys[0] === "$subject") {
            const found = current.subjects.get(value.$subject);
            if (!found) {
                throw new Error(`No subject named ${JSON.stringify(value.$subject)}`);
            }
            return found;
        }
    }
    return value;
}

function decodeArgs(current, args) {
    return args.map((value) => decodeValue(current, value));
}

// Binary values (MessagePack bin) become {"$bytes": "<base64>"}; Dates already are ISO strings.
function encodeValue(key, value) {
    if (value instanceof Uint8Array) {
        return { $bytes: Buffer.from(value).toString("base64") };
    }
    return value;
}

function answer(reply) {
    process.stdout.write(JSON.stringify(reply, encodeValue) + "\n");
}

async function run(line) {
    let command;
    try {
        command = JSON.parse(line);
    } catch (error) {
        answer({ id: null, ok: false, error: `Bad JSON: ${error.message}` });
        return;
    }
    const id = command.id ?? null;
    try {
        const handler = commands[command.cmd];
        if (!handler) {
            throw new Error(`Unknown command ${JSON.stringify(command.cmd)}`);
        }
        const result = await handler(command);
        // An undefined result (e.g. a Completion without "result") is sent without the key.
        answer(result === undefined ? { id, ok: true } : { id, ok: true, result });
    } catch (error) {
        answer({ id, ok: false, error: error instanceof Error ? error.message : String(error) });
    }
}

async function shutdown() {
    const stopping = [...sessions.values()].map((current) => current.connection.stop().catch(() => {}));
    sessions.clear();
    // Never linger: a stop that hangs must not keep the process alive.
    await Promise.race([Promise.all(stopping), new Promise((resolve) => setTimeout(resolve, 2000))]);
    process.exit(0);
}

process.on("unhandledRejection", (reason) => {
    process.stderr.write(`[driver] unhandled rejection: ${reason instanceof Error ? reason.stack : reason}\n`);
});

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
    if (line.trim()) {
        run(line);
    }
});
lines.on("close", shutdown);
