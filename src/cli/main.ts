#!/usr/bin/env node
import { Command } from 'commander';
import { register as registerController } from './controller.js';
import { register as registerEmulator } from './emulator.js';
import { register as registerGc } from './gc.js';

// Each command lives in its own module under src/cli/ and registers itself here.
const program = new Command();
program
  .name('tidemark')
  .description('Checkpoint storage for Spark Structured Streaming on GCS')
  .showHelpAfterError()
  .exitOverride((err) => {
    process.exit(err.exitCode);
  });
registerController(program);
registerEmulator(program);
registerGc(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  console.error(`tidemark: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
