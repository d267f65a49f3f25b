// The agent's LaunchDaemon property list (installed root:wheel 0644 in /Library/LaunchDaemons).
import { build } from 'plist';
import { CONFIG_FILE, LAUNCHER, LOG_FILE, STDERR_LOG_FILE } from './layout.js';

export function launchDaemonPlist(label: string): string {
  return build({
    Label: label,
    // The agent writes and rotates LOG_FILE itself (as on Windows); launchd's redirection only catches what the
    // runtime prints outside the agent's log (a crash), which a file renamed by rotation must not swallow.
    ProgramArguments: [LAUNCHER, 'service', '--config', CONFIG_FILE, '--log', LOG_FILE],
    RunAtLoad: true,
    KeepAlive: { SuccessfulExit: false },
    ThrottleInterval: 30,
    ProcessType: 'Background',
    StandardOutPath: STDERR_LOG_FILE,
    StandardErrorPath: STDERR_LOG_FILE,
  });
}
