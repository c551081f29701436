// How the agent's Node.js process is started, wherever it is started (systemd unit, hactl dev,
// tests). Measured with 20 service sets: ~100 MB RSS with Node's defaults, ~75 MB with these.
// The young generation is kept small (the agent allocates little and often), V8 gets one
// background thread, and libuv two threads (the agent's file I/O is small and rare).
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1'];
export const AGENT_ENV = { UV_THREADPOOL_SIZE: '2' };
