// Stands for "your application" (app.mjs) in a README command block marked with
// stub=...: it says whether socklife/register started socklife before it, and with what options.
// instrument() returns the running instrumentation when there is one, whatever it is given.
import { instrument } from 'socklife';

const MARK = 4321;
const handle = instrument({ pollIntervalMs: MARK });
if (handle.options.pollIntervalMs === MARK) {
  console.log('socklife was not running: socklife/register did not start it');
  process.exitCode = 1;
} else {
  const { tracerProvider: _tracerProvider, meterProvider: _meterProvider, ...options } = handle.options;
  console.log(`socklife/register started socklife (source ${handle.source}): ${JSON.stringify(options)}`);
}
handle.stop();
