/**
 * `node --require socklife/register app.js` or `node --import socklife/register app.js`:
 * starts socklife with options from `SOCKLIFE_*` environment variables. It never stops the
 * application from starting: a bad variable is warned about, any other failure is logged.
 */
import { diag } from '@opentelemetry/api';
import { optionsFromEnv } from './config.js';
import { start } from './instrument.js';

try {
  start('drop-in', optionsFromEnv());
} catch (error) {
  diag.error('socklife: could not start', error);
}
