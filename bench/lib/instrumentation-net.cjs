// @opentelemetry/instrumentation-net, registered the documented way. Preload after sdk.cjs.
'use strict';
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { NetInstrumentation } = require('@opentelemetry/instrumentation-net');

registerInstrumentations({ instrumentations: [new NetInstrumentation()] });
