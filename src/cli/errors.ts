// Argument errors are one clear line (design §6): `tidemark <command>: <what is wrong> (see tidemark <command>
// --help)`, never the command's whole help. Commander writes its own messages as "error: ...", sometimes with a
// suggestion on a second line ("(Did you mean --concurrency?)"); both end up on one line.
import type { Command } from 'commander';

/** One line (no trailing newline) from a message that may span several. */
export function oneLine(text: string): string {
  return text
    .replace(/^error:\s*/i, '')
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .join(' ');
}

function fullName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Makes `program` and every command registered on it report argument errors as one line. Call it after every
 * command is registered (settings are per command).
 */
export function oneLineErrors(program: Command): void {
  const visit = (cmd: Command) => {
    const name = fullName(cmd);
    cmd.showHelpAfterError(false).configureOutput({
      outputError: (str, write) => write(`${name}: ${oneLine(str)} (see ${name} --help)\n`),
    });
    for (const sub of cmd.commands) visit(sub);
  };
  visit(program);
}
