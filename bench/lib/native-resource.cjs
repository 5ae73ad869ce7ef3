// The floor under the SDK's share, on keep-alive and under churn (figure 8, stated): one more
// kind of native async resource than the bare server makes, here an event-loop delay histogram
// (socklife makes one, and reads /proc files through fs.promises). With the SDK's
// AsyncLocalStorage on Node 20, the async_hooks init that puts its store on every native
// resource then sees one more shape, and its store turns megamorphic for every resource after it.
'use strict';
const { monitorEventLoopDelay } = require('node:perf_hooks');

monitorEventLoopDelay({ resolution: 20 }).enable();
