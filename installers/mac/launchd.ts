// The agent's LaunchDaemon property list (installed root:wheel 0644 in /Library/LaunchDaemons).
import { build } from 'plist';
import { CONFIG_FILE, LAUNCHER, LOG_FILE } from './layout.js';

export function launchDaemonPlist(label: string): string {
  return build({
    Label: label,
    ProgramArguments: [LAUNCHER, 'service', '--config', CONFIG_FILE],
    RunAtLoad: true,
    KeepAlive: { SuccessfulExit: false },
    ThrottleInterval: 30,
    ProcessType: 'Background',
    StandardOutPath: LOG_FILE,
    StandardErrorPath: LOG_FILE,
  });
}
