import { Command } from 'commander';

const program = new Command();
program.name('tidemark').description('Checkpoint storage for Spark Structured Streaming on GCS').showHelpAfterError();

await program.parseAsync(process.argv);
